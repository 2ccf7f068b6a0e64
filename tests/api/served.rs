//! The real binary, serving: started on a free port with its stderr appended to a file,
//! ready once `/health/ready` answers 200, then stopped with SIGTERM (its log returned) or
//! killed with SIGKILL. The one way tests run `ai-service` as a server; one-shot commands
//! (`migrate`, `user create`, `backup`) run through `std::process::Command` directly.

use crate::helpers::{JWT_SECRET, MASTER_KEY, eventually};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How the binary is started: the defaults of every serving test (test secrets, a free
/// port, `RUST_LOG=warn`, no `APP_CONFIG`), changed per test before [`Launch::start`].
pub struct Launch {
    command: Command,
    port: u16,
    log: PathBuf,
}

impl Launch {
    /// The binary on `database_url`, its stderr appended to `log` (a restart keeps adding
    /// to the same file, so a test reads both lives in one place).
    pub fn new(database_url: &str, log: &Path) -> Self {
        let port = crate::helpers::free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ai-service"));
        command
            .env_remove("APP_CONFIG")
            .env("DATABASE_URL", database_url)
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .env("APP__AUTH__JWT_SECRET", JWT_SECRET)
            .env("APP__SECURITY__MASTER_KEY", MASTER_KEY)
            .stdout(Stdio::null());
        Self {
            command,
            port,
            log: log.to_owned(),
        }
    }

    /// Sets (or replaces) each variable of `env`.
    pub fn envs(mut self, env: &[(&str, &str)]) -> Self {
        self.command.envs(env.iter().copied());
        self
    }

    /// Leaves `name` unset, e.g. `RUST_LOG` to run at the shipped default level.
    pub fn without(mut self, name: &str) -> Self {
        self.command.env_remove(name);
        self
    }

    /// Runs in `dir` (where a relative `./data` and `config.toml` would be looked for).
    pub fn in_dir(mut self, dir: &Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Spawns the binary and waits (up to 30 s) until it is ready; panics with its log if it
    /// exits or never gets there.
    pub async fn start(mut self) -> Served {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = self
            .command
            .stderr(stderr)
            .spawn()
            .expect("spawn ai-service");
        let mut served = Served {
            child,
            base: format!("http://127.0.0.1:{}", self.port),
            client: ai_service::adapters::http_client::builder()
                .build()
                .expect("client"),
            log: self.log,
        };
        let (client, base) = (served.client.clone(), served.base.clone());
        let child = &mut served.child;
        let log = &served.log;
        eventually(Duration::from_secs(30), "the server ready", || {
            let exited = child.try_wait().expect("try_wait");
            let (client, base) = (client.clone(), base.clone());
            async move {
                if let Some(status) = exited {
                    panic!(
                        "the server exited ({status}): {}",
                        std::fs::read_to_string(log).unwrap_or_default()
                    );
                }
                match client.get(format!("{base}/health/ready")).send().await {
                    Ok(r) if r.status() == 200 => Ok(()),
                    Ok(r) => Err(r.status().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        served
    }
}

/// A running binary; killed when dropped, so a failing test leaves no server behind.
pub struct Served {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    log: PathBuf,
}

impl Served {
    /// SIGTERM, then waits for the exit: the graceful path, which writes what is queued for
    /// the log and the audit before the process ends. Returns everything logged so far.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).expect("log")
    }

    /// SIGKILL: the process dies wherever it is, with nothing flushed.
    pub fn kill_9(mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

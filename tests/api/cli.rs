//! The binary's subcommands, run as a user would.

use std::process::Command;

fn ai_service() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ai-service"));
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "PORT",
        "HOST",
        "APP_CONFIG",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    c
}

/// Runs `ai-service user create` against `database_url`, typing `password` on stdin.
pub fn user_create(
    database_url: &str,
    username: &str,
    role: &str,
    password: &str,
) -> std::process::Output {
    use std::io::Write as _;
    let mut child = ai_service()
        .args(["user", "create", "--username", username, "--role", role])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write");
    child.wait_with_output().expect("wait")
}

#[test]
fn config_check_validates_and_masks_secrets() {
    let out = ai_service()
        .args(["config", "check"])
        .env("DATABASE_URL", "postgres://app:hunter2@db:5432/ai")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("configuration OK"), "{stdout}");
    assert!(stdout.contains("app:***@db"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

#[test]
fn a_bad_config_exits_2_naming_the_key() {
    let out = ai_service()
        .args(["config", "check"])
        .env("APP__SERVER__PORT", "-1")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.port"), "{stderr}");

    // `serve` refuses to boot on the same error, before binding anything.
    let out = ai_service()
        .env("APP__TELEMETRY__LOG_FORMAT", "xml")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("telemetry.log_format"));

    // Bound beyond loopback without real keys: refused as a configuration error.
    let out = ai_service()
        .env("HOST", "0.0.0.0")
        .env("PORT", "0")
        .env("APP__AUTH__JWT_SECRET", "change-me-to-48-random-characters")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.jwt_secret"));
}

#[test]
fn openapi_prints_the_committed_spec() {
    let out = ai_service().arg("openapi").output().expect("run");
    assert!(out.status.success());
    let printed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON on stdout, nothing else");
    assert_eq!(
        printed,
        serde_json::to_value(ai_service::api::openapi()).expect("spec")
    );
}

#[actix_web::test]
async fn user_create_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/data/cli.db", dir.path().display());
    let out = user_create(&url, "owner", "admin", "a-long-enough-password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user owner"));

    let db = ai_service::db::Db::connect(&crate::helpers::test_settings(&url).database)
        .await
        .expect("connect");
    let user = ai_service::db::users::by_username(&db, "owner")
        .await
        .expect("query")
        .expect("user exists");
    assert_eq!(user.role, "admin");
    assert!(!user.password_hash.contains("a-long-enough-password"));
    let ok = ai_service::auth::password::Passwords::new(&Default::default())
        .verify(
            secrecy::SecretString::from("a-long-enough-password".to_owned()),
            Some(user.password_hash),
        )
        .await
        .expect("a hashing slot");
    assert!(ok, "the stored hash verifies the password");
    db.close().await;

    // Too short a password is refused with a clear message.
    let again = user_create(&url, "owner", "viewer", "another-long-password");
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");

    let out = user_create(&url, "short", "viewer", "short");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
}

#[actix_web::test]
async fn telegram_link_binds_a_telegram_user_headlessly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/data/cli.db", dir.path().display());
    assert!(
        user_create(&url, "owner", "trader", "a-long-enough-password")
            .status
            .success()
    );
    let run = |name: &str| {
        ai_service()
            .args([
                "telegram",
                "link",
                "--username",
                name,
                "--telegram-user-id",
                "123456789",
            ])
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run")
    };
    let out = run("owner");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("linked Telegram user 123456789 to owner")
    );
    let missing = run("nobody");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user named `nobody`"));
    let db = ai_service::db::Db::connect(&crate::helpers::test_settings(&url).database)
        .await
        .expect("connect");
    let link = ai_service::telegram::store::link_of(&db, 123_456_789)
        .await
        .expect("query")
        .expect("linked");
    assert_eq!(
        (link.username.as_str(), link.role.as_str(), link.chat_id),
        ("owner", "trader", 123_456_789)
    );
    db.close().await;
}

/// A port already taken (another instance): the service says so and exits 1 before starting
/// anything. Bound after the actors and pools had started, the error dropped their database
/// connections after the runtime was gone, which panicked on the way out (and could abort).
#[test]
fn a_port_in_use_is_refused_cleanly_before_anything_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ai_service()
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/data/port.db", dir.path().display()),
        )
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot bind 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !dir.path().join("data/port.db").exists(),
        "nothing was started: no database was created"
    );
}

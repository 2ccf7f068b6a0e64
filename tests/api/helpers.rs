//! Spawning the app on port 0 with a fresh database, and the services it needs.

use ai_service::config::{Secret, SecretUrl, Settings};
use ai_service::startup::{Application, StopHandle};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod <scenario> { sqlite(), postgres() }` running `scenario(Backend)` on each.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use $crate::helpers::Backend;
            #[actix_web::test]
            async fn sqlite() {
                super::$scenario(Backend::Sqlite).await;
            }
            #[actix_web::test]
            async fn postgres() {
                if $crate::helpers::postgres_available().await {
                    super::$scenario(Backend::Postgres).await;
                }
            }
        }
    )+};
}

/// `SKIP_SERVICES=1` lets a machine without Postgres/Redis skip those tests (each says so).
/// Without it a missing service fails the test with how to start it: a run cannot pass by
/// skipping unnoticed (CI never sets it).
fn skip_services() -> bool {
    std::env::var("SKIP_SERVICES").is_ok_and(|v| v == "1" || v == "true")
}

pub fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// True when Postgres answers; a missing server fails the test unless `SKIP_SERVICES=1`.
pub async fn postgres_available() -> bool {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(&pg_admin_url()).await {
        Ok(c) => {
            let _ = c.close().await;
            true
        }
        Err(e) if skip_services() => {
            eprintln!("SKIPPED (SKIP_SERVICES=1; Postgres unreachable: {e})");
            false
        }
        Err(e) => panic!(
            "Postgres at {} is unreachable: {e}\n\
             Start it (Debian: `pg_ctlcluster 15 main start`, or `bash .ci/run` starts it), point \
             TEST_DATABASE_URL at one, or set SKIP_SERVICES=1 to skip these tests.",
            pg_admin_url()
        ),
    }
}

pub async fn redis_available() -> bool {
    let attempt = async {
        let client = ::redis::Client::open(redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        ::redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Ok(_)) => true,
        other if skip_services() => {
            eprintln!("SKIPPED (SKIP_SERVICES=1; Redis unreachable: {other:?})");
            false
        }
        other => panic!(
            "Redis at {} is unreachable: {other:?}\n\
             Start it (`redis-server --daemonize yes`, or `bash .ci/run` starts it), point \
             TEST_REDIS_URL at one, or set SKIP_SERVICES=1 to skip these tests.",
            redis_url()
        ),
    }
}

/// A database that exists for one test only.
pub enum TestDb {
    Sqlite { dir: tempfile::TempDir, url: String },
    Postgres { name: String, url: String },
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}/data/test.db", dir.path().display());
                Self::Sqlite { dir, url }
            }
            Backend::Postgres => {
                use sqlx::{Connection, Executor};
                let name = format!("test_{}", uuid::Uuid::now_v7().simple());
                let mut admin = sqlx::PgConnection::connect(&pg_admin_url())
                    .await
                    .expect("postgres admin");
                admin
                    .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                    .await
                    .expect("create db");
                let _ = admin.close().await;
                let mut url = url::Url::parse(&pg_admin_url()).expect("TEST_DATABASE_URL");
                url.set_path(&format!("/{name}"));
                Self::Postgres {
                    name,
                    url: url.to_string(),
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    pub fn sqlite_dir(&self) -> Option<&std::path::Path> {
        match self {
            Self::Sqlite { dir, .. } => Some(dir.path()),
            Self::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres { name, .. } = self {
            let name = name.clone();
            // Drop runs outside async: a short-lived runtime on its own thread does the cleanup.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    use sqlx::{Connection, Executor};
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                        let _ = admin
                            .execute(
                                format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)
                                    .as_str(),
                            )
                            .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Settings for a test app: port 0, fast retries, the given database.
pub fn test_settings(database_url: &str) -> Settings {
    let mut s = Settings::default();
    s.server.port = 0;
    s.server.workers = 1;
    s.server.shutdown_timeout_secs = 2;
    // Many apps share one test process: paging its code out after each start only slows them.
    s.server.release_startup_code = false;
    s.database.url = SecretUrl::new(database_url);
    s.database.retry_initial_ms = 50;
    s.database.retry_max_ms = 200;
    s.database.boot_wait_ms = 3_000;
    // A small pool finds connection hogs (idle dispatchers once held all 4 during an import);
    // the product's 5 s acquire, as 2 s gave 503s on a machine at load 12.
    s.database.acquire_timeout_secs = 5;
    s.database.health_timeout_ms = 1_000;
    s.database.max_connections = 4;
    s.redis.retry_initial_ms = 50;
    s.redis.retry_max_ms = 200;
    s.redis.health_timeout_ms = 1_000;
    s.auth.jwt_secret = Secret::new(JWT_SECRET);
    s.security.master_key = Secret::new(MASTER_KEY);
    // Generous limits; the rate-limit test sets its own.
    s.rate_limit.per_ip_per_minute = 100_000;
    s.rate_limit.per_credential_per_minute = 100_000;
    s.rate_limit.login_per_minute = 100_000;
    // Never the real Binance: tests that use it point these at their fake.
    s.trading.binance.testnet_url = "http://127.0.0.1:9".to_owned();
    s.trading.binance.live_url = "http://127.0.0.1:9".to_owned();
    s
}

pub const JWT_SECRET: &str = "test-signing-key-0123456789-abcdefghijklmnop";
/// base64 of 32 bytes.
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    stop: Option<StopHandle>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    /// Kept so the database outlives the app.
    pub db: Option<TestDb>,
    audit: ai_service::audit::Audit,
}

impl TestApp {
    /// A fresh database on `backend` and an app on it.
    pub async fn spawn(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let mut app = Self::with_settings(test_settings(db.url())).await;
        app.db = Some(db);
        app
    }

    pub async fn with_settings(settings: Settings) -> Self {
        let mut app = Application::build(settings).await.expect("app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let stop = app.stop_handle();
        let audit = app.audit();
        let task = actix_web::rt::spawn(app.run_until_stopped());
        let client = ai_service::adapters::http_client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Self {
            address,
            client,
            stop,
            task: Some(task),
            db: None,
            audit,
        }
    }

    /// Waits until every audit event recorded so far is in the database.
    pub async fn flush_audit(&self) {
        self.audit.flush().await;
    }

    /// Creates a user straight in the database; returns its password.
    pub async fn create_user(&self, username: &str, role: &str) -> String {
        let password = format!("pw-{username}-0123456789");
        let url = self.db.as_ref().expect("test db").url().to_owned();
        let db = ai_service::db::Db::connect(&test_settings(&url).database)
            .await
            .expect("connect");
        let hash = ai_service::auth::password::Passwords::new(&Default::default())
            .hash(secrecy::SecretString::from(password.clone()))
            .await
            .expect("hash");
        ai_service::db::users::insert(&db, username, &hash, role)
            .await
            .expect("insert user");
        db.close().await;
        password
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/auth/login", self.address))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    /// A user with `role` and its access token.
    pub async fn token_for(&self, role: &str) -> String {
        let name = format!("{role}-user");
        let pw = self.create_user(&name, role).await;
        let res = self.login(&name, &pw).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A new viewer API key made by `admin`: its id and secret.
    pub async fn viewer_key(&self, admin: &str, name: &str) -> (String, String) {
        let res = self
            .call(
                "POST",
                "/v1/api-keys",
                Some(admin),
                Some(serde_json::json!({"name": name, "role": "viewer"})),
            )
            .await;
        assert_eq!(res.status(), 201);
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(
            body["last_used_at"],
            serde_json::Value::Null,
            "never used yet"
        );
        (
            body["id"].as_str().expect("id").to_owned(),
            body["secret"].as_str().expect("secret").to_owned(),
        )
    }

    /// The status `GET /v1/auth/me` answers with `credential`.
    pub async fn me_status(&self, credential: &str) -> u16 {
        self.call("GET", "/v1/auth/me", Some(credential), None)
            .await
            .status()
            .as_u16()
    }

    /// `method` `path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    /// Polls `/health/ready` until it answers `status` (10 s at most); returns the body.
    pub async fn wait_ready_status(&self, status: u16) -> serde_json::Value {
        eventually(
            Duration::from_secs(10),
            &format!("/health/ready answering {status}"),
            || async {
                let res = self.get("/health/ready").await;
                let code = res.status().as_u16();
                let body: serde_json::Value = res.json().await.expect("json");
                if code == status {
                    Ok(body)
                } else {
                    Err((code, body))
                }
            },
        )
        .await
    }

    /// Graceful shutdown, as on SIGTERM.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.stop();
        }
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("clean shutdown");
        }
    }
}

/// A TCP forwarder to stand in for a database that can vanish and come back.
pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// A loopback port nothing listens on (free when asked; a process started on it binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Proxy {
    /// Reserves a port with nothing listening on it yet.
    pub async fn reserve(target: SocketAddr) -> Self {
        Self {
            port: free_port(),
            target,
            tasks: Arc::default(),
        }
    }

    pub async fn start(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("proxy bind");
        let target = self.target;
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn);
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(accept);
    }

    /// Stops listening and cuts every open connection.
    pub async fn kill(&self) {
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            t.abort();
        }
    }
}

/// host:port of the Postgres behind `TEST_DATABASE_URL`.
pub fn pg_socket() -> SocketAddr {
    use std::net::ToSocketAddrs;
    let url = url::Url::parse(&pg_admin_url()).expect("url");
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(5432);
    (host.as_str(), port)
        .to_socket_addrs()
        .expect("resolve")
        .next()
        .expect("address")
}

/// Polls `check` every 50 ms until it returns `Ok`, and returns that value. After `timeout`
/// it panics naming `what` and the last `Err` (the state the test was waiting to leave). The
/// one way tests wait for something that happens in the background: on a condition, never on
/// a fixed sleep.
pub async fn eventually<T, E, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if std::time::Instant::now() >= deadline => {
                panic!("waited {timeout:?} for {what}; last: {last:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

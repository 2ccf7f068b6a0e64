//! The real binary killed with SIGKILL in the middle of writing a 100k-row import, then
//! started again: the import's job completes by itself (no lock left behind to wait out, no
//! attempt burnt on one), with exactly the file's rows, and a re-import adds none. And killed
//! while strategies trade (on SQLite, order writes commit on the strategies' own threads):
//! after the restart no fill is lost or counted twice and no position overshoots.

use crate::helpers::{Backend, TestDb, eventually};
use crate::on_both_backends;
use crate::served::{Launch, Served};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    kill_9_mid_import_then_restart_completes_exactly,
    kill_9_while_trading_loses_no_fill_and_counts_none_twice
);

const ROWS: usize = 100_000;

/// The binary with the crash-admin's calls; rate limits off for the 100k-row upload's polls.
struct Server(Served);

impl std::ops::Deref for Server {
    type Target = Served;
    fn deref(&self) -> &Served {
        &self.0
    }
}

impl Server {
    async fn start(url: &str, log: &std::path::Path) -> Self {
        Self::start_with(url, log, &[]).await
    }

    /// The shipped lease (60 s) is kept: the restarted process sees that the lease's owner
    /// on this host is gone and re-queues the job at once.
    async fn start_with(url: &str, log: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let served = Launch::new(url, log)
            .envs(&[
                ("APP__RATE_LIMIT__PER_IP_PER_MINUTE", "100000"),
                ("APP__RATE_LIMIT__PER_CREDENTIAL_PER_MINUTE", "100000"),
            ])
            .envs(env)
            .start()
            .await;
        Self(served)
    }

    async fn token(&self) -> String {
        let login: Value = self
            .client
            .post(format!("{}/v1/auth/login", self.base))
            .json(&json!({"username": "crash-admin", "password": "the-admin-password-1"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        login["access_token"].as_str().expect("token").to_owned()
    }

    async fn call(&self, token: &str, method: reqwest::Method, path: &str) -> Value {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    async fn upload(&self, token: &str, account: &str, profile: &str, csv: &[u8]) -> String {
        let form = reqwest::multipart::Form::new()
            .text("account_id", account.to_owned())
            .text("profile_id", profile.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.to_vec()).file_name("big.csv"),
            );
        let res = self
            .client
            .post(format!("{}/v1/financial/imports", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status(), 202);
        let body: Value = res.json().await.expect("json");
        body["import_id"].as_str().expect("import id").to_owned()
    }

    fn kill_9(self) {
        self.0.kill_9();
    }
}

/// [`eventually`] for conditions written as `Option`s: `Some` once `f` yields a value; it
/// panics (naming the timeout) if that never happens.
async fn wait_for<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let value = eventually(timeout, "the awaited condition", || {
        let next = f();
        async move { next.await.ok_or("not yet") }
    })
    .await;
    Some(value)
}

fn big_csv() -> Vec<u8> {
    let mut csv = String::from("date,description,amount\n");
    for n in 0..ROWS {
        let day = 1 + n % 28;
        let month = 1 + (n / 28) % 12;
        csv.push_str(&format!(
            "2025-{month:02}-{day:02},shop {n},-{}.{:02}\n",
            n % 500,
            n % 100
        ));
    }
    csv.into_bytes()
}

/// A fresh database with the admin the servers log in as, and a directory for their log.
async fn with_admin(backend: Backend) -> (TestDb, tempfile::TempDir, std::path::PathBuf) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let created = crate::cli::user_create(db.url(), "crash-admin", "admin", "the-admin-password-1");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    (db, dir, log)
}

async fn kill_9_mid_import_then_restart_completes_exactly(backend: Backend) {
    let (db, _dir, log) = with_admin(backend).await;
    let csv = big_csv();

    let first = Server::start(db.url(), &log).await;
    let token = first.token().await;
    let account: Value = first
        .client
        .post(format!("{}/v1/financial/accounts", first.base))
        .bearer_auth(&token)
        .json(&json!({"name": "Big", "account_type": "checking", "currency": "EUR"}))
        .send()
        .await
        .expect("account")
        .json()
        .await
        .expect("json");
    let account = account["id"].as_str().expect("account id").to_owned();
    let profile: Value = first
        .client
        .post(format!("{}/v1/financial/csv-profiles", first.base))
        .bearer_auth(&token)
        .json(&json!({"name": "plain", "profile": {
            "columns": {"date": "date", "description": "description", "amount": "amount"}}}))
        .send()
        .await
        .expect("profile")
        .json()
        .await
        .expect("json");
    let profile = profile["id"].as_str().expect("profile id").to_owned();
    let import = first.upload(&token, &account, &profile, &csv).await;
    let job = first
        .call(
            &token,
            reqwest::Method::GET,
            &format!("/v1/financial/imports/{import}"),
        )
        .await["job_id"]
        .as_str()
        .expect("job id")
        .to_owned();
    // Kill it once the job has parsed the file and is writing rows.
    let writing = wait_for(Duration::from_secs(120), || async {
        let j = first
            .call(&token, reqwest::Method::GET, &format!("/v1/jobs/{job}"))
            .await;
        (j["state"] == "active" && j["progress"].as_i64().unwrap_or(0) >= 20).then_some(())
    })
    .await;
    assert!(writing.is_some(), "the import started writing");
    first.kill_9();
    let db_conn = ai_service::db::Db::connect(&crate::helpers::test_settings(db.url()).database)
        .await
        .expect("connect");
    let count = || async {
        db_conn
            .fetch_scalar::<i64>("SELECT COUNT(*) FROM fin_transactions")
            .await
            .expect("count")
    };
    assert_eq!(count().await, 0, "killed before its transaction committed");

    let second = Server::start(db.url(), &log).await;
    let token = second.token().await;
    let done = wait_for(Duration::from_secs(300), || async {
        let i = second
            .call(
                &token,
                reqwest::Method::GET,
                &format!("/v1/financial/imports/{import}"),
            )
            .await;
        matches!(i["status"].as_str(), Some("completed" | "failed")).then_some(i)
    })
    .await
    .expect("the import finished by itself after the restart");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["inserted"], ROWS as i64, "{done}");
    // The job acks just after the import's transaction commits.
    let job_row = wait_for(Duration::from_secs(30), || async {
        let j = second
            .call(&token, reqwest::Method::GET, &format!("/v1/jobs/{job}"))
            .await;
        (j["state"] != "active").then_some(j)
    })
    .await
    .expect("the job finished");
    assert_eq!(job_row["state"], "completed", "{job_row}");
    assert!(
        job_row["last_error"].is_null(),
        "a completed job shows no stale error: {job_row}"
    );

    let again = second.upload(&token, &account, &profile, &csv).await;
    let redo = wait_for(Duration::from_secs(300), || async {
        let i = second
            .call(
                &token,
                reqwest::Method::GET,
                &format!("/v1/financial/imports/{again}"),
            )
            .await;
        matches!(i["status"].as_str(), Some("completed" | "failed")).then_some(i)
    })
    .await
    .expect("re-import finished");
    assert_eq!(redo["status"], "completed", "{redo}");
    assert_eq!(redo["inserted"], 0, "{redo}");
    assert_eq!(redo["duplicates"], ROWS as i64, "{redo}");
    second.kill_9();
    assert_eq!(
        count().await,
        ROWS as i64,
        "exactly the file's rows are in the books"
    );
    db_conn.close().await;
}

const TRADERS: usize = 20;

/// Each buys 0.1 per order until it holds 0.3 (`trading_api::always_buy`): 60 orders in all,
/// and a restart must neither lose nor repeat one.
async fn kill_9_while_trading_loses_no_fill_and_counts_none_twice(backend: Backend) {
    use rust_decimal::Decimal;
    let (db, _dir, log) = with_admin(backend).await;
    let env = [("APP__TRADING__RESUME_ON_RESTART", "true")];
    let first = Server::start_with(db.url(), &log, &env).await;
    let token = first.token().await;
    let mut ids = Vec::new();
    for i in 0..TRADERS {
        let s: Value = first
            .client
            .post(format!("{}/v1/trading/strategies", first.base))
            .bearer_auth(&token)
            .json(&crate::trading_api::always_buy(&format!("crash-buyer-{i}")))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        ids.push(s["id"].as_str().expect("strategy id").to_owned());
    }
    for id in &ids {
        let res = first
            .client
            .post(format!("{}/v1/trading/deploy", first.base))
            .bearer_auth(&token)
            .json(&json!({"strategy_id": id}))
            .send()
            .await
            .expect("deploy");
        assert_eq!(res.status(), 202);
    }
    let db_conn = ai_service::db::Db::connect(&crate::helpers::test_settings(db.url()).database)
        .await
        .expect("connect");
    let fills = || async {
        db_conn
            .fetch_all::<(String, String, String)>(
                "SELECT strategy_id, client_order_id, qty FROM fills",
            )
            .await
            .expect("fills")
    };
    // Kill it in the middle: some orders filled, most still to come.
    let trading = wait_for(Duration::from_secs(60), || async {
        let n = fills().await.len();
        (n >= 5).then_some(n)
    })
    .await;
    assert!(trading.is_some(), "the strategies started trading");
    first.kill_9();
    let before = fills().await.len();
    assert!(
        before < TRADERS * 3,
        "killed before all {} orders filled ({before})",
        TRADERS * 3
    );

    let second = Server::start_with(db.url(), &log, &env).await;
    let full = Decimal::new(3, 1);
    let settled = wait_for(Duration::from_secs(60), || async {
        let positions = db_conn
            .fetch_all::<(String, String)>("SELECT strategy_id, qty FROM positions")
            .await
            .expect("positions");
        let pending = db_conn
            .fetch_scalar::<i64>("SELECT COUNT(*) FROM orders WHERE status IN ('pending_submit', 'open', 'partially_filled')")
            .await
            .expect("pending");
        let done = positions.len() == TRADERS
            && pending == 0
            && positions.iter().all(|(_, q)| q.parse::<Decimal>().expect("qty") >= full);
        done.then_some(positions)
    })
    .await
    .expect("every strategy reached its position after the restart");
    for (strategy, qty) in &settled {
        assert_eq!(
            qty.parse::<Decimal>().expect("qty"),
            full,
            "{strategy} holds exactly 0.3"
        );
    }
    let mut per_strategy = std::collections::HashMap::<String, Decimal>::new();
    let mut per_order = std::collections::HashMap::<String, Decimal>::new();
    for (strategy, order, qty) in fills().await {
        let q: Decimal = qty.parse().expect("fill qty");
        *per_strategy.entry(strategy).or_default() += q;
        *per_order.entry(order).or_default() += q;
    }
    assert_eq!(per_strategy.len(), TRADERS);
    for (strategy, sum) in &per_strategy {
        assert_eq!(*sum, full, "{strategy}: its fills add up to its position");
    }
    let orders = db_conn
        .fetch_all::<(String, String, String)>(
            "SELECT client_order_id, status, filled_qty FROM orders",
        )
        .await
        .expect("orders");
    for (order, status, filled) in &orders {
        let filled: Decimal = filled.parse().expect("filled qty");
        let sum = per_order.get(order).copied().unwrap_or_default();
        assert_eq!(
            filled, sum,
            "order {order} ({status}): filled_qty is the sum of its fills"
        );
    }
    if backend == Backend::Sqlite {
        let check = db_conn
            .fetch_scalar::<String>("PRAGMA integrity_check")
            .await
            .expect("integrity");
        assert_eq!(check, "ok");
    }
    drop(second);
    db_conn.close().await;
}

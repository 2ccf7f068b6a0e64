//! Writes under concurrency. On SQLite a deferred transaction that read before writing was
//! refused the write lock at once ("database is locked", 500) when another connection wrote
//! in between: 3 of 8 concurrent deploys, 41 of 200 concurrent uploads, and 9 of 48 serial
//! writes while 16 strategies traded. Now every write transaction takes the lock up front and
//! waits for it; an import and its job commit together; follow-up jobs commit with the rows.

use crate::finance_api::{account, plain_csv_profile, upload_csv};
use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::on_both_backends;
use crate::trading_api::{always_buy, create};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    concurrent_and_serial_writes_while_trading_never_fail,
    writers_of_every_kind_take_turns_and_none_fails
);

const CSV: &str = "date,description,amount\n2026-01-05,Coffee {n},-3.50\n2026-01-06,Salary {n},2000.00\n2026-02-07,Rent {n},-900.00\n";

async fn upload(app: &TestApp, token: &str, account: &str, profile: &str, n: usize) -> u16 {
    let csv = CSV.replace("{n}", &n.to_string()).into_bytes();
    upload_csv(app, token, account, profile, csv)
        .await
        .status()
        .as_u16()
}

async fn status_of(app: &TestApp, token: &str, method: &str, path: &str, body: Value) -> u16 {
    app.call(method, path, Some(token), Some(body))
        .await
        .status()
        .as_u16()
}

/// One write of each kind, `n` selecting the strategy/file/category.
async fn write(
    app: &TestApp,
    token: &str,
    kind: usize,
    n: usize,
    strategies: &[String],
    (acc, profile): (&str, &str),
) -> u16 {
    match kind {
        0 => {
            status_of(
                app,
                token,
                "POST",
                "/v1/trading/deploy",
                json!({"strategy_id": strategies[n]}),
            )
            .await
        }
        1 => upload(app, token, acc, profile, n).await,
        _ => {
            status_of(
                app,
                token,
                "POST",
                "/v1/financial/categories",
                json!({"name": format!("Category {n}"), "kind": "expense"}),
            )
            .await
        }
    }
}

async fn all_imports_done(app: &TestApp, token: &str) -> Vec<Value> {
    eventually(
        Duration::from_secs(30),
        "every import to finish",
        || async {
            let list: Value = app
                .call("GET", "/v1/financial/imports?limit=500", Some(token), None)
                .await
                .json()
                .await
                .expect("json");
            let rows = list.as_array().expect("imports").clone();
            let done = rows
                .iter()
                .all(|i| matches!(i["status"].as_str(), Some("completed" | "failed")));
            if done { Ok(rows) } else { Err(rows.len()) }
        },
    )
    .await
}

async fn concurrent_and_serial_writes_while_trading_never_fail(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    // The shipped pool size and two HTTP workers, as in production.
    settings.database.max_connections = 8;
    settings.server.workers = 2;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    let token = app.token_for("admin").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    let profile = plain_csv_profile(&app, &token).await;
    let mut strategies = Vec::new();
    for n in 0..48 {
        strategies.push(create(&app, &token, always_buy(&format!("s{n}"))).await);
    }

    // 48 at once: 16 deploys, 16 uploads, 16 category writes.
    let statuses = futures::future::join_all((0..48).map(|i| {
        let (app, token, strategies) = (&app, &token, &strategies);
        let (acc, profile) = (acc.as_str(), profile.as_str());
        async move { write(app, token, i % 3, i, strategies, (acc, profile)).await }
    }))
    .await;
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s >= 500).collect();
    assert!(failed.is_empty(), "5xx under concurrency: {statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 202)),
        "{statuses:?}"
    );

    // The same one at a time while the deployed strategies trade (16 live, 100 ms ticks).
    let mut serial = Vec::new();
    for i in 0..48 {
        // Strategies 48.. do not exist: deploy the ones not yet deployed, import, categorize.
        let n = 48 + i;
        let s = match i % 3 {
            0 => {
                status_of(
                    &app,
                    &token,
                    "POST",
                    "/v1/trading/deploy",
                    json!({"strategy_id": strategies[i / 3 * 3 + 1]}),
                )
                .await
            }
            kind => write(&app, &token, kind, n, &strategies, (&acc, &profile)).await,
        };
        serial.push(s);
    }
    assert!(
        serial.iter().all(|s| matches!(s, 201 | 202)),
        "serial writes while trading: {serial:?}"
    );

    // Every import has its job and finished; every import that wrote rows got its
    // auto_categorize job.
    let imports = all_imports_done(&app, &token).await;
    assert_eq!(imports.len(), 32);
    let mut wrote = 0;
    for i in &imports {
        assert!(i["job_id"].is_string(), "import without a job: {i}");
        assert_eq!(i["status"], "completed", "{i}");
        if i["inserted"].as_i64().unwrap_or(0) > 0 {
            wrote += 1;
        }
    }
    let jobs: Value = app
        .call(
            "GET",
            "/v1/jobs?queue=finance&limit=500",
            Some(&token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let categorize = jobs["items"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|j| j["name"] == "auto_categorize")
        .count();
    assert_eq!(
        categorize, wrote,
        "one auto_categorize per import that wrote"
    );

    // Their events (TransactionSynced, StrategyStateChanged, ...) were all published.
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let (failed, synced) = eventually(
        Duration::from_secs(10),
        "32 TransactionSynced published",
        || async {
            let counts = db
                .fetch_one::<(i64, i64)>(
                    "SELECT COALESCE(SUM(CASE WHEN last_error IS NOT NULL THEN 1 ELSE 0 END), 0), \
                     COALESCE(SUM(CASE WHEN event_type = 'TransactionSynced' AND published_at IS NOT NULL THEN 1 ELSE 0 END), 0) \
                     FROM outbox",
                )
                .await
                .expect("outbox");
            if counts.1 == 32 { Ok(counts) } else { Err(counts) }
        },
    )
    .await;
    assert_eq!(failed, 0, "no outbox row failed to publish");
    assert_eq!(synced, 32, "every import's TransactionSynced was published");
    db.close().await;
    app.stop().await;
}

/// 300 writers at once on a pool of 8, through every write path: autocommit `execute`, a
/// write transaction, and `write_turn` around a statement read back (the jobs store's
/// `UPDATE … RETURNING`). On SQLite they queue on the process's writer turn, not in SQLite's
/// busy handler; none fails and every write lands once.
async fn writers_of_every_kind_take_turns_and_none_fails(backend: Backend) {
    use ai_service::db::{Db, Sql};
    let test_db = TestDb::new(backend).await;
    let mut settings = test_settings(test_db.url());
    settings.database.max_connections = 8;
    let db = Db::connect(&settings.database).await.expect("connect");
    db.migrate().await.expect("migrate");
    db.execute("CREATE TABLE turn_test (n BIGINT PRIMARY KEY, via TEXT NOT NULL)")
        .await
        .expect("table");
    let results = futures::future::join_all((0..300_i64).map(|n| {
        let db = db.clone();
        async move {
            let insert = |via: &'static str| {
                Sql::new("INSERT INTO turn_test (n, via) VALUES ($1, $2)")
                    .bind(n)
                    .bind(via)
            };
            match n % 3 {
                0 => db.execute(insert("execute")).await.map(drop),
                1 => {
                    let mut tx = db.begin_write().await?;
                    // A read then a write in one transaction (the pattern SQLite refused
                    // before writes began IMMEDIATE).
                    let _: i64 = tx.fetch_scalar("SELECT COUNT(*) FROM turn_test").await?;
                    tx.execute(insert("tx")).await?;
                    tx.commit().await
                }
                _ => {
                    let _turn = db.write_turn().await?;
                    let sql = Sql::new(
                        "INSERT INTO turn_test (n, via) VALUES ($1, 'returning') RETURNING n",
                    )
                    .bind(n);
                    let back: Vec<(i64,)> = db.fetch_all(sql).await?;
                    assert_eq!(back, vec![(n,)]);
                    Ok(())
                }
            }
        }
    }))
    .await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} writes failed: {failed:?}",
        failed.len()
    );
    let count: i64 = db
        .fetch_scalar("SELECT COUNT(*) FROM turn_test")
        .await
        .expect("count");
    assert_eq!(count, 300);
}

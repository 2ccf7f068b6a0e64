//! An import's status says what happened to it. A database that refuses the rows (a trigger
//! stands in for a full disk) makes an attempt fail: the import shows `retrying` with that
//! attempt's error, then `completed` once the database accepts them (no stale error on the
//! import or its job), or `failed` once the job has used its attempts (it stayed `queued`).

use crate::finance_api::{account, get, plain_csv_profile, upload_csv};
use crate::helpers::{Backend, TestApp, eventually, test_settings};
use crate::on_both_backends;
use serde_json::Value;
use std::time::Duration;

on_both_backends!(an_import_shows_retrying_then_completed_or_failed);

const CSV: &str = "date,description,amount\n2026-03-01,Coffee {n},-3.50\n";

async fn refuse_rows(db: &ai_service::db::Db, on: bool) {
    use ai_service::config::Backend as Kind;
    let sql: &[&str] = match (db.backend(), on) {
        (Kind::Sqlite, true) => &[
            "CREATE TRIGGER refuse BEFORE INSERT ON fin_transactions BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END",
        ],
        (Kind::Sqlite, false) => &["DROP TRIGGER refuse"],
        (Kind::Postgres, true) => &[
            "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON fin_transactions FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
        (Kind::Postgres, false) => &["DROP TRIGGER refuse ON fin_transactions"],
    };
    for q in sql {
        db.execute(*q).await.expect(q);
    }
}

async fn upload(app: &TestApp, token: &str, acc: &str, profile: &str, n: u32) -> String {
    let csv = CSV.replace("{n}", &n.to_string()).into_bytes();
    let res = upload_csv(app, token, acc, profile, csv).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.expect("json");
    body["import_id"].as_str().expect("id").to_owned()
}

async fn wait_status(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    eventually(
        Duration::from_secs(60),
        &format!("import {status}"),
        || async {
            let i = get(app, token, &format!("/v1/financial/imports/{id}")).await;
            if i["status"] == status { Ok(i) } else { Err(i) }
        },
    )
    .await
}

async fn an_import_shows_retrying_then_completed_or_failed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let token = app.token_for("trader").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    let profile = plain_csv_profile(&app, &token).await;

    refuse_rows(&db, true).await;
    let id = upload(&app, &token, &acc, &profile, 1).await;
    let retrying = wait_status(&app, &token, &id, "retrying").await;
    let error = retrying["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("attempt 1 of 5 failed") && error.contains("disk full (simulated)"),
        "{retrying:#}"
    );
    refuse_rows(&db, false).await;
    let done = wait_status(&app, &token, &id, "completed").await;
    assert_eq!(done["inserted"], 1);
    assert!(done["error"].is_null(), "{done:#}");
    let job = get(
        &app,
        &token,
        &format!("/v1/jobs/{}", done["job_id"].as_str().expect("job")),
    )
    .await;
    assert!(job["last_error"].is_null(), "{job:#}");
    assert!(job["attempts"].as_i64().unwrap_or(0) >= 2, "{job:#}");

    // Refused on every attempt (1 + 2 + 4 + 8 s of backoff): the import ends `failed`.
    refuse_rows(&db, true).await;
    let id = upload(&app, &token, &acc, &profile, 2).await;
    let failed = wait_status(&app, &token, &id, "failed").await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("gave up after 5 attempts") && error.contains("disk full"),
        "{failed:#}"
    );
    db.close().await;
    app.stop().await;
}

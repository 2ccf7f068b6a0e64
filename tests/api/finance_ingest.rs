//! The ingest path on both databases: pending → booked (by bank id and by amount and
//! description), an import killed mid-batch leaves nothing and its re-run is exact, the
//! month lock, overlapping files, and a SimpleFIN bank sync against a local fake bridge.

use crate::finance_api::{get, post, wait_job};
use crate::helpers::{Backend, TestApp, TestDb, test_settings};
use crate::on_both_backends;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actors::TraceId;
use actors::finance::{StatementLine, TxStatus};
use ai_service::db::Db;
use ai_service::finance::accounts::{self, AccountRow};
use ai_service::finance::ingest::{IngestOptions, ingest, ingest_in};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

on_both_backends!(
    pending_lines_get_booked_not_duplicated,
    a_killed_import_leaves_nothing_and_reruns_exactly,
    overlapping_files_add_only_new_days,
    simplefin_sync_against_a_fake_bridge
);

async fn setup(backend: Backend) -> (TestDb, Db, AccountRow) {
    let t = TestDb::new(backend).await;
    let db = Db::connect(&test_settings(t.url()).database)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let a = AccountRow {
        id: "acc-1".into(),
        name: "Main".into(),
        account_type: "checking".into(),
        currency: "EUR".into(),
        institution: None,
        opening_balance: "0".into(),
        opening_e4: 0,
        external_ref: None,
        archived: false,
        last_synced_at: None,
        created_at: 0,
        updated_at: 0,
    };
    accounts::upsert(&db, &a).await.expect("account");
    (t, db, a)
}

fn line(day: &str, amount: &str, desc: &str, ext: Option<&str>, status: TxStatus) -> StatementLine {
    StatementLine {
        source: format!("line {day}"),
        booked: NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("date"),
        value_date: None,
        amount: Decimal::from_str(amount).expect("amount"),
        currency: Some("EUR".into()),
        description: desc.into(),
        counterparty: None,
        external_id: ext.map(str::to_owned),
        status,
    }
}

async fn rows(db: &Db) -> Vec<(String, String, String)> {
    db.fetch_all(
        "SELECT booked_date, amount, status FROM fin_transactions ORDER BY booked_date, amount",
    )
    .await
    .expect("rows")
}

async fn run(
    db: &Db,
    a: &AccountRow,
    lines: &[StatementLine],
) -> ai_service::finance::ingest::IngestOutcome {
    ingest(
        db,
        a,
        lines,
        &IngestOptions::default(),
        &TraceId::new("t-ingest"),
    )
    .await
    .expect("ingest")
}

async fn pending_lines_get_booked_not_duplicated(backend: Backend) {
    let (_t, db, a) = setup(backend).await;
    use TxStatus::{Booked, Pending};
    // With a bank id: the booked version (a day later, final amount) replaces the pending one.
    let out = run(
        &db,
        &a,
        &[line("2026-03-01", "-20.00", "HOTEL", Some("B-1"), Pending)],
    )
    .await;
    assert_eq!(out.inserted, 1);
    let out = run(
        &db,
        &a,
        &[line("2026-03-02", "-21.50", "HOTEL", Some("B-1"), Booked)],
    )
    .await;
    assert_eq!((out.inserted, out.updated), (0, 1));
    assert_eq!(
        rows(&db).await,
        [("2026-03-02".into(), "-21.5".into(), "booked".into())]
    );
    // Even when the bank books it weeks later, outside any date window.
    run(
        &db,
        &a,
        &[line("2026-05-01", "-9.00", "GYM", Some("B-9"), Pending)],
    )
    .await;
    let out = run(
        &db,
        &a,
        &[line("2026-05-28", "-9.00", "GYM", Some("B-9"), Booked)],
    )
    .await;
    assert_eq!((out.inserted, out.updated), (0, 1));
    db.execute("DELETE FROM fin_transactions WHERE external_id = 'B-9'")
        .await
        .expect("cleanup");
    // Without one: same amount and description a few days later books the pending line…
    run(
        &db,
        &a,
        &[
            line("2026-03-10", "-3.50", "Coffee  Shop", None, Pending),
            line("2026-03-10", "-3.50", "Coffee  Shop", None, Pending),
        ],
    )
    .await;
    let out = run(
        &db,
        &a,
        &[
            line("2026-03-12", "-3.50", "COFFEE SHOP", None, Booked),
            line("2026-03-12", "-3.50", "COFFEE SHOP", None, Booked),
        ],
    )
    .await;
    // … both twins, one each, and nothing is added.
    assert_eq!((out.inserted, out.updated), (0, 2));
    let all = rows(&db).await;
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| r.2 == "booked"), "{all:?}");
    // Re-running the booked file adds nothing.
    let out = run(
        &db,
        &a,
        &[
            line("2026-03-12", "-3.50", "COFFEE SHOP", None, Booked),
            line("2026-03-12", "-3.50", "COFFEE SHOP", None, Booked),
        ],
    )
    .await;
    assert_eq!((out.inserted, out.updated, out.duplicates), (0, 0, 2));
}

async fn a_killed_import_leaves_nothing_and_reruns_exactly(backend: Backend) {
    let (_t, db, a) = setup(backend).await;
    // 1,200 lines: three write chunks. Twins every 100 lines.
    let lines: Vec<StatementLine> = (0..1200)
        .map(|n| {
            let day = format!("2026-01-{:02}", 1 + n % 28);
            let amount = format!("-{}.{:02}", n % 100, n % 7);
            line(
                &day,
                &amount,
                &format!("shop {}", n % 100),
                None,
                TxStatus::Booked,
            )
        })
        .collect();
    // The database refuses line 1000 (a trigger stands in for a full disk or a killed
    // process): the first 1000 rows were already written inside the transaction.
    let mut poisoned = lines.clone();
    poisoned.insert(
        1000,
        line("2026-01-15", "-1", "POISON", None, TxStatus::Booked),
    );
    let trigger: &[&str] = match db.backend() {
        ai_service::config::Backend::Sqlite => &[
            "CREATE TRIGGER poison BEFORE INSERT ON fin_transactions WHEN NEW.description = 'POISON' \
             BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END",
        ],
        ai_service::config::Backend::Postgres => &[
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.description = 'POISON' THEN RAISE EXCEPTION 'disk full (simulated)'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER poison BEFORE INSERT ON fin_transactions FOR EACH ROW EXECUTE FUNCTION poison()",
        ],
    };
    for q in trigger {
        db.execute(*q).await.expect(q);
    }
    let err = ingest(
        &db,
        &a,
        &poisoned,
        &IngestOptions::default(),
        &TraceId::new("t"),
    )
    .await
    .expect_err("dies mid-batch");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(
        rows(&db).await.is_empty(),
        "nothing of the dead import remains"
    );
    let out = run(&db, &a, &lines).await;
    assert_eq!(out.inserted, 1200);
    let out = run(&db, &a, &lines).await;
    assert_eq!((out.inserted, out.duplicates), (0, 1200));

    // While another ingest holds the month (its transaction is open), a second one waits for
    // it instead of failing, and lands once the first commits.
    let mut first = db.begin_write().await.expect("begin");
    let feb = |d: &str| vec![line(d, "-1", "x", None, TxStatus::Booked)];
    ingest_in(
        &mut first,
        &a,
        &feb("2026-02-03"),
        &IngestOptions::default(),
        &TraceId::new("t"),
    )
    .await
    .expect("first holds February");
    let second = {
        let (db, a) = (db.clone(), a.clone());
        actix_web::rt::spawn(async move {
            ingest(
                &db,
                &a,
                &feb("2026-02-04"),
                &IngestOptions::default(),
                &TraceId::new("t"),
            )
            .await
        })
    };
    // It cannot finish while the first holds the month (this only checks it has not yet).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !second.is_finished(),
        "the second ingest waits for the lock"
    );
    first.commit().await.expect("commit");
    let out = second
        .await
        .expect("task")
        .expect("the second ingest succeeds after the wait");
    assert_eq!(out.inserted, 1);
    assert_eq!(rows(&db).await.len(), 1202);

    // A transaction that dies (a killed process, a rollback) takes its lock with it.
    let mut dead = db.begin_write().await.expect("begin");
    ingest_in(
        &mut dead,
        &a,
        &feb("2026-02-05"),
        &IngestOptions::default(),
        &TraceId::new("t"),
    )
    .await
    .expect("ingest");
    drop(dead);
    let out = run(&db, &a, &feb("2026-02-06")).await;
    assert_eq!(out.inserted, 1);
    assert_eq!(rows(&db).await.len(), 1203, "the rolled-back row is gone");
}

async fn overlapping_files_add_only_new_days(backend: Backend) {
    let (_t, db, a) = setup(backend).await;
    let day = |d: u32| format!("2026-04-{d:02}");
    let file = |from: u32, to: u32| {
        (from..=to)
            .flat_map(|d| {
                // Each day: two identical purchases and one other.
                vec![
                    line(&day(d), "-2.00", "Bus ticket", None, TxStatus::Booked),
                    line(&day(d), "-2.00", "Bus ticket", None, TxStatus::Booked),
                    line(&day(d), "-9.99", "Lunch", None, TxStatus::Booked),
                ]
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(&db, &a, &file(1, 10)).await.inserted, 30);
    let out = run(&db, &a, &file(5, 15)).await;
    assert_eq!((out.inserted, out.duplicates), (15, 18));
    assert_eq!(rows(&db).await.len(), 45);
}

/// A SimpleFIN bridge: `GET /simplefin/accounts` with basic auth, answering `state`.
async fn fake_bridge(state: Arc<Mutex<Value>>) -> (u16, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        let state = Arc::clone(&state);
        App::new().route(
            "/simplefin/accounts",
            web::get().to(move |req: HttpRequest| {
                let state = Arc::clone(&state);
                async move {
                    // "user:secret" in base64.
                    let auth = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok());
                    if auth != Some("Basic dXNlcjpzZWNyZXQ=") {
                        return HttpResponse::Forbidden().finish();
                    }
                    if !req.query_string().contains("start-date=") {
                        return HttpResponse::BadRequest().finish();
                    }
                    let body = state.lock().expect("state").clone();
                    HttpResponse::Ok().json(body)
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (port, handle)
}

/// The protocol's own example shape (simplefin.org/protocol.html), with one pending line.
fn bridge_answer(pending_booked: bool) -> Value {
    let mut pending = json!({"id": "TX-3", "posted": 0, "amount": "-12.00", "description": "PENDING CINEMA", "pending": true, "transacted_at": 1_772_323_200});
    if pending_booked {
        pending = json!({"id": "TX-3", "posted": 1_772_409_600, "amount": "-12.00", "description": "CINEMA ODEON", "payee": "Odeon"});
    }
    json!({
        "errors": [],
        "accounts": [{
            "org": {"domain": "mybank.com", "sfin-url": "https://sfin.mybank.com", "name": "My Bank"},
            "id": "ACT-1", "name": "Checking", "currency": "EUR", "balance": "1000.00",
            "available-balance": "988.00", "balance-date": 1_772_409_600,
            "transactions": [
                {"id": "TX-1", "posted": 1_772_236_800, "amount": "2500.00", "description": "PAYROLL ACME", "payee": "ACME"},
                {"id": "TX-2", "posted": 1_772_323_200, "amount": "-33.29", "description": "UNCLE FRANK'S BAIT SHOP"},
                pending
            ]
        }, {
            "org": {"domain": "mybank.com", "sfin-url": "https://sfin.mybank.com"},
            "id": "ACT-2", "name": "Savings", "currency": "EUR", "balance": "5.00", "balance-date": 1_772_409_600,
            "transactions": []
        }]
    })
}

async fn simplefin_sync_against_a_fake_bridge(backend: Backend) {
    let state = Arc::new(Mutex::new(bridge_answer(false)));
    let (port, bridge) = fake_bridge(Arc::clone(&state)).await;
    let app = TestApp::spawn(backend).await;
    let admin = app.token_for("admin").await;
    let put = |url: String| {
        let (app, admin) = (&app, &admin);
        async move {
            let res = app
                .call(
                    "PUT",
                    "/v1/settings/integrations/default/simplefin",
                    Some(admin),
                    Some(json!({"mode": "live", "secrets": {"access_url": url}})),
                )
                .await;
            assert_eq!(res.status().as_u16(), 200);
        }
    };
    put(format!("http://user:secret@127.0.0.1:{port}/simplefin")).await;
    let acc = post(&app, &admin, "/v1/financial/accounts", json!({"name": "Bank", "account_type": "checking", "currency": "EUR", "external_ref": "ACT-1"})).await;
    let acc = acc["id"].as_str().expect("id").to_owned();
    let sync = || {
        let (app, admin, acc) = (&app, &admin, &acc);
        async move {
            let j = post(
                app,
                admin,
                &format!("/v1/financial/accounts/{acc}/sync"),
                json!({}),
            )
            .await;
            wait_job(app, admin, j["job_id"].as_str().expect("job")).await
        }
    };
    let job = sync().await;
    assert_eq!(job["state"], "completed", "{job:#}");
    assert_eq!(
        (
            job["result"]["inserted"].as_i64(),
            job["result"]["fetched"].as_i64()
        ),
        (Some(3), Some(3))
    );
    let txs = get(
        &app,
        &admin,
        &format!("/v1/financial/transactions?account_id={acc}"),
    )
    .await;
    let items = txs["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .any(|t| t["external_id"] == "TX-3" && t["status"] == "pending")
    );
    assert!(
        items
            .iter()
            .any(|t| t["amount"] == "-33.29" && t["booked_date"] == "2026-03-01")
    );

    // The bank books the pending line: the next sync updates it, adds nothing.
    *state.lock().expect("state") = bridge_answer(true);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let first = job["id"].clone();
    let job = sync().await;
    assert_ne!(job["id"], first, "a new sync job");
    assert_eq!(
        (
            job["result"]["inserted"].as_i64(),
            job["result"]["updated"].as_i64()
        ),
        (Some(0), Some(1)),
        "{job:#}"
    );
    let t = get(
        &app,
        &admin,
        &format!("/v1/financial/transactions?account_id={acc}&q=odeon"),
    )
    .await;
    assert_eq!(t["items"][0]["status"], "booked");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("transactions_synced_total{provider=\"simplefin\"}"),
        "metric missing"
    );

    // A cron schedule running `sync_all` syncs every linked account.
    let res = app
        .call("POST", "/v1/schedules", Some(&admin), Some(json!({"name": "bank", "cron": "* * * * * *", "queue": "finance", "job_name": "sync_all"})))
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let schedule: Value = res.json().await.expect("json");
    let mut synced = false;
    for _ in 0..100 {
        let jobs = get(&app, &admin, "/v1/jobs?queue=finance&limit=100").await;
        synced = jobs["items"].as_array().expect("items").iter().any(|j| {
            j["name"] == "sync_bank"
                && j["state"] == "completed"
                && j["payload"]["account_id"] == acc.as_str()
                && j["id"] != first
                && j["id"] != job["id"]
        });
        if synced {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        synced,
        "the schedule's sync_all ran a sync_bank for the account"
    );
    app.call(
        "DELETE",
        &format!("/v1/schedules/{}", schedule["id"].as_str().expect("id")),
        Some(&admin),
        None,
    )
    .await;

    // Revoked credentials: the job dies with a message a human can act on.
    put(format!("http://user:wrong@127.0.0.1:{port}/simplefin")).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let job = sync().await;
    assert_eq!(job["state"], "dead");
    assert!(
        job["last_error"]
            .as_str()
            .expect("error")
            .contains("refused the access URL"),
        "{job:#}"
    );
    app.stop().await;
    bridge.stop(true).await;
}

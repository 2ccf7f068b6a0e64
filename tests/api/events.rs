//! The event bus, the outbox relay, and cron schedules firing once per tick.

use crate::helpers::{Backend, TestDb, eventually, test_settings};
use crate::on_both_backends;
use actix::Actor;
use actors::TraceId;
use actors::events::{EventBus, OutboxRelay, TradeExecuted};
use ai_service::db::{Db, DbHandle, Sql};
use ai_service::events::{SqlOutbox, stage, stage_in};
use ai_service::jobs::{JobQueue, SqlJobStore};
use ai_service::schedules::{ScheduleRow, ScheduleRunner, upsert};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    an_outbox_event_survives_a_crash_before_publish,
    every_outbox_type_is_published_and_unknown_ones_stay_pending,
    a_schedule_fires_once_per_tick_with_two_processes
);

async fn connect(test_db: &TestDb) -> Db {
    let db = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    db
}

fn trade(n: u32) -> TradeExecuted {
    TradeExecuted {
        strategy_id: "s1".into(),
        venue: "paper".into(),
        trade_id: format!("paper-{n}"),
        client_order_id: format!("o-{n}"),
        symbol: "BTC-EUR".into(),
        side: "buy".into(),
        quantity: format!("0.{n}"),
        price: "50000.00".into(),
        fee: "0.05".into(),
        fee_amount: "0.05".into(),
        fee_asset: "EUR".into(),
        fee_valued: true,
        live: false,
        trace_id: TraceId::new("t-trade"),
    }
}

#[actix_web::test]
async fn slow_subscribers_never_block_publishers() {
    let bus = EventBus::new(4);
    let mut slow = bus.subscribe::<TradeExecuted>();
    for n in 0..10 {
        bus.publish(trade(n));
    }
    // The slow one skipped what overflowed and goes on with what is left.
    let first = slow.recv().await.expect("event");
    assert_eq!(first.quantity, "0.6");
}

async fn an_outbox_event_survives_a_crash_before_publish(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = connect(&test_db).await;
    // The change and its event commit together; then the process "dies" before publishing.
    let staged = stage(&trade(7), &TraceId::new("t-trade")).expect("stage");
    let mut tx = db.begin_write().await.expect("begin");
    tx.execute("INSERT INTO app_meta (key, value) VALUES ('last_trade', '7')")
        .await
        .expect("change");
    stage_in(&mut tx, &staged).await.expect("stage");
    tx.commit().await.expect("commit");
    // A rolled-back change leaves no event behind.
    let discarded = stage(&trade(8), &TraceId::new("t-rollback")).expect("stage");
    let mut tx = db.begin_write().await.expect("begin");
    stage_in(&mut tx, &discarded).await.expect("stage");
    tx.rollback().await.expect("rollback");

    // Next start: a fresh bus and relay deliver it.
    let bus = EventBus::new(16);
    let mut sub = bus.subscribe::<TradeExecuted>();
    let relay = OutboxRelay::new(
        Arc::new(SqlOutbox(DbHandle::connected(db.clone()))),
        bus.clone(),
        Duration::from_millis(50),
    )
    .start();
    let got = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("delivered")
        .expect("event");
    assert_eq!(got, trade(7));
    eventually(
        Duration::from_secs(5),
        "the event marked published",
        || async {
            let pending: i64 = db
                .fetch_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
                .await
                .expect("count");
            if pending == 0 { Ok(()) } else { Err(pending) }
        },
    )
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sub.recv())
            .await
            .is_err(),
        "delivered once, rollback never"
    );
    drop(relay);
}

async fn a_schedule_fires_once_per_tick_with_two_processes(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = connect(&test_db).await;
    let now = chrono::Utc::now().timestamp_millis();
    let row = ScheduleRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: "every-second".into(),
        cron: "* * * * * *".into(),
        queue: "sched".into(),
        job_name: "noop".into(),
        payload: "{}".into(),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    upsert(&db, &row).await.expect("schedule");
    // Two "processes": separate stores, queues and cron schedulers on one database.
    let mut runners = Vec::new();
    for _ in 0..2 {
        let handle = DbHandle::connected(connect(&test_db).await);
        let queue = JobQueue::new(
            Arc::new(SqlJobStore::new(handle.clone())),
            HashMap::new(),
            Arc::default(),
        );
        let runner = ScheduleRunner::new(handle, queue, Vec::new());
        assert_eq!(runner.reload().await.expect("reload"), 1);
        runners.push(runner);
    }
    // Cron ticks are what is tested: let a few seconds of them pass.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    for r in &runners {
        r.shutdown().await;
    }
    let keys: Vec<(String,)> = db
        .fetch_all("SELECT idempotency_key FROM jobs WHERE queue = 'sched'")
        .await
        .expect("jobs");
    let keys: Vec<String> = keys.into_iter().map(|(k,)| k).collect();
    assert!(
        (2..=4).contains(&keys.len()),
        "one job per tick over ~3.5 s, got {}: {keys:?}",
        keys.len()
    );
    let distinct: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len());
}

on_both_backends!(schedules_api_validates_and_persists);

async fn schedules_api_validates_and_persists(backend: Backend) {
    let app = crate::helpers::TestApp::spawn(backend).await;
    let admin = app.token_for("admin").await;
    let bad = app
        .call("POST", "/v1/schedules", Some(&admin), Some(serde_json::json!({"name": "nightly", "cron": "every night", "queue": "finance", "job_name": "sync"})))
        .await;
    assert_eq!(bad.status(), 422);
    let fields = |v: serde_json::Value| -> Vec<String> {
        v["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // A bad cron, and a job this service does not run.
    assert_eq!(
        fields(bad.json().await.expect("json")),
        vec!["cron", "job_name"]
    );
    // A known job with a payload its kind does not take.
    let bad = app
        .call("POST", "/v1/schedules", Some(&admin), Some(serde_json::json!({"name": "nightly", "cron": "0 30 2 * * *", "queue": "finance", "job_name": "sync_bank", "payload": {"account": 1}})))
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(fields(bad.json().await.expect("json")), vec!["payload"]);
    let created = app
        .call(
            "POST",
            "/v1/schedules",
            Some(&admin),
            Some(serde_json::json!({"name": "nightly", "cron": "0 30 2 * * *", "queue": "finance", "job_name": "sync_bank", "payload": {"account_id": "acc-1"}})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let s: serde_json::Value = created.json().await.expect("json");
    let list: serde_json::Value = app
        .call("GET", "/v1/schedules", Some(&admin), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list[0]["name"], "nightly");
    assert_eq!(list[0]["payload"]["account_id"], "acc-1");
    let dup = app
        .call("POST", "/v1/schedules", Some(&admin), Some(serde_json::json!({"name": "nightly", "cron": "0 0 3 * * *", "queue": "finance", "job_name": "sync_all"})))
        .await;
    assert_eq!(dup.status(), 409);
    let id = s["id"].as_str().expect("id");
    assert_eq!(
        app.call("DELETE", &format!("/v1/schedules/{id}"), Some(&admin), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.call("DELETE", &format!("/v1/schedules/{id}"), Some(&admin), None)
            .await
            .status(),
        404
    );
    app.stop().await;
}

/// Every event type the code can write to the outbox has a publisher on the bus that startup
/// builds (TransactionSynced and CategoryUpdated had none: each was logged, marked published
/// and lost). A row of a type nobody knows stays pending with its error, counted, and does not
/// hold back the rows after it.
async fn every_outbox_type_is_published_and_unknown_ones_stay_pending(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = connect(&test_db).await;
    let bus = EventBus::new(16);
    actors::events::register_all(&bus);
    for name in actors::events::ALL_EVENT_TYPES {
        assert!(bus.knows(name), "{name} has no publisher");
    }
    let mut synced = bus.subscribe::<actors::events::TransactionSynced>();
    let event = actors::events::TransactionSynced {
        account_id: "a1".into(),
        transaction_ids: vec!["t1".into()],
        count: 1,
        trace_id: TraceId::new("t-sync"),
    };
    let rows = [
        ("00-unknown", "NoSuchEvent", "{}".to_owned()),
        (
            "01-synced",
            "TransactionSynced",
            serde_json::to_string(&event).expect("json"),
        ),
    ];
    for (id, kind, payload) in &rows {
        let sql = Sql::new(ai_service::events::INSERT)
            .bind(*id)
            .bind(*kind)
            .bind(payload)
            .bind("t")
            .bind(0_i64);
        db.execute(sql).await.expect("insert");
    }
    let relay = OutboxRelay::new(
        Arc::new(SqlOutbox(DbHandle::connected(db.clone()))),
        bus.clone(),
        Duration::from_millis(50),
    )
    .start();
    let got = tokio::time::timeout(Duration::from_secs(5), synced.recv())
        .await
        .expect("the row after the unknown one is delivered")
        .expect("event");
    assert_eq!(got, event);
    let state: Vec<(String, Option<i64>, Option<String>)> = eventually(
        Duration::from_secs(5),
        "every outbox row published or failed",
        || async {
            let rows: Vec<(String, Option<i64>, Option<String>)> = db
                .fetch_all("SELECT id, published_at, last_error FROM outbox ORDER BY id")
                .await
                .expect("rows");
            if rows
                .iter()
                .all(|(_, published, error)| published.is_some() || error.is_some())
            {
                Ok(rows)
            } else {
                Err(rows)
            }
        },
    )
    .await;
    let (_, published, error) = &state[0];
    assert!(
        published.is_none(),
        "an unknown type is never marked published"
    );
    assert!(
        error.as_deref().is_some_and(|e| e.contains("NoSuchEvent")),
        "its error is kept: {error:?}"
    );
    assert!(state[1].1.is_some(), "the known one is published");
    drop(relay);
}

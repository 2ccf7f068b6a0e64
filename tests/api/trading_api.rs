//! `/v1/trading` end to end: strategies CRUD and validation, deploy/pause/resume/stop through
//! durable jobs and the trading manager, idempotent commands, and what a restart does.

use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::on_both_backends;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    lifecycle_through_http_and_jobs,
    double_deploy_is_one_job,
    live_strategy_comes_back_stopped_after_restart,
    live_strategy_resumes_after_restart_when_configured,
    bad_strategies_are_refused_with_field_errors
);

/// Buys on every tick until it holds `max_position` (the paper price never exceeds `buy_below`).
pub fn always_buy(name: &str) -> Value {
    json!({
        "name": name,
        "kind": "threshold",
        "params": {"buy_below": "1000000", "sell_above": "2000000", "order_qty": "0.1", "max_position": "0.3"},
        "connector": "paper",
        "symbols": ["BTC-USDT"],
        "tick_interval_ms": 100,
        "risk": {"max_order_notional": "1000", "max_open_position": "1000", "max_orders_per_minute": 60, "daily_loss_limit": "1000"}
    })
}

pub async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let res = app
        .call("POST", "/v1/trading/strategies", Some(token), Some(body))
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let s: Value = res.json().await.expect("json");
    assert_eq!(s["state"], "idle");
    s["id"].as_str().expect("id").to_owned()
}

pub async fn command(app: &TestApp, token: &str, cmd: &str, id: &str) -> Value {
    let res = app
        .call(
            "POST",
            &format!("/v1/trading/{cmd}"),
            Some(token),
            Some(json!({"strategy_id": id})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202, "{cmd}");
    res.json().await.expect("json")
}

pub async fn strategy(app: &TestApp, token: &str, id: &str) -> Value {
    let res = app
        .call(
            "GET",
            &format!("/v1/trading/strategies/{id}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.expect("json")
}

/// Polls the strategy until `check` holds (10 s at most).
pub async fn wait_for(
    app: &TestApp,
    token: &str,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(
        Duration::from_secs(10),
        &format!("strategy {what}"),
        || async {
            let s = strategy(app, token, id).await;
            if check(&s) { Ok(s) } else { Err(s) }
        },
    )
    .await
}

async fn job_state(app: &TestApp, token: &str, job_id: &str) -> Value {
    let res = app
        .call("GET", &format!("/v1/jobs/{job_id}"), Some(token), None)
        .await;
    res.json().await.expect("json")
}

async fn lifecycle_through_http_and_jobs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let id = create(&app, &token, always_buy("buyer")).await;

    let deploy = command(&app, &token, "deploy", &id).await;
    assert_eq!(deploy["command"], "deploy");
    assert_eq!(deploy["deduplicated"], false);
    let live = wait_for(&app, &token, &id, "live with a full position", |s| {
        s["state"] == "live" && s["positions"][0]["qty"] == "0.3"
    })
    .await;
    assert!(live["last_tick_at"].as_str().is_some());
    let job = job_state(&app, &token, deploy["job_id"].as_str().expect("job")).await;
    assert_eq!(job["state"], "completed", "{job:#}");
    assert_eq!(job["result"]["to"], "live");

    // Orders were recorded, filled on the paper venue at its VWAP, fees charged. The position
    // shown above is the actor's; the last order row turns `filled` in the store a moment
    // later, so wait for the rows rather than read them once.
    let path = format!("/v1/trading/strategies/{id}/orders");
    let orders: Vec<Value> = eventually(Duration::from_secs(10), "three filled orders", || async {
        let orders: Value = app
            .call("GET", &path, Some(&token), None)
            .await
            .json()
            .await
            .expect("json");
        let orders = orders.as_array().cloned().unwrap_or_default();
        if orders.len() == 3 && orders.iter().all(|o| o["status"] == "filled") {
            Ok(orders)
        } else {
            Err(orders)
        }
    })
    .await;
    for o in &orders {
        assert_eq!(o["status"], "filled");
        assert_eq!(o["side"], "buy");
        assert_ne!(o["fees"], "0");
        assert_eq!(o["trace_id"], deploy_trace(&job));
    }
    // Paper balances moved: 0.3 BTC bought.
    let balances: Value = app
        .call(
            "GET",
            "/v1/trading/connectors/paper/balances",
            Some(&token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let btc = balances
        .as_array()
        .expect("balances")
        .iter()
        .find(|b| b["asset"] == "BTC")
        .expect("BTC");
    assert_eq!(btc["free"], "0.3");
    // Fee-aware PnL: realised is minus the fees paid so far.
    let realised: rust_decimal::Decimal = live["pnl"]["realised"]
        .as_str()
        .expect("realised")
        .parse()
        .expect("decimal");
    assert!(realised < rust_decimal::Decimal::ZERO, "{live:#}");

    // The runtime's metrics are exposed.
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    for series in [
        "strategies_live ",
        "orders_sent_total{strategy=\"buyer\",side=\"buy\"}",
        "pnl_estimated{strategy=\"buyer\"}",
        "trading_tick_duration_seconds_bucket{strategy=\"buyer\"",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }

    command(&app, &token, "pause", &id).await;
    wait_for(&app, &token, &id, "paused", |s| s["state"] == "paused").await;
    command(&app, &token, "resume", &id).await;
    wait_for(&app, &token, &id, "live again", |s| s["state"] == "live").await;
    // Pausing an idle/stopped strategy is refused at once, naming the state.
    command(&app, &token, "stop", &id).await;
    let stopped = wait_for(&app, &token, &id, "stopped", |s| s["state"] == "stopped").await;
    let causes: Vec<&str> = stopped["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| t["cause"].as_str().expect("cause"))
        .collect();
    assert_eq!(causes, ["stop", "resume", "pause", "deploy"]);
    assert_eq!(stopped["transitions"][3]["trace_id"], deploy_trace(&job));
    let res = app
        .call(
            "POST",
            "/v1/trading/pause",
            Some(&token),
            Some(json!({"strategy_id": id})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 409);
    let problem: Value = res.json().await.expect("json");
    assert_eq!(problem["detail"], "cannot pause a strategy that is stopped");

    // Every transition is audited with its trace id.
    let admin = app.token_for("admin").await;
    app.flush_audit().await;
    let audit: Value = app
        .call(
            "GET",
            "/v1/audit?action=strategy.deploy",
            Some(&admin),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let entry = &audit["items"][0];
    assert_eq!(entry["trace_id"], deploy_trace(&job), "{audit:#}");

    // Ticks stop with the strategy.
    let ticks = strategy(&app, &token, &id).await["ticks"].as_i64();
    // Nothing may happen: only time passing can show it (several tick intervals).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(strategy(&app, &token, &id).await["ticks"].as_i64(), ticks);
    // Running strategies cannot be deleted; stopped ones can.
    let res = app
        .call(
            "DELETE",
            &format!("/v1/trading/strategies/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    app.stop().await;
}

fn deploy_trace(job: &Value) -> Value {
    job["trace_id"].clone()
}

async fn double_deploy_is_one_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    // No trading dispatcher: the job waits, so the second request meets it queued.
    settings.jobs.queues = vec!["finance".to_owned()];
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    let token = app.token_for("trader").await;
    let id = create(&app, &token, always_buy("twice")).await;
    let first = command(&app, &token, "deploy", &id).await;
    let second = command(&app, &token, "deploy", &id).await;
    assert_eq!(first["job_id"], second["job_id"]);
    assert_eq!(second["deduplicated"], true);
    let jobs: Value = app
        .call("GET", "/v1/jobs?queue=trading", Some(&token), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(1), "{jobs:#}");
    app.stop().await;
}

async fn live_strategy_comes_back_stopped_after_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let id = create(&app, &token, always_buy("survivor")).await;
    command(&app, &token, "deploy", &id).await;
    wait_for(&app, &token, &id, "live", |s| s["state"] == "live").await;
    // The process goes away while the strategy is live (the state stays `live` in storage,
    // as after a crash), and a new one starts on the same database.
    let db = app.db.take().expect("db");
    app.stop().await;
    let mut app = TestApp::with_settings(test_settings(db.url())).await;
    app.db = Some(db);
    let s = wait_for(&app, &token, &id, "stopped by restart", |s| {
        s["state"] == "stopped"
    })
    .await;
    assert!(
        s["state_reason"]
            .as_str()
            .expect("reason")
            .starts_with("restart"),
        "{s:#}"
    );
    assert_eq!(s["transitions"][0]["cause"], "restart");
    assert_eq!(s["transitions"][0]["principal"], "system");
    // … and an event says so (outbox row, published by the relay).
    let url = app.db.as_ref().expect("db").url().to_owned();
    let pool = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let rows: Vec<(String,)> = pool
        .fetch_all(
            "SELECT payload FROM outbox WHERE event_type = 'StrategyStateChanged' ORDER BY id",
        )
        .await
        .expect("outbox");
    let last: Value = serde_json::from_str(&rows.last().expect("event").0).expect("json");
    assert_eq!(last["cause"], "restart");
    assert_eq!(last["to"], "stopped");
    pool.close().await;
    // Nothing ticks after the restart.
    let ticks = s["ticks"].as_i64();
    // Nothing may happen: only time passing can show it (several tick intervals).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(strategy(&app, &token, &id).await["ticks"].as_i64(), ticks);
    app.stop().await;
}

async fn live_strategy_resumes_after_restart_when_configured(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let id = create(&app, &token, always_buy("resumer")).await;
    command(&app, &token, "deploy", &id).await;
    wait_for(&app, &token, &id, "live", |s| s["state"] == "live").await;
    let db = app.db.take().expect("db");
    app.stop().await;
    let mut settings = test_settings(db.url());
    settings.trading.resume_on_restart = true;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    let before = strategy(&app, &token, &id).await["ticks"]
        .as_i64()
        .unwrap_or(0);
    let s = wait_for(&app, &token, &id, "ticking again", |s| {
        s["ticks"].as_i64().unwrap_or(0) > before + 2
    })
    .await;
    assert_eq!(s["state"], "live");
    assert_eq!(s["transitions"][0]["cause"], "deploy");
    app.stop().await;
}

async fn bad_strategies_are_refused_with_field_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let mut body = always_buy("bad name!");
    body["params"]["buy_below"] = json!("abc");
    body["symbols"] = json!(["BTCUSDT"]);
    body["connector"] = json!("no-such-venue");
    body["risk"]["daily_loss_limit"] = json!("-5");
    let res = app
        .call("POST", "/v1/trading/strategies", Some(&token), Some(body))
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let problem: Value = res.json().await.expect("json");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    for f in [
        "name",
        "connector",
        "symbols[0]",
        "risk.daily_loss_limit",
        "params.buy_below",
    ] {
        assert!(fields.contains(&f), "{f} missing in {problem:#}");
    }
    // Live mode needs a live connector (the paper venue is not).
    let mut live = always_buy("live-one");
    live["mode"] = json!("live");
    let res = app
        .call("POST", "/v1/trading/strategies", Some(&token), Some(live))
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let problem: Value = res.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "mode");
    // Unknown strategy, duplicate names, viewers.
    let res = app
        .call(
            "POST",
            "/v1/trading/deploy",
            Some(&token),
            Some(json!({"strategy_id": "nope"})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 404);
    create(&app, &token, always_buy("dup")).await;
    let res = app
        .call(
            "POST",
            "/v1/trading/strategies",
            Some(&token),
            Some(always_buy("dup")),
        )
        .await;
    assert_eq!(res.status().as_u16(), 409);
    let viewer = app.token_for("viewer").await;
    let res = app
        .call(
            "POST",
            "/v1/trading/strategies",
            Some(&viewer),
            Some(always_buy("v")),
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);
    app.stop().await;
}

//! The `binance` connector inside the service, against the local fake: mode and keys from the
//! integration setting, the live gate on strategies, orders under the venue minimum never sent,
//! an order whose answer timed out found by client id (never placed twice), a 418 faulting the
//! strategy, and a grid strategy in sandbox trading end to end.

use crate::binance_fake::{API_KEY, API_SECRET, FakeBinance, Script};
use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::on_both_backends;
use crate::trading_api::{command, create, wait_for};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    venue_mode_comes_from_the_setting_and_gates_live_strategies,
    a_grid_in_sandbox_trades_end_to_end,
    a_timed_out_order_is_found_by_client_id_and_a_ban_faults,
    balances_are_reconciled_with_our_fills_and_a_drift_is_reported_once
);

pub(crate) async fn spawn(backend: Backend, fake: &FakeBinance) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    settings.trading.binance.testnet_url = fake.url.clone();
    settings.trading.binance.live_url = fake.url.clone();
    settings.trading.binance.request_timeout_ms = 500;
    // Booting under a loaded test run can take longer than the default wait for the database.
    settings.database.boot_wait_ms = 30_000;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    app
}

pub(crate) async fn set_mode(app: &TestApp, admin: &str, mode: &str) {
    let res = app
        .call(
            "PUT",
            "/v1/settings/integrations/default/binance",
            Some(admin),
            Some(json!({"mode": mode, "secrets": {"api_key": API_KEY, "api_secret": API_SECRET}})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
}

async fn connector(app: &TestApp, token: &str) -> Value {
    let list: Value = app
        .call("GET", "/v1/trading/connectors", Some(token), None)
        .await
        .json()
        .await
        .expect("json");
    list.as_array()
        .expect("list")
        .iter()
        .find(|c| c["name"] == "binance")
        .cloned()
        .expect("binance listed")
}

pub(crate) fn strategy_body(name: &str, kind: &str, params: Value, mode: &str) -> Value {
    json!({
        "name": name,
        "kind": kind,
        "params": params,
        "connector": "binance",
        "mode": mode,
        "symbols": ["BTC-USDT"],
        "tick_interval_ms": 100,
        "risk": {"max_order_notional": "1000", "max_open_position": "1000", "max_orders_per_minute": 60, "daily_loss_limit": "1000"}
    })
}

fn buy_once(name: &str, qty: &str, mode: &str) -> Value {
    strategy_body(
        name,
        "threshold",
        json!({"buy_below": "1000000", "sell_above": "2000000", "order_qty": qty, "max_position": qty}),
        mode,
    )
}

pub(crate) async fn orders(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let v: Value = app
        .call(
            "GET",
            &format!("/v1/trading/strategies/{id}/orders"),
            Some(token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    v.as_array().cloned().unwrap_or_default()
}

async fn venue_mode_comes_from_the_setting_and_gates_live_strategies(backend: Backend) {
    let fake = FakeBinance::start().await;
    let app = spawn(backend, &fake).await;
    let admin = app.token_for("admin").await;
    let trader = app.token_for("trader").await;
    eventually(Duration::from_secs(5), "binance unconfigured", || async {
        let c = connector(&app, &trader).await;
        if c["mode"] == "unconfigured" {
            Ok(())
        } else {
            Err(c)
        }
    })
    .await;
    // Only an admin changes a venue's mode.
    let res = app
        .call(
            "PUT",
            "/v1/settings/integrations/default/binance",
            Some(&trader),
            Some(json!({"mode": "live"})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);
    set_mode(&app, &admin, "sandbox").await;
    let c = connector(&app, &trader).await;
    assert_eq!(c["mode"], "sandbox");
    assert_eq!(c["live"], false);
    // Live strategies need a live venue.
    let res = app
        .call(
            "POST",
            "/v1/trading/strategies",
            Some(&trader),
            Some(buy_once("too-early", "0.1", "live")),
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let problem: Value = res.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "mode", "{problem:#}");
    // An order under the venue's minimum notional (0.01 × 100 < 5) is never sent.
    let id = create(&app, &trader, buy_once("tiny", "0.01", "paper")).await;
    command(&app, &trader, "deploy", &id).await;
    eventually(
        Duration::from_secs(10),
        "a min_notional refusal",
        || async {
            let m = app.get("/metrics").await.text().await.expect("metrics");
            if m.contains("risk_rejections_total{reason=\"min_notional\"}") {
                Ok(())
            } else {
                Err("no refusal yet")
            }
        },
    )
    .await;
    assert_eq!(fake.count("POST", "/api/v3/order"), 0);
    assert!(orders(&app, &trader, &id).await.is_empty());
    command(&app, &trader, "stop", &id).await;
    wait_for(&app, &trader, &id, "stopped", |s| s["state"] == "stopped").await;
    // Quantities are rounded down to the venue's step before sending: 0.1000009 → 0.1.
    let mut body = strategy_body(
        "rounder",
        "threshold",
        json!({"buy_below": "1000000", "sell_above": "2000000", "order_qty": "0.1000009", "max_position": "1"}),
        "paper",
    );
    body["risk"]["max_orders_per_minute"] = json!(1);
    let rounder = create(&app, &trader, body).await;
    command(&app, &trader, "deploy", &rounder).await;
    eventually(Duration::from_secs(10), "one order sent", || async {
        let n = fake.count("POST", "/api/v3/order");
        if n == 1 { Ok(()) } else { Err(n) }
    })
    .await;
    let sent = fake
        .lock()
        .calls
        .iter()
        .find(|(m, _, _)| m == "POST")
        .map(|(_, _, q)| q.get("quantity").cloned())
        .expect("post");
    assert_eq!(sent.as_deref(), Some("0.1"));
    // Switching to live: audited with the mode change. The paper strategy still running on
    // the venue sends nothing more (refused with reason `venue_mode`).
    set_mode(&app, &admin, "live").await;
    eventually(Duration::from_secs(10), "a venue_mode refusal", || async {
        let m = app.get("/metrics").await.text().await.expect("metrics");
        if m.contains("risk_rejections_total{reason=\"venue_mode\"}") {
            Ok(())
        } else {
            Err("no refusal yet")
        }
    })
    .await;
    assert_eq!(fake.count("POST", "/api/v3/order"), 1);
    command(&app, &trader, "stop", &rounder).await;
    wait_for(&app, &trader, &rounder, "stopped", |s| {
        s["state"] == "stopped"
    })
    .await;
    let c = connector(&app, &trader).await;
    assert_eq!(c["mode"], "live");
    assert_eq!(c["live"], true);
    app.flush_audit().await;
    let audit: Value = app
        .call(
            "GET",
            "/v1/audit?action=settings.integration.put",
            Some(&admin),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert!(
        audit["items"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("mode sandbox -> live")),
        "{audit:#}"
    );
    // Now a paper strategy may not use it, and a live one may.
    let res = app
        .call(
            "POST",
            "/v1/trading/strategies",
            Some(&trader),
            Some(buy_once("paper-on-live", "0.1", "paper")),
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);
    create(&app, &trader, buy_once("real", "0.1", "live")).await;
    app.stop().await;
}

async fn a_grid_in_sandbox_trades_end_to_end(backend: Backend) {
    let fake = FakeBinance::start().await;
    let app = spawn(backend, &fake).await;
    let admin = app.token_for("admin").await;
    let trader = app.token_for("trader").await;
    set_mode(&app, &admin, "sandbox").await;
    // Fees in BNB (the discount): valued at the venue's BNBUSDT price, the holding untouched.
    fake.lock().fees_in_bnb = true;
    let body = strategy_body(
        "grid-bn",
        "grid",
        json!({"lower": "90", "upper": "110", "levels": 20, "order_qty": "0.1"}),
        "paper",
    );
    let id = create(&app, &trader, body).await;
    command(&app, &trader, "deploy", &id).await;
    wait_for(&app, &trader, &id, "live", |s| s["state"] == "live").await;
    // The first tick has seen the price (mid 100).
    eventually(Duration::from_secs(10), "first tick", || async {
        let n = fake.count("GET", "/api/v3/depth");
        if n >= 2 { Ok(()) } else { Err(n) }
    })
    .await;
    // Two steps down: buy 0.2 at the ask.
    fake.set_book(Decimal::new(9799, 2), Decimal::new(9801, 2));
    let s = wait_for(&app, &trader, &id, "holding 0.2", |s| {
        s["positions"][0]["qty"] == "0.2"
    })
    .await;
    assert_eq!(s["state"], "live");
    // Four steps up: sell what is held at the bid.
    fake.set_book(Decimal::new(10199, 2), Decimal::new(10201, 2));
    let s = wait_for(&app, &trader, &id, "flat again", |s| {
        s["positions"][0]["qty"] == "0"
    })
    .await;
    let realised: Decimal = s["pnl"]["realised"]
        .as_str()
        .expect("realised")
        .parse()
        .expect("decimal");
    // Bought at 98.01, sold at 101.99, 0.1 % fees on each side.
    assert!(realised > Decimal::new(7, 1), "{s:#}");
    let list = eventually(Duration::from_secs(10), "two filled orders", || async {
        let list = orders(&app, &trader, &id).await;
        if list.len() == 2 && list.iter().all(|o| o["status"] == "filled") {
            Ok(list)
        } else {
            Err(list)
        }
    })
    .await;
    // Sent with our client order ids, once each.
    let sent: Vec<String> = fake
        .lock()
        .orders
        .iter()
        .map(|o| o.client_order_id.clone())
        .collect();
    for o in &list {
        let cid = o["client_order_id"].as_str().expect("client id");
        assert_eq!(sent.iter().filter(|s| *s == cid).count(), 1, "{cid}");
    }
    // The symbol rules were loaded once and served from the cache after.
    assert_eq!(fake.count("GET", "/api/v3/exchangeInfo"), 1);
    // The venue's balances, as the venue reports them.
    let balances: Value = app
        .call(
            "GET",
            "/v1/trading/connectors/binance/balances",
            Some(&trader),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert!(
        balances
            .as_array()
            .expect("balances")
            .iter()
            .any(|b| b["asset"] == "USDT" && b["free"] != "10000"),
        "{balances:#}"
    );
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    for series in [
        "venue_requests_total{venue=\"binance\",endpoint=\"/api/v3/order\",status=\"200\"}",
        "venue_weight_used{venue=\"binance\"}",
        "venue_clock_offset_seconds{venue=\"binance\"}",
        "order_latency_seconds_bucket{venue=\"binance\"",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    app.stop().await;
}

async fn a_timed_out_order_is_found_by_client_id_and_a_ban_faults(backend: Backend) {
    let fake = FakeBinance::start().await;
    let app = spawn(backend, &fake).await;
    let admin = app.token_for("admin").await;
    let trader = app.token_for("trader").await;
    set_mode(&app, &admin, "sandbox").await;
    // The venue executes the order but answers after the client gave up.
    fake.lock()
        .script
        .push(Script::ExecuteThenStall(Duration::from_secs(2)));
    let id = create(&app, &trader, buy_once("once", "0.1", "paper")).await;
    command(&app, &trader, "deploy", &id).await;
    let list = eventually(
        Duration::from_secs(10),
        "the order found filled",
        || async {
            let list = orders(&app, &trader, &id).await;
            if list.len() == 1 && list[0]["status"] == "filled" {
                Ok(list)
            } else {
                Err(list)
            }
        },
    )
    .await;
    // Looked up by its client id, not sent again.
    let cid = list[0]["client_order_id"].as_str().expect("cid").to_owned();
    assert_eq!(fake.count("POST", "/api/v3/order"), 1);
    assert!(fake.lock().calls.iter().any(|(m, p, q)| m == "GET"
        && p == "/api/v3/order"
        && q.get("origClientOrderId") == Some(&cid)));
    // The venue kept 0.1 % of the BTC bought as its fee: we hold what it holds.
    wait_for(&app, &trader, &id, "holding 0.0999", |s| {
        s["positions"][0]["qty"] == "0.0999"
    })
    .await;
    // A 418 faults the strategy at once, with the reason.
    fake.lock().next_any = Some(Script::Banned(120));
    let s = wait_for(&app, &trader, &id, "faulted", |s| s["state"] == "faulted").await;
    assert!(
        s["state_reason"]
            .as_str()
            .is_some_and(|r| r.contains("banned")),
        "{s:#}"
    );
    app.stop().await;
}

async fn balances(app: &TestApp, token: &str) -> Vec<Value> {
    let v: Value = app
        .call(
            "GET",
            "/v1/trading/connectors/binance/balances",
            Some(token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    v.as_array().cloned().expect("balances")
}

fn asset<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["asset"] == name)
        .unwrap_or_else(|| panic!("{name} missing: {rows:#?}"))
}

async fn mismatch_events(app: &TestApp) -> Vec<Value> {
    let url = app.db.as_ref().expect("db").url().to_owned();
    let pool = ai_service::db::Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let rows: Vec<(String,)> = pool
        .fetch_all(
            "SELECT payload FROM outbox WHERE event_type = 'VenueBalanceMismatch' ORDER BY id",
        )
        .await
        .expect("outbox");
    pool.close().await;
    rows.iter()
        .map(|(p,)| serde_json::from_str(p).expect("json"))
        .collect()
}

async fn balances_are_reconciled_with_our_fills_and_a_drift_is_reported_once(backend: Backend) {
    let fake = FakeBinance::start().await;
    let app = spawn(backend, &fake).await;
    let admin = app.token_for("admin").await;
    let trader = app.token_for("trader").await;
    set_mode(&app, &admin, "sandbox").await;
    let id = create(&app, &trader, buy_once("recon", "0.1", "paper")).await;
    // The first check takes the baseline: what the venue holds now is what we expect.
    let rows = balances(&app, &trader).await;
    let btc = asset(&rows, "BTC");
    assert_eq!(
        (&btc["total"], &btc["expected"], &btc["drift"]),
        (&json!("1"), &json!("1"), &json!("0")),
        "{rows:#?}"
    );
    assert_eq!(btc["within_tolerance"], true);
    assert!(btc["reconciled_at"].is_string());
    // BNB is not an asset of the strategy: shown, not reconciled.
    assert!(
        rows.iter()
            .all(|r| r["asset"] != "BNB" || r["expected"].is_null())
    );
    // The strategy buys 0.1 BTC at 100.01; the venue keeps 0.1 % of the BTC as its fee.
    command(&app, &trader, "deploy", &id).await;
    wait_for(&app, &trader, &id, "holding 0.0999", |s| {
        s["positions"][0]["qty"] == "0.0999"
    })
    .await;
    // Our fills explain the venue's balances exactly: nothing to report.
    let rows = balances(&app, &trader).await;
    let (btc, usdt) = (asset(&rows, "BTC"), asset(&rows, "USDT"));
    assert_eq!(
        (&btc["total"], &btc["expected"]),
        (&json!("1.0999"), &json!("1.0999")),
        "{rows:#?}"
    );
    assert_eq!(
        (&usdt["total"], &usdt["expected"]),
        (&json!("9989.999"), &json!("9989.999")),
        "{rows:#?}"
    );
    assert!(
        rows.iter().all(|r| r["within_tolerance"] != false),
        "{rows:#?}"
    );
    assert!(mismatch_events(&app).await.is_empty());
    // Behind our back: 0.5 BTC more at the venue (a trade outside the service).
    *fake.lock().balances.get_mut("BTC").expect("btc") += Decimal::new(5, 1);
    let rows = balances(&app, &trader).await;
    let btc = asset(&rows, "BTC");
    assert_eq!(
        (&btc["drift"], &btc["within_tolerance"]),
        (&json!("0.5"), &json!(false)),
        "{rows:#?}"
    );
    // Once could be a fill in flight: shown, not reported yet.
    assert!(mismatch_events(&app).await.is_empty());
    // The next check agrees: reported.
    balances(&app, &trader).await;
    let events = mismatch_events(&app).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        (
            &events[0]["venue"],
            &events[0]["asset"],
            &events[0]["drift"]
        ),
        (&json!("binance"), &json!("BTC"), &json!("0.5"))
    );
    // Still different on the next check: reported once, not on every check.
    balances(&app, &trader).await;
    assert_eq!(mismatch_events(&app).await.len(), 1);
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    // (The metrics recorder is shared by the tests of this binary: series, not counts.)
    for series in [
        "venue_balance_mismatch_total{venue=\"binance\",asset=\"BTC\"}",
        "venue_balance_drift{venue=\"binance\",asset=\"BTC\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    app.flush_audit().await;
    let audit: Value = app
        .call(
            "GET",
            "/v1/audit?action=venue.balance_mismatch",
            Some(&admin),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        audit["items"].as_array().map(Vec::len),
        Some(1),
        "{audit:#}"
    );
    assert_eq!(audit["items"][0]["target"], "venue:binance:BTC");
    app.stop().await;
}

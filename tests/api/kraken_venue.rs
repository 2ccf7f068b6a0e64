//! The `kraken` connector inside the service, against the local fake: balances reconciled
//! with our fills (the fake's `BalanceEx` follows them, fees included) and a drift reported
//! once; and a rate-limit error in a 200 body, met by one of many strategies, pauses them all
//! without faulting any.

use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::kraken_fake::{API_KEY, FakeKraken, SECRET, Script};
use crate::on_both_backends;
use crate::trading_api::{command, create, strategy, wait_for};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    kraken_balances_are_reconciled_with_our_fills_and_a_drift_is_reported_once,
    a_kraken_rate_limit_pauses_many_strategies_and_faults_none
);

/// The pause after a rate-limit answer (ms).
const PAUSE_MS: u64 = 4_000;
/// Requests already on their way when the limit was answered may still arrive this long
/// after it; anything later in the pause would be a call we sent while paused.
const IN_FLIGHT: Duration = Duration::from_secs(1);

async fn spawn(backend: Backend, fake: &FakeKraken) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    settings.trading.kraken.base_url = fake.url.clone();
    settings.trading.kraken.rate_limit_pause_ms = PAUSE_MS;
    settings.trading.kraken.request_timeout_ms = 2_000;
    // Booting under a loaded test run can take longer than the default wait for the database.
    settings.database.boot_wait_ms = 30_000;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    app
}

async fn set_mode(app: &TestApp, admin: &str, mode: &str) {
    let res = app
        .call(
            "PUT",
            "/v1/settings/integrations/default/kraken",
            Some(admin),
            Some(json!({"mode": mode, "secrets": {"api_key": API_KEY, "api_secret": SECRET}})),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    eventually(Duration::from_secs(15), "kraken mode applied", || async {
        let list: Value = app
            .call("GET", "/v1/trading/connectors", Some(admin), None)
            .await
            .json()
            .await
            .expect("json");
        let k = list
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == "kraken").cloned())
            .unwrap_or_default();
        if k["mode"] == mode { Ok(()) } else { Err(k) }
    })
    .await;
}

fn buy_once(name: &str, qty: &str, mode: &str) -> Value {
    json!({
        "name": name,
        "kind": "threshold",
        "params": {"buy_below": "1000000", "sell_above": "2000000", "order_qty": qty, "max_position": qty},
        "connector": "kraken",
        "mode": mode,
        "symbols": ["BTC-USDT"],
        "tick_interval_ms": 200,
        "risk": {"max_order_notional": "1000", "max_open_position": "1000", "max_orders_per_minute": 60, "daily_loss_limit": "1000"}
    })
}

async fn balances(app: &TestApp, token: &str) -> Vec<Value> {
    let v: Value = app
        .call(
            "GET",
            "/v1/trading/connectors/kraken/balances",
            Some(token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    v.as_array()
        .cloned()
        .unwrap_or_else(|| panic!("balances: {v:#}"))
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
        .map(|(p,)| serde_json::from_str(p).expect("payload"))
        .collect()
}

async fn kraken_balances_are_reconciled_with_our_fills_and_a_drift_is_reported_once(
    backend: Backend,
) {
    let fake = FakeKraken::start().await;
    let app = spawn(backend, &fake).await;
    let admin = app.token_for("admin").await;
    let trader = app.token_for("trader").await;
    // Sandbox places nothing (validate=true): fills need a live venue and a live strategy.
    set_mode(&app, &admin, "live").await;
    let id = create(&app, &trader, buy_once("recon", "0.001", "live")).await;
    // The first check takes the baseline: what Kraken holds now (XXBT 0.5, USDT 2500.5).
    let rows = balances(&app, &trader).await;
    let (btc, usdt) = (asset(&rows, "BTC"), asset(&rows, "USDT"));
    assert_eq!(
        (&btc["total"], &btc["expected"], &btc["drift"]),
        (&json!("0.5"), &json!("0.5"), &json!("0")),
        "{rows:#?}"
    );
    assert_eq!(usdt["expected"], json!("2500.5"), "{rows:#?}");
    // USD (ZUSD) is not an asset of the strategy: shown, not reconciled.
    assert!(asset(&rows, "USD")["expected"].is_null(), "{rows:#?}");
    // A market buy of 0.001 at 91852.4: 91.8524 USDT, fee 0.4 % = 0.36741 USDT.
    command(&app, &trader, "deploy", &id).await;
    wait_for(&app, &trader, &id, "holding 0.001", |s| {
        s["positions"][0]["qty"] == "0.001"
    })
    .await;
    let rows = balances(&app, &trader).await;
    let (btc, usdt) = (asset(&rows, "BTC"), asset(&rows, "USDT"));
    assert_eq!(
        (&btc["total"], &btc["expected"]),
        (&json!("0.501"), &json!("0.501")),
        "{rows:#?}"
    );
    assert_eq!(
        (&usdt["total"], &usdt["expected"]),
        (&json!("2408.28019"), &json!("2408.28019")),
        "{rows:#?}"
    );
    assert!(
        rows.iter().all(|r| r["within_tolerance"] != false),
        "{rows:#?}"
    );
    assert!(mismatch_events(&app).await.is_empty());
    // Behind our back: 0.5 BTC more at Kraken.
    fake.lock()
        .balances
        .as_mut()
        .and_then(|b| b.get_mut("XXBT"))
        .expect("the fake's account moved with the fill")
        .0 += Decimal::new(5, 1);
    let rows = balances(&app, &trader).await;
    let btc = asset(&rows, "BTC");
    assert_eq!(
        (&btc["drift"], &btc["within_tolerance"]),
        (&json!("0.5"), &json!(false)),
        "{rows:#?}"
    );
    // Reported once, not on every check.
    balances(&app, &trader).await;
    let events = mismatch_events(&app).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        (
            &events[0]["venue"],
            &events[0]["asset"],
            &events[0]["drift"]
        ),
        (&json!("kraken"), &json!("BTC"), &json!("0.5"))
    );
    assert_eq!(fake.count("AddOrder"), 1);
    app.stop().await;
}

/// 10 strategies on Kraken in sandbox: each tick sends a `validate=true` AddOrder (nothing is
/// placed, so they keep asking): steady traffic from many strategies at once.
const STRATEGIES: usize = 10;

async fn a_kraken_rate_limit_pauses_many_strategies_and_faults_none(backend: Backend) {
    let fake = FakeKraken::start().await;
    let app = spawn(backend, &fake).await;
    let admin = app.token_for("admin").await;
    let trader = app.token_for("trader").await;
    set_mode(&app, &admin, "sandbox").await;
    let mut ids = Vec::new();
    for i in 0..STRATEGIES {
        let mut body = buy_once(&format!("many-{i:02}"), "0.001", "paper");
        body["tick_interval_ms"] = json!(500);
        let id = create(&app, &trader, body).await;
        command(&app, &trader, "deploy", &id).await;
        ids.push(id);
    }
    eventually(Duration::from_secs(60), "every strategy sent", || async {
        let n = fake.count("AddOrder");
        if n >= STRATEGIES { Ok(()) } else { Err(n) }
    })
    .await;
    // Whichever strategy sends next meets Kraken's rate limit in a 200 body.
    fake.lock()
        .script
        .push_back(Script::Error("EAPI:Rate limit exceeded"));
    let limited_at = eventually(Duration::from_secs(10), "the limit served", || async {
        fake.lock()
            .errors_served
            .first()
            .map(|(at, _)| *at)
            .ok_or("not yet")
    })
    .await;
    let pause_end = limited_at + Duration::from_millis(PAUSE_MS);
    eventually(
        Duration::from_secs(30),
        "orders sent again after the pause",
        || async {
            let s = fake.lock();
            let after = s
                .calls
                .iter()
                .zip(&s.call_times)
                .filter(|((m, _), at)| m == "AddOrder" && **at >= pause_end)
                .count();
            if after >= STRATEGIES {
                Ok(())
            } else {
                Err(after)
            }
        },
    )
    .await;
    let during: Vec<String> = {
        let s = fake.lock();
        s.calls
            .iter()
            .zip(&s.call_times)
            .filter(|(_, at)| **at > limited_at + IN_FLIGHT && **at < pause_end)
            .map(|((m, _), _)| m.clone())
            .collect()
    };
    assert!(during.is_empty(), "private calls while paused: {during:?}");
    // A pause is not a failure: no strategy faulted over the skipped ticks.
    for id in &ids {
        let s = strategy(&app, &trader, id).await;
        assert_eq!(s["state"], "live", "{s:#}");
    }
    app.stop().await;
}

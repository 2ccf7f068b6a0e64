//! Paper on real prices: `[trading.paper] price_source = "binance" | "kraken"` makes the paper
//! venue trade on the venue's public books (here a local fake serving recorded answers). A
//! strategy fills at those prices; when the feed goes stale nothing is traded on it and the
//! strategy faults naming the stale book; `/health/ready` and the metrics show the feed.

use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::market_data_fake::FakeMarket;
use crate::on_both_backends;
use crate::trading_api::{command, create, wait_for};
use ai_service::config::PriceSource;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    paper_fills_at_a_recorded_binance_book,
    paper_fills_at_a_recorded_kraken_book,
    a_stale_feed_stops_trading_with_the_reason
);

async fn app(backend: Backend, source: PriceSource, fake: &FakeMarket, stale_ms: u64) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    // A loaded machine can take a few seconds to create and migrate a Postgres database.
    settings.database.boot_wait_ms = 30_000;
    settings.trading.paper.price_source = source;
    let m = &mut settings.trading.market_data;
    m.binance_url = fake.url.clone();
    m.kraken_url = fake.url.clone();
    m.poll_interval_ms = 50;
    m.max_backoff_ms = 200;
    m.stale_after_ms = stale_ms;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    app
}

/// Buys 0.001 on every tick up to `max`: at ~92k USDT well inside the risk limits.
fn buyer(name: &str, max: &str) -> Value {
    json!({
        "name": name,
        "kind": "threshold",
        "params": {"buy_below": "1000000", "sell_above": "2000000", "order_qty": "0.001", "max_position": max},
        "connector": "paper",
        "symbols": ["BTC-USDT"],
        "tick_interval_ms": 100,
        "risk": {"max_order_notional": "1000", "max_open_position": "10000", "max_orders_per_minute": 60, "daily_loss_limit": "1000"}
    })
}

async fn filled_orders(app: &TestApp, token: &str, id: &str, n: usize) -> Vec<Value> {
    let path = format!("/v1/trading/strategies/{id}/orders");
    eventually(Duration::from_secs(10), "filled orders", || async {
        let orders: Value = app
            .call("GET", &path, Some(token), None)
            .await
            .json()
            .await
            .expect("json");
        let orders = orders.as_array().cloned().unwrap_or_default();
        if orders.len() == n && orders.iter().all(|o| o["status"] == "filled") {
            Ok(orders)
        } else {
            Err(orders)
        }
    })
    .await
}

async fn market_data_check(app: &TestApp) -> Value {
    let res = app.get("/health/ready").await;
    let body: Value = res.json().await.expect("json");
    body["optional"]["market_data"].clone()
}

async fn paper_fills_at_a_recorded_binance_book(backend: Backend) {
    let fake = FakeMarket::start().await;
    let app = app(backend, PriceSource::Binance, &fake, 10_000).await;
    let token = app.token_for("trader").await;
    let id = create(&app, &token, buyer("real-binance", "0.002")).await;
    command(&app, &token, "deploy", &id).await;

    // Market buys walk the recorded asks: 3.119 BTC at 91850.02 is the best level.
    for o in filled_orders(&app, &token, &id, 2).await {
        assert_eq!(o["avg_fill_price"], "91850.02", "{o:#}");
        assert_eq!(o["filled_qty"], "0.001");
    }
    let s = wait_for(&app, &token, &id, "holding 0.002", |s| {
        s["positions"][0]["qty"] == "0.002"
    })
    .await;
    assert_eq!(s["positions"][0]["avg_price"], "91850.02", "{s:#}");
    // Our symbol was asked for in Binance's spelling, at a depth Binance accepts.
    assert!(
        fake.lock()
            .requests
            .iter()
            .any(|r| r == "/api/v3/depth?symbol=BTCUSDT&limit=20"),
        "{:?}",
        fake.lock().requests
    );
    let check = market_data_check(&app).await;
    assert_eq!(check["status"], "up", "{check:#}");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    for series in [
        "venue_requests_total{venue=\"binance\",endpoint=\"depth\",status=\"200\"}",
        "market_data_book_age_seconds{venue=\"binance\",symbol=\"BTC-USDT\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    app.stop().await;
}

async fn paper_fills_at_a_recorded_kraken_book(backend: Backend) {
    let fake = FakeMarket::start().await;
    let app = app(backend, PriceSource::Kraken, &fake, 10_000).await;
    let token = app.token_for("trader").await;
    let id = create(&app, &token, buyer("real-kraken", "0.001")).await;
    command(&app, &token, "deploy", &id).await;

    // BTC-USDT is Kraken's XBTUSDT (from AssetPairs); the best recorded ask is 91852.4.
    let orders = filled_orders(&app, &token, &id, 1).await;
    assert_eq!(orders[0]["avg_fill_price"], "91852.4", "{orders:#?}");
    let requests = fake.lock().requests.clone();
    assert!(
        requests.iter().any(|r| r == "/0/public/AssetPairs?"),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r == "/0/public/Depth?pair=XBTUSDT&count=20"),
        "{requests:?}"
    );
    app.stop().await;
}

async fn a_stale_feed_stops_trading_with_the_reason(backend: Backend) {
    let fake = FakeMarket::start().await;
    let app = app(backend, PriceSource::Binance, &fake, 500).await;
    let token = app.token_for("trader").await;
    let id = create(&app, &token, buyer("stale", "0.001")).await;
    command(&app, &token, "deploy", &id).await;
    filled_orders(&app, &token, &id, 1).await;

    // The venue goes into maintenance: the last book ages past 500 ms.
    fake.lock().down = true;
    let faulted = wait_for(&app, &token, &id, "faulted", |s| s["state"] == "faulted").await;
    let reason = faulted["state_reason"].as_str().expect("reason");
    assert!(
        reason.contains("binance book for BTC-USDT is stale") && reason.contains("HTTP 503"),
        "{reason}"
    );
    // Nothing was traded on the old book.
    filled_orders(&app, &token, &id, 1).await;
    let check = market_data_check(&app).await;
    assert_eq!(check["status"], "down", "{check:#}");
    assert!(
        check["detail"]
            .as_str()
            .is_some_and(|d| d.contains("stale")),
        "{check:#}"
    );

    // Back up: the feed is fresh again and a new deploy trades.
    fake.lock().down = false;
    eventually(Duration::from_secs(10), "feed fresh", || async {
        let check = market_data_check(&app).await;
        if check["status"] == "up" {
            Ok(())
        } else {
            Err(check)
        }
    })
    .await;
    app.stop().await;
}

//! The Binance client and connector against the local fake (`binance_fake.rs`): signed
//! requests the fake verifies, orders placed / queried / cancelled by our client id, partial
//! fills from `myTrades`, filter and balance rejections, clock resync after -1021, unknown
//! outcomes (5xx, timeout after execution) found by client id, 429 pauses and 418 bans.

use crate::binance_fake::{API_KEY, API_SECRET, FakeBinance, Script};
use actors::trading::connector::ConnectorError;
use actors::trading::order::OrderStatus;
use actors::trading::types::{Liquidity, OrderKind, OrderRequest, Side};
use ai_service::adapters::binance::limits::Limits;
use ai_service::adapters::binance::{BinanceClient, ClientConfig, Credentials};
use rust_decimal::dec;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn client(fake: &FakeBinance) -> BinanceClient {
    client_with(fake, Duration::from_secs(3))
}

fn client_with(fake: &FakeBinance, max_weight_wait: Duration) -> BinanceClient {
    BinanceClient::new(
        ClientConfig {
            base_url: fake.url.clone(),
            recv_window_ms: 2000,
            request_timeout: Duration::from_millis(500),
            slowdown_at: 4800,
            max_weight_wait,
        },
        Some(Credentials {
            api_key: API_KEY.to_owned().into(),
            api_secret: API_SECRET.to_owned().into(),
        }),
        Arc::new(Mutex::new(Limits::default())),
    )
    .expect("client")
}

fn order(id: &str, side: Side, kind: OrderKind, qty: rust_decimal::Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: id.to_owned(),
        symbol: "BTC-USDT".to_owned(),
        side,
        kind,
        qty,
    }
}

#[actix_web::test]
async fn symbols_rules_book_and_balances_in_our_notation() {
    let fake = FakeBinance::start().await;
    let c = client(&fake);
    let rules = c.symbol_rules("BTC-USDT").await.expect("rules");
    assert_eq!(rules.symbol, "BTC-USDT");
    assert_eq!(rules.tick_size, dec!(0.01));
    assert_eq!(rules.step_size, dec!(0.00001));
    assert_eq!(rules.min_notional, dec!(5));
    // Asked of the venue as BTCUSDT.
    let calls = fake.lock().calls.clone();
    assert_eq!(
        calls[0].2.get("symbol").map(String::as_str),
        Some("BTCUSDT")
    );
    let book = c.order_book("BTC-USDT", 1).await.expect("book");
    assert_eq!(book.symbol, "BTC-USDT");
    assert_eq!(book.best_bid(), Some(dec!(99.99)));
    assert_eq!(book.best_ask(), Some(dec!(100.01)));
    assert_eq!(book.bids.len(), 1);
    assert!(matches!(
        c.symbol_rules("DOGE-XYZ").await,
        Err(ConnectorError::Rejected(_))
    ));
    // Signed: the fake checked key, signature and timestamp. Empty assets are left out.
    let balances = c.balances().await.expect("balances");
    assert_eq!(balances.get("USDT"), Some(&dec!(10000)));
    assert!(!balances.contains_key("BNB"));
}

#[actix_web::test]
async fn place_query_partial_fills_and_cancel_by_client_id() {
    let fake = FakeBinance::start().await;
    let c = client(&fake);
    // A resting limit buy.
    let r = c
        .place(&order(
            "ais-rest-1",
            Side::Buy,
            OrderKind::Limit { price: dec!(95) },
            dec!(0.5),
        ))
        .await
        .expect("placed");
    assert_eq!(r.status, OrderStatus::Open);
    assert_eq!(r.client_order_id, "ais-rest-1");
    let sent = fake
        .lock()
        .calls
        .iter()
        .find(|c| c.0 == "POST")
        .cloned()
        .expect("post");
    assert_eq!(sent.2["newClientOrderId"], "ais-rest-1");
    assert_eq!(sent.2["symbol"], "BTCUSDT");
    assert_eq!(sent.2["timeInForce"], "GTC");
    // Partly filled at the venue: the status shows it, with the fill from myTrades.
    fake.fill("ais-rest-1", dec!(0.2));
    let r = c
        .order_status("BTC-USDT", "ais-rest-1")
        .await
        .expect("status")
        .expect("known");
    assert_eq!(r.status, OrderStatus::PartiallyFilled);
    assert_eq!(r.filled_qty, dec!(0.2));
    assert_eq!(r.fills.len(), 1);
    assert_eq!(r.fills[0].liquidity, Liquidity::Maker);
    // The fee was charged in BTC (the asset received) and is valued in USDT at the fill price.
    assert_eq!(r.fills[0].fee, dec!(0.0002) * dec!(95));
    fake.fill("ais-rest-1", dec!(0.1));
    let r = c.cancel("BTC-USDT", "ais-rest-1").await.expect("cancelled");
    assert_eq!(r.status, OrderStatus::Cancelled);
    assert_eq!(r.filled_qty, dec!(0.3));
    assert_eq!(r.fills.len(), 2);
    // Cancelling again: not open any more, reported as it is.
    let again = c.cancel("BTC-USDT", "ais-rest-1").await.expect("terminal");
    assert_eq!(again.status, OrderStatus::Cancelled);
    // Never seen: -2013 is `None`, -2011 `UnknownOrder`.
    assert_eq!(c.order_status("BTC-USDT", "ais-nope").await, Ok(None));
    assert!(matches!(
        c.cancel("BTC-USDT", "ais-nope").await,
        Err(ConnectorError::UnknownOrder(_))
    ));
    // A market order fills at once, its fills in the FULL response.
    let m = c
        .place(&order(
            "ais-mkt-1",
            Side::Sell,
            OrderKind::Market,
            dec!(0.1),
        ))
        .await
        .expect("market");
    assert_eq!(m.status, OrderStatus::Filled);
    assert_eq!(m.fills[0].price, dec!(99.99));
    assert_eq!(m.fills[0].liquidity, Liquidity::Taker);
}

#[actix_web::test]
async fn filter_failures_and_insufficient_balance_are_rejections() {
    let fake = FakeBinance::start().await;
    let c = client(&fake);
    // Sent anyway (the engine's gate would have refused it): -1013.
    let r = c
        .place(&order(
            "ais-small",
            Side::Buy,
            OrderKind::Limit { price: dec!(95) },
            dec!(0.01),
        ))
        .await;
    match r {
        Err(ConnectorError::Rejected(why)) => assert!(why.contains("-1013"), "{why}"),
        other => panic!("expected a -1013 rejection, got {other:?}"),
    }
    let r = c
        .place(&order("ais-rich", Side::Buy, OrderKind::Market, dec!(1000)))
        .await;
    match r {
        Err(ConnectorError::Rejected(why)) => {
            assert!(
                why.contains("-2010") && why.contains("insufficient balance"),
                "{why}"
            )
        }
        other => panic!("expected a -2010 rejection, got {other:?}"),
    }
}

#[actix_web::test]
async fn timestamp_outside_recv_window_resyncs_the_clock_and_retries_once() {
    let fake = FakeBinance::start().await;
    let c = client(&fake);
    c.balances().await.expect("first call syncs");
    assert_eq!(fake.count("GET", "/api/v3/time"), 1);
    // The venue's clock jumps ten minutes ahead: our next timestamp is stale.
    fake.lock().clock_offset_ms = 600_000;
    c.balances().await.expect("retried after resync");
    assert_eq!(fake.count("GET", "/api/v3/time"), 2);
    assert_eq!(fake.count("GET", "/api/v3/account"), 3);
    let offset = c.sync_clock().await.expect("sync");
    assert!((599_000..=601_000).contains(&offset), "{offset}");
}

#[actix_web::test]
async fn unknown_outcomes_are_resolved_by_client_id_never_by_placing_again() {
    let fake = FakeBinance::start().await;
    let c = client(&fake);
    // 5xx without execution: unknown to us. While the request could still arrive (within
    // recvWindow) "no such order" is not final; after it, the order never arrived.
    fake.lock().script.push(Script::Status(503));
    let r = c
        .place(&order("ais-503", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await;
    assert!(matches!(r, Err(ConnectorError::Unavailable(_))), "{r:?}");
    assert!(matches!(
        c.order_status("BTC-USDT", "ais-503").await,
        Err(ConnectorError::Unavailable(_))
    ));
    crate::helpers::eventually(Duration::from_secs(10), "final answer", || async {
        match c.order_status("BTC-USDT", "ais-503").await {
            Ok(None) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    // Executed, then 500: the lookup finds it filled.
    fake.lock().script.push(Script::ExecuteThen500);
    let r = c
        .place(&order("ais-500", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await;
    assert!(matches!(r, Err(ConnectorError::Unavailable(_))), "{r:?}");
    let found = c
        .order_status("BTC-USDT", "ais-500")
        .await
        .expect("status")
        .expect("found");
    assert_eq!(found.status, OrderStatus::Filled);
    assert_eq!(found.fills.len(), 1);
    // Executed, but the answer comes after our timeout.
    fake.lock()
        .script
        .push(Script::ExecuteThenStall(Duration::from_secs(2)));
    let r = c
        .place(&order("ais-slow", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await;
    match r {
        Err(ConnectorError::Unavailable(why)) => assert!(why.contains("timed out"), "{why}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let found = c
        .order_status("BTC-USDT", "ais-slow")
        .await
        .expect("status")
        .expect("found");
    assert_eq!(found.status, OrderStatus::Filled);
    let placed = fake
        .lock()
        .orders
        .iter()
        .filter(|o| o.client_order_id == "ais-slow")
        .count();
    assert_eq!(placed, 1);
}

#[actix_web::test]
async fn a_429_pauses_every_call_and_a_418_bans() {
    let fake = FakeBinance::start().await;
    let c = client(&fake);
    c.order_book("BTC-USDT", 5).await.expect("book");
    fake.lock().script.push(Script::TooMany(1));
    let r = c
        .place(&order("ais-429", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await;
    assert!(matches!(r, Err(ConnectorError::Paused(_))), "{r:?}");
    // Paused: the next call (another endpoint) does not reach the venue.
    let before = fake.lock().calls.len();
    let r = c.order_book("BTC-USDT", 5).await;
    match r {
        Err(ConnectorError::Paused(why)) => assert!(why.contains("rate limited"), "{why}"),
        other => panic!("expected the pause, got {other:?}"),
    }
    assert_eq!(fake.lock().calls.len(), before);
    // After Retry-After, calls go through again.
    crate::helpers::eventually(Duration::from_secs(5), "pause over", || async {
        c.order_book("BTC-USDT", 5).await.map(|_| ())
    })
    .await;
    // A 418: banned, and nothing is sent while it lasts.
    fake.lock().script.push(Script::Banned(120));
    let r = c
        .place(&order("ais-418", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await;
    assert!(matches!(r, Err(ConnectorError::Banned(_))), "{r:?}");
    let before = fake.lock().calls.len();
    assert!(matches!(
        c.order_book("BTC-USDT", 5).await,
        Err(ConnectorError::Banned(_))
    ));
    assert_eq!(fake.lock().calls.len(), before);
}

#[actix_web::test]
async fn fees_are_reported_in_the_asset_charged_and_valued_when_the_venue_prices_it() {
    let fake = FakeBinance::start().await;
    let c = client(&fake);
    // Base-asset fee: 0.1 % of the BTC received, valued at the fill price.
    let r = c
        .place(&order("ais-fee-1", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await
        .expect("placed");
    let f = &r.fills[0];
    assert_eq!((f.fee_amount, f.fee_asset.as_str()), (dec!(0.0001), "BTC"));
    assert_eq!(f.fee, dec!(0.0001) * dec!(100.01));
    assert!(f.fee_valued);
    // BNB fee: valued at BNBUSDT's mid price from the venue's book ticker.
    fake.lock().fees_in_bnb = true;
    let r = c
        .place(&order("ais-fee-2", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await
        .expect("placed");
    let f = &r.fills[0];
    let bnb = (dec!(0.1) * dec!(100.01) * dec!(0.00075) / dec!(600)).round_dp(8);
    assert_eq!((f.fee_amount, f.fee_asset.as_str()), (bnb, "BNB"));
    assert_eq!(f.fee, (bnb * dec!(600)).normalize());
    assert!(f.fee_valued);
    assert_eq!(fake.count("GET", "/api/v3/ticker/bookTicker"), 1);
    // Looked up again through myTrades: the price is reused, not asked per fill.
    let again = c
        .order_status("BTC-USDT", "ais-fee-2")
        .await
        .expect("status")
        .expect("known");
    assert_eq!(again.fills[0].fee, f.fee);
    assert_eq!(fake.count("GET", "/api/v3/ticker/bookTicker"), 1);
}

#[actix_web::test]
async fn a_fee_in_an_asset_the_venue_cannot_price_is_reported_unvalued() {
    let fake = FakeBinance::start().await;
    fake.lock().fees_in_bnb = true;
    fake.lock().tickers.clear();
    let c = client(&fake);
    let r = c
        .place(&order("ais-fee-3", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await
        .expect("placed");
    let f = &r.fills[0];
    assert_eq!(f.fee_asset, "BNB");
    assert!(f.fee_amount > dec!(0));
    // Not valued, and said so: never a silent zero.
    assert!(!f.fee_valued);
    assert_eq!(f.fee, dec!(0));
}

#[actix_web::test]
async fn a_weight_wait_longer_than_a_call_may_take_refuses_the_order_unsent() {
    let fake = FakeBinance::start().await;
    // No wait is short enough: whatever is left of the minute, the call is refused at once
    // (in the service the cap is `weight_wait_max_ms`, under the engine's 10 s call timeout).
    let c = client_with(&fake, Duration::ZERO);
    // The venue reports 5001 of 6000 used: past the 80 % slowdown mark.
    {
        let mut st = fake.lock();
        st.weight = 5000;
        st.weight_pinned = true;
    }
    c.order_book("BTC-USDT", 5).await.expect("book");
    let r = c
        .place(&order("ais-busy", Side::Buy, OrderKind::Market, dec!(0.1)))
        .await;
    // A refusal (known outcome: nothing was sent), not `Unavailable` (unknown outcome).
    match r {
        Err(ConnectorError::Rejected(why)) => assert!(why.contains("busy"), "{why}"),
        other => panic!("expected a busy refusal, got {other:?}"),
    }
    assert_eq!(fake.count("POST", "/api/v3/order"), 0);
    // Other calls are merely unavailable for now (retryable).
    assert!(matches!(
        c.order_book("BTC-USDT", 5).await,
        Err(ConnectorError::Unavailable(why)) if why.contains("busy")
    ));
}

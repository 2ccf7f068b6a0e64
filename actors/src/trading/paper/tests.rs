//! Behaviour of `PaperExchange` through the `Connector` port, on a hand-set feed, an in-memory
//! store and a fixed clock.

use super::*;
use crate::trading::connector::{Connector, ConnectorError};
use crate::trading::order::OrderStatus;
use crate::trading::types::{Fees, Level, Liquidity, OrderBook, OrderKind, OrderRequest, Side};
use rust_decimal::{Decimal, dec};
use std::collections::BTreeMap;
use std::sync::Arc;

const SYMBOL: &str = "BTC-USDT";

struct Venue {
    ex: PaperExchange,
    feed: Arc<StaticFeed>,
    store: Arc<MemoryPaperStore>,
}

fn fees() -> Fees {
    Fees {
        maker: dec!(0.0005),
        taker: dec!(0.001),
    }
}

fn levels(l: &[(Decimal, Decimal)]) -> Vec<Level> {
    l.iter().map(|&(price, qty)| Level { price, qty }).collect()
}

fn book(bids: &[(Decimal, Decimal)], asks: &[(Decimal, Decimal)], ts_ms: i64) -> OrderBook {
    OrderBook {
        symbol: SYMBOL.into(),
        bids: levels(bids),
        asks: levels(asks),
        ts_ms,
    }
}

/// Bids 99×1, 98×2; asks 101×1, 102×2.
fn default_book() -> OrderBook {
    book(
        &[(dec!(99), dec!(1)), (dec!(98), dec!(2))],
        &[(dec!(101), dec!(1)), (dec!(102), dec!(2))],
        1,
    )
}

fn config(balances: &[(&str, Decimal)]) -> PaperConfig {
    PaperConfig {
        name: "paper".into(),
        fees: fees(),
        initial_balances: balances.iter().map(|&(a, v)| (a.to_owned(), v)).collect(),
        depth: 10,
    }
}

async fn reopen(
    feed: Arc<StaticFeed>,
    store: Arc<MemoryPaperStore>,
    balances: &[(&str, Decimal)],
) -> Venue {
    let ex = PaperExchange::open(
        config(balances),
        feed.clone(),
        store.clone(),
        Arc::new(|| 1_000),
    )
    .await
    .expect("store answers");
    Venue { ex, feed, store }
}

async fn venue(balances: &[(&str, Decimal)]) -> Venue {
    let feed = Arc::new(StaticFeed::new());
    feed.set(default_book());
    reopen(feed, Arc::new(MemoryPaperStore::new()), balances).await
}

fn req(id: &str, side: Side, kind: OrderKind, qty: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        symbol: SYMBOL.into(),
        side,
        kind,
        qty,
    }
}

fn market(id: &str, side: Side, qty: Decimal) -> OrderRequest {
    req(id, side, OrderKind::Market, qty)
}

fn limit(id: &str, side: Side, qty: Decimal, price: Decimal) -> OrderRequest {
    req(id, side, OrderKind::Limit { price }, qty)
}

async fn free(v: &Venue, asset: &str) -> Decimal {
    let b: BTreeMap<_, _> = v.ex.balances().await.expect("balances");
    b.get(asset).copied().unwrap_or_default()
}

#[tokio::test]
async fn market_buy_walks_depth_with_exact_fees() {
    let v = venue(&[("USDT", dec!(10000))]).await;
    let r =
        v.ex.place(&market("m1", Side::Buy, dec!(2)))
            .await
            .expect("placed");
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.filled_qty, dec!(2));
    let fills: Vec<_> = r
        .fills
        .iter()
        .map(|f| (f.price, f.qty, f.fee, f.liquidity))
        .collect();
    assert_eq!(
        fills,
        [
            (dec!(101), dec!(1), dec!(0.101), Liquidity::Taker),
            (dec!(102), dec!(1), dec!(0.102), Liquidity::Taker),
        ]
    );
    let notional: Decimal = r.fills.iter().map(|f| f.qty * f.price).sum();
    assert_eq!(notional / r.filled_qty, dec!(101.5), "VWAP");
    assert_eq!(free(&v, "BTC").await, dec!(2));
    assert_eq!(free(&v, "USDT").await, dec!(9796.797)); // 10000 − 203 − 0.203
    assert_eq!(r.venue_order_id, "paper-o-1");
    assert_eq!(r.fills[0].trade_id, "paper-2");
    assert_eq!(r.fills[1].trade_id, "paper-3");
}

#[tokio::test]
async fn market_sell_walks_bids() {
    let v = venue(&[("BTC", dec!(5))]).await;
    let r =
        v.ex.place(&market("s1", Side::Sell, dec!(3)))
            .await
            .expect("placed");
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.fills.iter().map(|f| f.fee).sum::<Decimal>(), dec!(0.295));
    assert_eq!(free(&v, "BTC").await, dec!(2));
    assert_eq!(free(&v, "USDT").await, dec!(294.705)); // 99 + 196 − 0.295
}

#[tokio::test]
async fn liquidity_taken_is_gone_until_the_book_changes() {
    let v = venue(&[("USDT", dec!(10000))]).await;
    v.ex.place(&market("a", Side::Buy, dec!(1)))
        .await
        .expect("placed");
    let b = v.ex.order_book(SYMBOL, 5).await.expect("book");
    assert_eq!(b.best_ask(), Some(dec!(102)), "the 101 level was ours");
    v.feed.set(OrderBook {
        ts_ms: 2,
        ..default_book()
    });
    let b = v.ex.order_book(SYMBOL, 1).await.expect("book");
    assert_eq!((b.best_ask(), b.asks.len()), (Some(dec!(101)), 1));
}

#[tokio::test]
async fn partial_ioc_expires() {
    let v = venue(&[("USDT", dec!(10000))]).await;
    let r =
        v.ex.place(&market("m", Side::Buy, dec!(5)))
            .await
            .expect("placed");
    assert_eq!(r.status, OrderStatus::Expired);
    assert_eq!(r.filled_qty, dec!(3));
    assert_eq!(r.reason.as_deref(), Some("no liquidity"));
    v.feed.set(book(&[], &[], 2));
    let r =
        v.ex.place(&market("m2", Side::Buy, dec!(1)))
            .await
            .expect("placed");
    assert_eq!(
        (r.status, r.filled_qty),
        (OrderStatus::Expired, Decimal::ZERO)
    );
}

#[tokio::test]
async fn insufficient_funds() {
    let v = venue(&[("USDT", dec!(150))]).await;
    let r =
        v.ex.place(&market("s", Side::Sell, dec!(1)))
            .await
            .expect("placed");
    assert_eq!(r.status, OrderStatus::Rejected);
    assert_eq!(r.reason.as_deref(), Some("insufficient BTC balance"));
    let r =
        v.ex.place(&limit("l", Side::Buy, dec!(2), dec!(100)))
            .await
            .expect("placed");
    assert_eq!(r.status, OrderStatus::Rejected);
    assert_eq!(r.reason.as_deref(), Some("insufficient USDT balance"));
    // 1 @ 101 costs 101.101; 48.899 left buys 48.899 / (102 × 1.001) = 0.47892303…
    let r =
        v.ex.place(&market("b", Side::Buy, dec!(2)))
            .await
            .expect("placed");
    assert_eq!(r.status, OrderStatus::Expired);
    assert_eq!(r.reason.as_deref(), Some("insufficient USDT balance"));
    assert_eq!(r.filled_qty, dec!(1.47892303));
    assert!(free(&v, "USDT").await >= Decimal::ZERO);
    assert_eq!(free(&v, "BTC").await, dec!(1.47892303));
    let r =
        v.ex.place(&market("z", Side::Buy, dec!(0)))
            .await
            .expect("placed");
    assert_eq!(
        (r.status, r.reason.as_deref()),
        (OrderStatus::Rejected, Some("qty must be positive"))
    );
}

#[tokio::test]
async fn limit_rests_then_fills_as_maker() {
    let v = venue(&[("USDT", dec!(1000))]).await;
    let r =
        v.ex.place(&limit("l", Side::Buy, dec!(1), dec!(100)))
            .await
            .expect("placed");
    assert_eq!((r.status, r.filled_qty), (OrderStatus::Open, Decimal::ZERO));
    assert_eq!(free(&v, "USDT").await, dec!(899.9), "reserves 100 × 1.001");
    // The same book again changes nothing.
    let r =
        v.ex.order_status("BTC-USDT", "l")
            .await
            .expect("status")
            .expect("known");
    assert_eq!(r.status, OrderStatus::Open);

    v.feed.set(book(
        &[(dec!(98), dec!(1))],
        &[(dec!(99.5), dec!(0.4)), (dec!(100.5), dec!(5))],
        2,
    ));
    let r =
        v.ex.order_status("BTC-USDT", "l")
            .await
            .expect("status")
            .expect("known");
    assert_eq!(
        (r.status, r.filled_qty),
        (OrderStatus::PartiallyFilled, dec!(0.4))
    );
    let f = &r.fills[0];
    assert_eq!(
        (f.price, f.fee, f.liquidity),
        (dec!(100), dec!(0.02), Liquidity::Maker)
    );
    assert_eq!(free(&v, "USDT").await, dec!(899.92)); // 1000 − 40.02 − 0.6 × 100.1

    v.feed
        .set(book(&[(dec!(98), dec!(1))], &[(dec!(100), dec!(3))], 3));
    v.ex.order_book(SYMBOL, 5).await.expect("book");
    let r =
        v.ex.order_status("BTC-USDT", "l")
            .await
            .expect("status")
            .expect("known");
    assert_eq!(
        (r.status, r.filled_qty, r.fills.len()),
        (OrderStatus::Filled, dec!(1), 2)
    );
    assert_eq!(free(&v, "USDT").await, dec!(899.95)); // 1000 − 100 − 0.05
    assert_eq!(free(&v, "BTC").await, dec!(1));
    let b = v.ex.order_book(SYMBOL, 5).await.expect("book");
    assert_eq!(
        b.asks[0].qty,
        dec!(2.4),
        "our maker fill took 0.6 of the level"
    );
}

#[tokio::test]
async fn marketable_limit_takes_then_rests() {
    let v = venue(&[("BTC", dec!(4))]).await;
    let r =
        v.ex.place(&limit("l", Side::Sell, dec!(3), dec!(98.5)))
            .await
            .expect("placed");
    assert_eq!(
        (r.status, r.filled_qty),
        (OrderStatus::PartiallyFilled, dec!(1))
    );
    assert_eq!(r.fills[0].liquidity, Liquidity::Taker);
    assert_eq!(free(&v, "BTC").await, dec!(1), "2 reserved");
    assert_eq!(free(&v, "USDT").await, dec!(98.901));
}

#[tokio::test]
async fn best_priced_resting_order_fills_first() {
    let v = venue(&[("USDT", dec!(1000))]).await;
    v.ex.place(&limit("low", Side::Buy, dec!(1), dec!(99.5)))
        .await
        .expect("placed");
    v.ex.place(&limit("high", Side::Buy, dec!(1), dec!(100)))
        .await
        .expect("placed");
    v.feed.set(book(&[], &[(dec!(99), dec!(1.5))], 2));
    v.ex.order_book(SYMBOL, 5).await.expect("book");
    let high =
        v.ex.order_status("BTC-USDT", "high")
            .await
            .expect("status")
            .expect("known");
    let low =
        v.ex.order_status("BTC-USDT", "low")
            .await
            .expect("status")
            .expect("known");
    assert_eq!(
        (high.status, high.filled_qty),
        (OrderStatus::Filled, dec!(1))
    );
    assert_eq!(
        (low.status, low.filled_qty),
        (OrderStatus::PartiallyFilled, dec!(0.5))
    );
}

#[tokio::test]
async fn place_is_idempotent() {
    let v = venue(&[("USDT", dec!(10000))]).await;
    let first =
        v.ex.place(&market("m", Side::Buy, dec!(1)))
            .await
            .expect("placed");
    v.feed.set(OrderBook {
        ts_ms: 2,
        ..default_book()
    });
    let again =
        v.ex.place(&market("m", Side::Buy, dec!(1)))
            .await
            .expect("placed");
    assert_eq!(first, again);
    assert_eq!(free(&v, "BTC").await, dec!(1));
    let open =
        v.ex.place(&limit("l", Side::Buy, dec!(1), dec!(90)))
            .await
            .expect("placed");
    let again =
        v.ex.place(&limit("l", Side::Buy, dec!(2), dec!(95)))
            .await
            .expect("placed");
    assert_eq!(open, again);
}

#[tokio::test]
async fn cancel_releases_the_reservation() {
    let v = venue(&[("USDT", dec!(1000))]).await;
    v.ex.place(&limit("l", Side::Buy, dec!(2), dec!(100)))
        .await
        .expect("placed");
    assert_eq!(free(&v, "USDT").await, dec!(799.8));
    let r = v.ex.cancel("BTC-USDT", "l").await.expect("cancelled");
    assert_eq!(r.status, OrderStatus::Cancelled);
    assert_eq!(free(&v, "USDT").await, dec!(1000));
    assert_eq!(
        v.ex.cancel("BTC-USDT", "l").await.expect("terminal"),
        r,
        "terminal: unchanged"
    );
    assert_eq!(
        v.ex.cancel("BTC-USDT", "nope").await,
        Err(ConnectorError::UnknownOrder("nope".into()))
    );
    assert_eq!(v.ex.order_status("BTC-USDT", "nope").await, Ok(None));
}

#[tokio::test]
async fn bad_symbols_are_errors() {
    let v = venue(&[("USDT", dec!(1000))]).await;
    let mut r = market("x", Side::Buy, dec!(1));
    r.symbol = "ETH-USDT".into();
    assert_eq!(
        v.ex.place(&r).await,
        Err(ConnectorError::Rejected("unknown symbol".into()))
    );
    r.symbol = "BTCUSDT".into();
    assert!(matches!(
        v.ex.place(&r).await,
        Err(ConnectorError::Rejected(_))
    ));
    assert!(matches!(
        v.ex.order_book("ETH-USDT", 5).await,
        Err(ConnectorError::Rejected(_))
    ));
    assert_eq!(
        v.ex.order_status("BTC-USDT", "x").await,
        Ok(None),
        "no order was created"
    );
}

#[tokio::test]
async fn restart_keeps_balances_orders_and_ids() {
    let v = venue(&[("USDT", dec!(1000))]).await;
    let m =
        v.ex.place(&market("m", Side::Buy, dec!(1)))
            .await
            .expect("placed");
    v.ex.place(&limit("l", Side::Buy, dec!(1), dec!(100)))
        .await
        .expect("placed");
    let before = v.ex.balances().await.expect("balances");
    // Other initial balances: ignored, the store already knows this venue.
    let v = reopen(v.feed, v.store, &[("USDT", dec!(5))]).await;
    assert_eq!(v.ex.balances().await.expect("balances"), before);
    assert_eq!(
        v.ex.place(&market("m", Side::Buy, dec!(1))).await,
        Ok(m.clone())
    );
    v.feed.set(book(&[], &[(dec!(100), dec!(5))], 2));
    let r =
        v.ex.order_status("BTC-USDT", "l")
            .await
            .expect("status")
            .expect("restored");
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.venue_order_id, "paper-o-3");
    let mut ids: Vec<_> = m
        .fills
        .iter()
        .chain(&r.fills)
        .map(|f| f.trade_id.clone())
        .collect();
    ids.dedup();
    assert_eq!(ids, ["paper-2", "paper-4"]);
}

#[tokio::test]
async fn failed_save_rolls_back() {
    let v = venue(&[("USDT", dec!(1000))]).await;
    let before = v.ex.balances().await.expect("balances");
    v.store.fail_next_save();
    let r = v.ex.place(&market("m", Side::Buy, dec!(1))).await;
    assert!(matches!(r, Err(ConnectorError::Unavailable(_))), "{r:?}");
    assert_eq!(v.ex.balances().await.expect("balances"), before);
    assert_eq!(v.ex.order_status("BTC-USDT", "m").await, Ok(None));
    let r =
        v.ex.place(&market("m", Side::Buy, dec!(1)))
            .await
            .expect("retried");
    assert_eq!(
        (r.status, r.fills[0].price),
        (OrderStatus::Filled, dec!(101)),
        "liquidity back"
    );

    v.ex.place(&limit("l", Side::Buy, dec!(1), dec!(100)))
        .await
        .expect("placed");
    v.store.fail_next_save();
    assert!(matches!(
        v.ex.cancel("BTC-USDT", "l").await,
        Err(ConnectorError::Unavailable(_))
    ));
    let r =
        v.ex.order_status("BTC-USDT", "l")
            .await
            .expect("status")
            .expect("known");
    assert_eq!(r.status, OrderStatus::Open, "cancel not applied");
}

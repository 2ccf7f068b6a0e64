//! The strategy engine against the in-memory trading store and a paper venue: the same
//! guarantees the SQL-backed tests check, without a database.

use crate::fixtures::{NOW_MS, SYMBOL, deps, paper, threshold};
use actors::TraceId;
use actors::testkit::{FlakyVenue, MemoryTradingStore};
use actors::trading::connector::{Connector, ConnectorError};
use actors::trading::fsm::StrategyState;
use actors::trading::order::OrderStatus;
use actors::trading::runtime::{Engine, OrderRecord, RuntimeConfig, TradingStore};
use actors::trading::types::{Fees, OrderBook, OrderKind, OrderReport, OrderRequest, Side};
use async_trait::async_trait;
use rust_decimal::{Decimal, dec};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A venue that, when asked to place an order, first looks the order up in the store.
struct CheckingVenue {
    inner: Arc<dyn Connector>,
    store: Arc<MemoryTradingStore>,
    seen_at_place: Mutex<Vec<Option<OrderStatus>>>,
}

#[async_trait]
impl Connector for CheckingVenue {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn is_live(&self) -> bool {
        false
    }
    fn fees(&self) -> Fees {
        self.inner.fees()
    }
    async fn order_book(&self, symbol: &str, depth: usize) -> Result<OrderBook, ConnectorError> {
        self.inner.order_book(symbol, depth).await
    }
    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        self.inner.balances().await
    }
    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        let stored = self
            .store
            .orders("s-1")
            .into_iter()
            .find(|o| o.client_order_id == order.client_order_id)
            .map(|o| o.status);
        self.seen_at_place
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(stored);
        self.inner.place(order).await
    }
    async fn cancel(&self, symbol: &str, id: &str) -> Result<OrderReport, ConnectorError> {
        self.inner.cancel(symbol, id).await
    }
    async fn order_status(
        &self,
        symbol: &str,
        id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        self.inner.order_status(symbol, id).await
    }
}

async fn engine(store: &Arc<MemoryTradingStore>, venue: Arc<dyn Connector>) -> Engine {
    let (spec, status) = store.load("s-1").await.expect("load").expect("strategy");
    Engine::load(
        spec,
        status.state,
        None,
        deps(store, vec![("paper", venue)], RuntimeConfig::default()),
        TraceId::new("t-engine"),
    )
    .await
    .expect("engine")
}

fn store_with(max_order_notional: Decimal) -> Arc<MemoryTradingStore> {
    let store = Arc::new(MemoryTradingStore::new());
    store.add(
        threshold("s-1", "paper", max_order_notional),
        StrategyState::Live,
    );
    store
}

#[actix_rt::test]
async fn an_order_is_recorded_before_the_venue_sees_it_and_its_fill_moves_the_position() {
    let store = store_with(dec!(1000));
    let venue = Arc::new(CheckingVenue {
        inner: paper("paper").await,
        store: Arc::clone(&store),
        seen_at_place: Mutex::default(),
    });
    let mut e = engine(&store, Arc::clone(&venue) as Arc<dyn Connector>).await;

    let summary = e.tick().await.expect("tick");

    assert_eq!(summary.orders.len(), 1);
    assert_eq!(
        *venue.seen_at_place.lock().expect("lock"),
        [Some(OrderStatus::PendingSubmit)],
        "the venue must find the order recorded as pending_submit"
    );
    let orders = store.orders("s-1");
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].status, OrderStatus::Filled);
    assert_eq!(orders[0].side, Side::Buy);
    assert_eq!(orders[0].filled_qty, dec!(1));
    assert_eq!(orders[0].avg_fill_price, Some(dec!(100)));
    assert_eq!(store.fills().len(), 1);
    let positions = store.positions("s-1").await.expect("positions");
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].position.qty, dec!(1));
    assert_eq!(positions[0].position.fees_paid, dec!(0.1));
    let tick = store.ticks().pop().expect("the tick was recorded");
    assert_eq!((tick.strategy_id.as_str(), tick.at_ms), ("s-1", NOW_MS));
    assert_eq!(
        tick.marks,
        [("paper".to_owned(), SYMBOL.to_owned(), dec!(99.5))]
    );

    // Full position: nothing more is asked for.
    assert!(e.tick().await.expect("tick").orders.is_empty());
    assert_eq!(store.orders("s-1").len(), 1);
}

#[actix_rt::test]
async fn the_risk_gate_refuses_an_over_limit_order_before_it_is_recorded() {
    // 1 BTC at ~100 is a notional of 100; the limit is 50.
    let store = store_with(dec!(50));
    let venue = Arc::new(FlakyVenue::new(paper("paper").await));
    let mut e = engine(&store, Arc::clone(&venue) as Arc<dyn Connector>).await;

    let summary = e.tick().await.expect("tick");

    assert!(summary.orders.is_empty());
    assert_eq!(summary.rejected, ["max_order_notional"]);
    assert!(store.orders("s-1").is_empty());
    assert_eq!(venue.placed(), 0);
}

#[actix_rt::test]
async fn an_order_recorded_but_never_sent_is_reconciled_before_anything_new() {
    let store = store_with(dec!(1000));
    // Recorded, then the process died before sending: the venue never heard of it.
    store
        .insert_order(&OrderRecord {
            client_order_id: "lost-1".into(),
            strategy_id: "s-1".into(),
            venue: "paper".into(),
            symbol: SYMBOL.into(),
            side: Side::Buy,
            kind: OrderKind::Market,
            qty: dec!(1),
            filled_qty: Decimal::ZERO,
            avg_fill_price: None,
            fees: Decimal::ZERO,
            status: OrderStatus::PendingSubmit,
            venue_order_id: None,
            reason: None,
            tag: "x".into(),
            trace_id: TraceId::new("t-old"),
            created_ms: 1,
            updated_ms: 1,
        })
        .await
        .expect("insert");
    let venue = Arc::new(FlakyVenue::new(paper("paper").await));
    let mut e = engine(&store, Arc::clone(&venue) as Arc<dyn Connector>).await;
    assert_eq!(e.open_orders().count(), 1);

    let summary = e.tick().await.expect("tick");

    let orders = store.orders("s-1");
    assert_eq!(orders[0].client_order_id, "lost-1");
    assert_eq!(orders[0].status, OrderStatus::Rejected);
    assert_eq!(orders[0].reason.as_deref(), Some("never reached the venue"));
    assert_eq!(summary.orders.len(), 1, "trades once the book is clean");
    assert_eq!(venue.placed(), 1);
    assert_eq!(e.open_orders().count(), 0);
}

#[actix_rt::test]
async fn failed_ticks_are_counted_until_one_succeeds() {
    let store = store_with(dec!(1000));
    let venue = Arc::new(FlakyVenue::new(paper("paper").await));
    let mut e = engine(&store, Arc::clone(&venue) as Arc<dyn Connector>).await;

    venue.set_down(true);
    assert!(e.tick().await.is_err());
    assert!(e.tick().await.is_err());
    assert_eq!(e.consecutive_errors(), 2);
    assert!(store.ticks().is_empty(), "a failed tick records nothing");

    venue.set_down(false);
    e.tick().await.expect("the venue is back");
    assert_eq!(e.consecutive_errors(), 0);
    assert_eq!(store.ticks().len(), 1);
}

#[actix_rt::test]
async fn skipped_ticks_are_saved_with_the_next_tick_and_reset() {
    let store = store_with(dec!(1000));
    let mut e = engine(&store, paper("paper").await).await;
    // What the strategy actor does for each tick it had to skip.
    e.slow_ticks().fetch_add(3, Ordering::Relaxed);

    e.tick().await.expect("tick");
    e.tick().await.expect("tick");

    let saved: Vec<u64> = store.ticks().iter().map(|t| t.slow_ticks).collect();
    assert_eq!(saved, [3, 0]);
}

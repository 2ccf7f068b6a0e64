//! The strategy engine against the real stores and a fake venue that checks the database:
//! orders are recorded before a venue sees them, fills are deduplicated by trade id (in
//! memory and by the database after a restart), unfinished orders are reconciled first, and
//! the risk gate stops over-limit orders before they are recorded.

use crate::helpers::{Backend, TestDb, test_settings};
use crate::on_both_backends;
use actors::TraceId;
use actors::events::{ArbitrageOpportunityFound, EventBus};
use actors::trading::connector::{Connector, ConnectorError};
use actors::trading::fsm::StrategyState;
use actors::trading::order::OrderStatus;
use actors::trading::paper::{MemoryPaperStore, PaperConfig, PaperExchange, StaticFeed};
use actors::trading::pnl::Position;
use actors::trading::runtime::{
    Deps, Engine, FillRecord, PositionRecord, RuntimeConfig, TradingStore,
};
use actors::trading::types::{
    Fees, FillReport, Level, Liquidity, OrderBook, OrderReport, OrderRequest, Side,
};
use ai_service::db::{Db, DbHandle, Sql};
use ai_service::trading::store::{SqlTradingStore, StrategyRow};
use async_trait::async_trait;
use rust_decimal::{Decimal, dec};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

on_both_backends!(
    corrupt_stored_values_are_errors_not_guesses,
    orders_are_recorded_before_the_venue_sees_them_and_fills_dedupe,
    a_batch_of_fills_holding_a_recorded_one_changes_nothing,
    unsent_orders_are_reconciled_before_anything_new,
    the_risk_gate_stops_an_over_limit_order_before_it_is_recorded,
    arbitrage_trades_both_legs_and_unwinds_a_failed_one
);

/// A venue that, when asked to place an order, first looks the order up in the database,
/// and reports fills in two steps, repeating the first fill in its second report.
struct CheckingVenue {
    db: Db,
    /// What the order row said when `place` was called.
    seen_at_place: Mutex<Vec<Option<String>>>,
    reports: Mutex<BTreeMap<String, OrderReport>>,
}

impl CheckingVenue {
    fn fill(id: &str, trade: &str, qty: Decimal, price: Decimal) -> FillReport {
        FillReport {
            trade_id: trade.to_owned(),
            client_order_id: id.to_owned(),
            qty,
            price,
            fee: qty * price * dec!(0.001),
            fee_amount: qty * price * dec!(0.001),
            fee_asset: "USDT".into(),
            fee_valued: true,
            liquidity: Liquidity::Taker,
            ts_ms: 1,
        }
    }
}

#[async_trait]
impl Connector for CheckingVenue {
    fn name(&self) -> &str {
        "fake"
    }
    fn is_live(&self) -> bool {
        false
    }
    fn fees(&self) -> Fees {
        Fees {
            maker: dec!(0.001),
            taker: dec!(0.001),
        }
    }
    async fn order_book(&self, symbol: &str, _: usize) -> Result<OrderBook, ConnectorError> {
        Ok(OrderBook {
            symbol: symbol.to_owned(),
            bids: vec![Level {
                price: dec!(99),
                qty: dec!(10),
            }],
            asks: vec![Level {
                price: dec!(100),
                qty: dec!(10),
            }],
            ts_ms: 1,
        })
    }
    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        Ok(BTreeMap::new())
    }
    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        let sql = Sql::new("SELECT status FROM orders WHERE client_order_id = $1")
            .bind(&order.client_order_id);
        let status: Option<(String,)> = self
            .db
            .fetch_optional(sql)
            .await
            .map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
        self.seen_at_place
            .lock()
            .expect("lock")
            .push(status.map(|s| s.0));
        let id = &order.client_order_id;
        let half = order.qty / dec!(2);
        let report = OrderReport {
            client_order_id: id.clone(),
            venue_order_id: format!("v-{id}"),
            status: OrderStatus::PartiallyFilled,
            filled_qty: half,
            fills: vec![Self::fill(id, "t-1", half, dec!(100))],
            reason: None,
        };
        // The next status report repeats t-1 and adds t-2.
        let mut next = report.clone();
        next.status = OrderStatus::Filled;
        next.filled_qty = order.qty;
        next.fills.push(Self::fill(id, "t-2", half, dec!(102)));
        self.reports.lock().expect("lock").insert(id.clone(), next);
        Ok(report)
    }
    async fn cancel(&self, _: &str, id: &str) -> Result<OrderReport, ConnectorError> {
        Err(ConnectorError::UnknownOrder(id.to_owned()))
    }
    async fn order_status(&self, _: &str, id: &str) -> Result<Option<OrderReport>, ConnectorError> {
        Ok(self.reports.lock().expect("lock").get(id).cloned())
    }
}

struct Setup {
    _test_db: TestDb,
    db: Db,
    venue: Arc<CheckingVenue>,
    deps: Arc<Deps>,
    store: Arc<SqlTradingStore>,
}

/// Strategy `s-1`: a threshold strategy on `connector` that buys 1 BTC-USDT whenever the ask is
/// under 1000, up to a position of 1, stored in `state`.
pub fn threshold_row(
    name: &str,
    connector: &str,
    state: &str,
    tick_interval_ms: i64,
    max_order_notional: &str,
) -> StrategyRow {
    let params = serde_json::json!({"buy_below": "1000", "sell_above": "2000", "order_qty": "1", "max_position": "1"});
    StrategyRow {
        id: "s-1".into(),
        name: name.into(),
        kind: "threshold".into(),
        params: params.to_string(),
        connector: connector.into(),
        symbols: r#"["BTC-USDT"]"#.into(),
        mode: "paper".into(),
        tick_interval_ms,
        max_order_notional: max_order_notional.into(),
        max_open_position: "10000".into(),
        max_orders_per_minute: 10,
        daily_loss_limit: "1000".into(),
        state: state.into(),
        state_version: 1,
        state_since: 0,
        state_reason: None,
        last_tick_at: None,
        ticks: 0,
        slow_ticks: 0,
        pnl_day: None,
        pnl_day_start: None,
        created_at: 0,
        updated_at: 0,
    }
}

async fn setup(backend: Backend, max_order_notional: &str) -> Setup {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let row = threshold_row("checker", "fake", "live", 1000, max_order_notional);
    ai_service::trading::strategies::insert(&db, &row)
        .await
        .expect("insert");
    let venue = Arc::new(CheckingVenue {
        db: db.clone(),
        seen_at_place: Mutex::default(),
        reports: Mutex::default(),
    });
    let store = Arc::new(SqlTradingStore(DbHandle::connected(db.clone())));
    let deps = Arc::new(Deps {
        store: Arc::clone(&store) as Arc<dyn TradingStore>,
        venues: BTreeMap::from([("fake".to_owned(), Arc::clone(&venue) as Arc<dyn Connector>)]),
        events: EventBus::new(16),
        config: RuntimeConfig::default(),
        clock: Arc::new(|| 1_764_000_000_000),
    });
    Setup {
        _test_db: test_db,
        db,
        venue,
        deps,
        store,
    }
}

async fn engine(s: &Setup) -> Engine {
    let (spec, _) = s.store.load("s-1").await.expect("load").expect("strategy");
    Engine::load(
        spec,
        StrategyState::Live,
        None,
        Arc::clone(&s.deps),
        TraceId::new("t-engine"),
    )
    .await
    .expect("engine")
}

async fn count(db: &Db, sql: &str) -> i64 {
    db.fetch_scalar(sql).await.expect("count")
}

async fn orders_are_recorded_before_the_venue_sees_them_and_fills_dedupe(backend: Backend) {
    let s = setup(backend, "1000").await;
    let mut first = engine(&s).await;
    let summary = first.tick().await.expect("tick");
    assert_eq!(summary.orders.len(), 1);
    assert_eq!(
        *s.venue.seen_at_place.lock().expect("lock"),
        [Some("pending_submit".to_owned())],
        "the venue must find the order recorded as pending_submit"
    );
    assert_eq!(count(&s.db, "SELECT COUNT(*) FROM fills").await, 1);

    // A restart: a fresh engine knows no trade ids; the venue repeats t-1 and adds t-2.
    drop(first);
    let mut second = engine(&s).await;
    second.tick().await.expect("reconciling tick");
    assert_eq!(
        count(&s.db, "SELECT COUNT(*) FROM fills").await,
        2,
        "t-1 recorded once"
    );
    let positions = s.store.positions("s-1").await.expect("positions");
    let p = &positions[0].position;
    // 0.5 @ 100 + 0.5 @ 102, fees 0.05 + 0.051: the repeated t-1 moved nothing.
    assert_eq!(p.qty, dec!(1));
    assert_eq!(p.avg_price, dec!(101));
    assert_eq!(p.fees_paid, dec!(0.101));
    assert_eq!(p.realised, dec!(-0.101));
    let (status, filled, avg): (String, String, Option<String>) =
        s.db.fetch_one("SELECT status, filled_qty, avg_fill_price FROM orders")
            .await
            .expect("order");
    assert_eq!((status.as_str(), filled.as_str()), ("filled", "1"));
    assert_eq!(avg.as_deref(), Some("101"));
    // Full position: the strategy asks for nothing more.
    assert!(second.tick().await.expect("tick").orders.is_empty());
    assert_eq!(
        count(
            &s.db,
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'TradeExecuted'"
        )
        .await,
        2
    );
}

/// The engine records a venue answer's new fills and the order in one transaction; when one
/// of them was recorded before, the whole batch rolls back (the engine then goes fill by fill)
/// and nothing of it is left: no fill, position, event or order change.
async fn a_batch_of_fills_holding_a_recorded_one_changes_nothing(backend: Backend) {
    let s = setup(backend, "1000").await;
    let mut e = engine(&s).await;
    assert_eq!(e.tick().await.expect("tick").orders.len(), 1);
    let snapshot = |db: Db| async move {
        let fills = count(&db, "SELECT COUNT(*) FROM fills").await;
        let events = count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'TradeExecuted'",
        )
        .await;
        let order: (String, String, String) = db
            .fetch_one("SELECT client_order_id, status, filled_qty FROM orders")
            .await
            .expect("order");
        let position: (String, String) = db
            .fetch_one("SELECT qty, fees_paid FROM positions")
            .await
            .expect("position");
        (fills, events, order, position)
    };
    let before = snapshot(s.db.clone()).await;
    assert_eq!((before.0, before.1), (1, 1), "{before:?}");
    let mut order = s
        .store
        .open_orders("s-1")
        .await
        .expect("open orders")
        .into_iter()
        .next()
        .expect("the order is partially filled");
    let fill = |trade_id: &str| FillRecord {
        venue: "fake".into(),
        trade_id: trade_id.into(),
        client_order_id: order.client_order_id.clone(),
        strategy_id: "s-1".into(),
        symbol: "BTC-USDT".into(),
        side: Side::Buy,
        qty: dec!(0.5),
        price: dec!(102),
        fee: dec!(0.051),
        fee_amount: dec!(0.051),
        fee_asset: "USDT".into(),
        fee_valued: true,
        liquidity: Liquidity::Taker,
        ts_ms: 2,
        trace_id: TraceId::new("t-batch"),
        live: false,
    };
    let position = PositionRecord {
        venue: "fake".into(),
        symbol: "BTC-USDT".into(),
        position: Position {
            qty: dec!(9),
            ..Position::default()
        },
        mark: None,
    };
    let known: String =
        s.db.fetch_scalar("SELECT trade_id FROM fills")
            .await
            .expect("the recorded fill");
    order.filled_qty = dec!(9);
    order.status = OrderStatus::Filled;
    // The new fill first: it is written, then the known one is found and all rolls back.
    let batch = [
        (fill("t-new"), position.clone()),
        (fill(&known), position.clone()),
    ];
    assert!(
        !s.store
            .record_fills_and_order(&batch, &order)
            .await
            .expect("batch")
    );
    assert_eq!(
        snapshot(s.db.clone()).await,
        before,
        "nothing of the batch left"
    );
    // The same without the known fill: all of it lands together.
    assert!(
        s.store
            .record_fills_and_order(&batch[..1], &order)
            .await
            .expect("batch")
    );
    let after = snapshot(s.db.clone()).await;
    assert_eq!((after.0, after.1), (2, 2));
    assert_eq!((after.2.1.as_str(), after.2.2.as_str()), ("filled", "9"));
    assert_eq!(after.3.0, "9");
}

async fn unsent_orders_are_reconciled_before_anything_new(backend: Backend) {
    let s = setup(backend, "1000").await;
    // Recorded, then the process died before sending: the venue never heard of it.
    s.db.execute(
        "INSERT INTO orders (client_order_id, strategy_id, venue, symbol, side, order_type, limit_price, qty, filled_qty, \
         avg_fill_price, fees, status, venue_order_id, reason, tag, trace_id, created_at, updated_at) \
         VALUES ('lost-1', 's-1', 'fake', 'BTC-USDT', 'buy', 'market', NULL, '1', '0', NULL, '0', 'pending_submit', NULL, NULL, 'x', 't', 1, 1)",
    )
    .await
    .expect("insert");
    let mut e = engine(&s).await;
    assert_eq!(e.open_orders().count(), 1);
    // The threshold strategy holds back while an order is unfinished, so this tick only
    // reconciles; the next one may trade.
    let summary = e.tick().await.expect("tick");
    let (status, reason): (String, Option<String>) =
        s.db.fetch_one("SELECT status, reason FROM orders WHERE client_order_id = 'lost-1'")
            .await
            .expect("order");
    assert_eq!(status, "rejected");
    assert_eq!(reason.as_deref(), Some("never reached the venue"));
    assert_eq!(summary.orders.len(), 1, "trades once the book is clean");
    assert_eq!(s.venue.seen_at_place.lock().expect("lock").len(), 1);
}

async fn the_risk_gate_stops_an_over_limit_order_before_it_is_recorded(backend: Backend) {
    // 1 BTC at ~100 is a notional of 100; the limit is 50.
    let s = setup(backend, "50").await;
    let mut e = engine(&s).await;
    let summary = e.tick().await.expect("tick");
    assert!(summary.orders.is_empty());
    assert_eq!(summary.rejected, ["max_order_notional"]);
    assert_eq!(count(&s.db, "SELECT COUNT(*) FROM orders").await, 0);
    assert!(s.venue.seen_at_place.lock().expect("lock").is_empty());
}

fn book(symbol: &str, bid: Decimal, ask: Decimal) -> OrderBook {
    OrderBook {
        symbol: symbol.to_owned(),
        bids: vec![Level {
            price: bid,
            qty: dec!(5),
        }],
        asks: vec![Level {
            price: ask,
            qty: dec!(5),
        }],
        ts_ms: 1,
    }
}

async fn paper(name: &str, feed: Arc<StaticFeed>, btc: Decimal) -> Arc<dyn Connector> {
    let config = PaperConfig {
        name: name.to_owned(),
        fees: Fees {
            maker: dec!(0.001),
            taker: dec!(0.001),
        },
        initial_balances: BTreeMap::from([
            ("USDT".to_owned(), dec!(10000)),
            ("BTC".to_owned(), btc),
        ]),
        depth: 10,
    };
    let exchange = PaperExchange::open(
        config,
        feed,
        Arc::new(MemoryPaperStore::new()),
        Arc::new(|| 1_764_000_000_000),
    )
    .await
    .expect("paper venue");
    Arc::new(exchange)
}

/// Venue `a` asks 100, venue `b` bids 102: after 0.1 % taker fees on both legs, buying 1 on
/// `a` and selling it on `b` nets 2 − 0.1 − 0.102 = 1.798 (≈ 179.8 bps). `b_btc` decides
/// whether `b` can deliver the sell leg.
async fn arbitrage_case(
    backend: Backend,
    b_btc: Decimal,
) -> (Setup, Vec<(String, String, String, String)>) {
    let s = setup(backend, "1000").await;
    let params = serde_json::json!({"other_connector": "b", "order_qty": "1", "min_profit_bps": "10", "execute": true});
    let sql = Sql::new(
        "UPDATE strategies SET kind = 'arbitrage', connector = 'a', params = $1 WHERE id = 's-1'",
    );
    s.db.execute(sql.bind(params.to_string()))
        .await
        .expect("make it an arbitrage strategy");
    let (feed_a, feed_b) = (Arc::new(StaticFeed::new()), Arc::new(StaticFeed::new()));
    feed_a.set(book("BTC-USDT", dec!(99.5), dec!(100)));
    feed_b.set(book("BTC-USDT", dec!(102), dec!(102.5)));
    let deps = Arc::new(Deps {
        store: Arc::clone(&s.deps.store),
        venues: BTreeMap::from([
            ("a".to_owned(), paper("a", feed_a, dec!(0)).await),
            ("b".to_owned(), paper("b", feed_b, b_btc).await),
        ]),
        events: EventBus::new(16),
        config: RuntimeConfig::default(),
        clock: Arc::clone(&s.deps.clock),
    });
    let mut found = deps.events.subscribe::<ArbitrageOpportunityFound>();
    let s = Setup { deps, ..s };
    let mut e = engine(&s).await;
    e.tick().await.expect("tick");
    let event = found.recv().await.expect("opportunity event");
    assert_eq!(
        (event.buy_venue.as_str(), event.sell_venue.as_str()),
        ("a", "b")
    );
    assert_eq!(event.net_profit, "1.798");
    assert!(event.executed);
    let orders: Vec<(String, String, String, String)> = s
        .db
        .fetch_all("SELECT tag, venue, status, filled_qty FROM orders ORDER BY created_at, tag")
        .await
        .expect("orders");
    (s, orders)
}

async fn arbitrage_trades_both_legs_and_unwinds_a_failed_one(backend: Backend) {
    // `b` holds the BTC to sell: both legs fill.
    let (s, orders) = arbitrage_case(backend, dec!(1)).await;
    let legs: Vec<(&str, &str, &str)> = orders
        .iter()
        .map(|(t, v, st, _)| (t.as_str(), v.as_str(), st.as_str()))
        .collect();
    assert!(legs.contains(&("arb:buy", "a", "filled")), "{legs:?}");
    assert!(legs.contains(&("arb:sell", "b", "filled")), "{legs:?}");
    assert_eq!(legs.len(), 2, "no unwind when both legs fill: {legs:?}");
    drop(s);

    // `b` has no BTC: the sell leg is rejected, so the bought BTC is sold back on `a`.
    let (s, orders) = arbitrage_case(backend, dec!(0)).await;
    let legs: Vec<(&str, &str, &str)> = orders
        .iter()
        .map(|(t, v, st, _)| (t.as_str(), v.as_str(), st.as_str()))
        .collect();
    assert!(legs.contains(&("arb:buy", "a", "filled")), "{legs:?}");
    assert!(legs.contains(&("arb:sell", "b", "rejected")), "{legs:?}");
    assert!(legs.contains(&("arb:unwind", "a", "filled")), "{legs:?}");
    let positions = s.store.positions("s-1").await.expect("positions");
    let a = positions
        .iter()
        .find(|p| p.venue == "a")
        .expect("position on a");
    // Bought 1 @ 100 (fee 0.1), sold 1 @ 99.5 (fee 0.0995): flat, −0.6995 realised.
    assert_eq!(a.position.qty, dec!(0));
    assert_eq!(a.position.realised, dec!(-0.6995));
}

/// Runs `sql` with the table's CHECK constraints out of the way: how a corrupt value (a bad
/// restore, a hand edit, an older binary) gets in.
async fn write_corrupt(db: &Db, sql: &str, binds: &[&str]) {
    match db {
        Db::Sqlite(p) => {
            let mut c = p.acquire().await.expect("conn");
            sqlx::query("PRAGMA ignore_check_constraints = ON")
                .execute(&mut *c)
                .await
                .expect("pragma");
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(&mut *c).await.expect("corrupt write");
            sqlx::query("PRAGMA ignore_check_constraints = OFF")
                .execute(&mut *c)
                .await
                .expect("pragma");
        }
        Db::Postgres(p) => {
            for c in [
                "orders_side_check",
                "orders_order_type_check",
                "strategies_state_check",
            ] {
                let table = c.split('_').next().unwrap_or_default();
                sqlx::query(&format!(
                    "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {c}"
                ))
                .execute(&p.pool)
                .await
                .expect("drop check");
            }
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(&p.pool).await.expect("corrupt write");
        }
    }
}

/// A stored order side, order type or strategy state that is not a known value is an error
/// (a corrupt side used to read as `buy`, a corrupt type as `market`, a state as `faulted`).
async fn corrupt_stored_values_are_errors_not_guesses(backend: Backend) {
    let s = setup(backend, "1000").await;
    let store = ai_service::trading::store::SqlTradingStore(ai_service::db::DbHandle::connected(
        s.db.clone(),
    ));
    for (id, side, kind) in [
        ("bad-side", "sideways", "market"),
        ("bad-type", "buy", "stop"),
    ] {
        write_corrupt(
            &s.db,
            "INSERT INTO orders (client_order_id, strategy_id, venue, symbol, side, order_type, limit_price, qty, filled_qty, \
             avg_fill_price, fees, status, venue_order_id, reason, tag, trace_id, created_at, updated_at) \
             VALUES ($1, 's-1', 'fake', 'BTC-USDT', $2, $3, NULL, '1', '0', NULL, '0', 'open', NULL, NULL, 'x', 't', 1, 1)",
            &[id, side, kind],
        )
        .await;
        let err = store.open_orders("s-1").await.expect_err("corrupt order");
        assert!(
            err.to_string()
                .contains(if side == "buy" { kind } else { side }),
            "{err}"
        );
        s.db.execute(Sql::new("DELETE FROM orders WHERE client_order_id = $1").bind(id))
            .await
            .expect("delete");
    }
    write_corrupt(
        &s.db,
        "UPDATE strategies SET state = 'zombie' WHERE id = 's-1'",
        &[],
    )
    .await;
    let err = store.load("s-1").await.expect_err("corrupt state");
    assert!(err.to_string().contains("zombie"), "{err}");
}

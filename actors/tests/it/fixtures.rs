//! Strategies, books and venues shared by the trading tests (all in memory: `testkit`).

use actors::events::EventBus;
use actors::testkit::MemoryTradingStore;
use actors::trading::connector::Connector;
use actors::trading::paper::{MemoryPaperStore, PaperConfig, PaperExchange, StaticFeed};
use actors::trading::risk::RiskLimits;
use actors::trading::runtime::{Deps, RuntimeConfig, StrategySpec, TradingStore};
use actors::trading::types::{Fees, Level, OrderBook};
use rust_decimal::{Decimal, dec};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const NOW_MS: i64 = 1_764_000_000_000;
pub const SYMBOL: &str = "BTC-USDT";

/// A threshold strategy on `connector` buying 1 BTC-USDT whenever the ask is at most 1000,
/// up to a position of 1; orders above `max_order_notional` are refused.
pub fn threshold(id: &str, connector: &str, max_order_notional: Decimal) -> StrategySpec {
    StrategySpec {
        id: id.to_owned(),
        name: format!("{id}-name"),
        kind: "threshold".to_owned(),
        params: serde_json::json!({"buy_below": "1000", "sell_above": "2000", "order_qty": "1", "max_position": "1"}),
        connector: connector.to_owned(),
        symbols: vec![SYMBOL.to_owned()],
        mode: "paper".to_owned(),
        tick_interval_ms: 20,
        limits: RiskLimits {
            max_order_notional,
            max_open_position: dec!(10000),
            max_orders_per_minute: 10,
            daily_loss_limit: dec!(1000),
        },
    }
}

pub fn book(bid: Decimal, ask: Decimal) -> OrderBook {
    OrderBook {
        symbol: SYMBOL.to_owned(),
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

/// A paper venue named `name` quoting 99/100, with 10 000 USDT and no BTC.
pub async fn paper(name: &str) -> Arc<dyn Connector> {
    let feed = Arc::new(StaticFeed::new());
    feed.set(book(dec!(99), dec!(100)));
    let config = PaperConfig {
        name: name.to_owned(),
        fees: Fees {
            maker: dec!(0.001),
            taker: dec!(0.001),
        },
        initial_balances: BTreeMap::from([("USDT".to_owned(), dec!(10000))]),
        depth: 10,
    };
    let exchange = PaperExchange::open(
        config,
        feed,
        Arc::new(MemoryPaperStore::new()),
        Arc::new(|| NOW_MS),
    )
    .await
    .expect("paper venue");
    Arc::new(exchange)
}

pub fn deps(
    store: &Arc<MemoryTradingStore>,
    venues: Vec<(&str, Arc<dyn Connector>)>,
    config: RuntimeConfig,
) -> Arc<Deps> {
    Arc::new(Deps {
        store: Arc::clone(store) as Arc<dyn TradingStore>,
        venues: venues.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
        events: EventBus::new(16),
        config,
        clock: Arc::new(|| NOW_MS),
    })
}

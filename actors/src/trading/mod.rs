//! Trading: the pure parts (lifecycle and order state machines, depth walking, risk, PnL,
//! strategies, arbitrage detection, the paper exchange's matching) and the ports around them.
//!
//! # Layout
//! - `types.rs`: sides, order kinds, books, fees, intents, order requests and reports.
//! - `fsm.rs`: the strategy lifecycle (`Idle → Live → Stopped`, `Paused`, `Faulted`).
//! - `order.rs`: the order state machine.
//! - `book.rs`: depth walking and VWAP.
//! - `risk.rs`: the risk gate between intents and orders.
//! - `pnl.rs`: fee-aware realised/unrealised PnL of a position.
//! - `arbitrage.rs`: the cross-venue opportunity detector.
//! - `strategy/`: the `Strategy` trait, parameter validation and the built-in strategies.
//! - `connector.rs`: the `Connector` port to a venue.
//! - `rules.rs`: a venue's symbol rules, safe rounding and the checks before sending;
//!   `rules_cache.rs` keeps them per venue with a refresh; `symbols.rs` maps `BTC-USDT` to
//!   each venue's notation.
//! - `paper/`: the paper exchange (a real `Connector`), its price feeds and its store port.
//! - `runtime/`: the manager, the per-strategy actor, its engine, jobs and the store port.

pub mod arbitrage;
pub mod book;
pub mod connector;
pub mod fsm;
pub mod order;
pub mod paper;
pub mod pnl;
pub mod risk;
pub mod rules;
pub mod rules_cache;
pub mod runtime;
pub mod strategy;
pub mod symbols;
pub mod types;

pub use connector::{Connector, ConnectorError};
pub use fsm::{Command, IllegalTransition, StrategyState, transition};
pub use order::{OrderStatus, order_transition};
pub use types::*;

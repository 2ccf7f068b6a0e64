//! `[trading]`: the strategy runtime and the paper exchange.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingSettings {
    /// After a crash or restart, strategies that were live come back `stopped` (reason
    /// `restart`) unless this is true, in which case they resume.
    pub resume_on_restart: bool,
    /// Consecutive failed ticks (venue errors) after which a strategy becomes `faulted`.
    pub max_consecutive_errors: u32,
    /// Order book levels fetched per side on each tick.
    pub book_depth: usize,
    /// Smallest tick interval a strategy may ask for, in ms.
    pub min_tick_interval_ms: u64,
    pub paper: PaperSettings,
    pub binance: super::binance::BinanceSettings,
}

impl Default for TradingSettings {
    fn default() -> Self {
        Self {
            resume_on_restart: false,
            max_consecutive_errors: 5,
            book_depth: 20,
            min_tick_interval_ms: 100,
            paper: PaperSettings::default(),
            binance: super::binance::BinanceSettings::default(),
        }
    }
}

/// The simulated venues. Each name becomes a connector; each gets its own random walk
/// (seed + its index), so two paper venues drift apart like two real exchanges.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperSettings {
    pub venues: Vec<String>,
    /// Fee rates as fractions of notional (`0.001` = 0.1 %).
    pub maker_fee: Decimal,
    pub taker_fee: Decimal,
    /// Balances a venue starts with the first time it is used (kept in the database after).
    pub initial_balances: BTreeMap<String, Decimal>,
    /// Random-walk price feed: seed, step length, volatility per step and spread (basis
    /// points), quantity per book level, and the start price of every symbol.
    pub seed: u64,
    pub step_ms: i64,
    pub vol_bps: u32,
    pub spread_bps: u32,
    pub level_qty: Decimal,
    pub start_price: Decimal,
}

impl Default for PaperSettings {
    fn default() -> Self {
        Self {
            venues: vec!["paper".to_owned(), "paper-b".to_owned()],
            maker_fee: Decimal::new(1, 3),
            taker_fee: Decimal::new(2, 3),
            initial_balances: BTreeMap::from([
                ("USDT".to_owned(), Decimal::new(100_000, 0)),
                ("BTC".to_owned(), Decimal::ZERO),
                ("ETH".to_owned(), Decimal::ZERO),
            ]),
            seed: 42,
            step_ms: 1000,
            vol_bps: 20,
            spread_bps: 10,
            level_qty: Decimal::new(5, 1),
            start_price: Decimal::new(100, 0),
        }
    }
}

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
    /// A real venue's book fetched for one strategy answers every strategy on that symbol for
    /// this long (ms; one request in flight per book). 0: each strategy fetches its own.
    pub book_cache_ms: u64,
    /// Smallest tick interval a strategy may ask for, in ms.
    pub min_tick_interval_ms: u64,
    /// Real venues' balances are compared with what our fills imply this often (seconds; 0:
    /// only when the balances endpoint is read).
    pub reconcile_interval_secs: u64,
    /// A difference larger than `reconcile_rel_tolerance` × expected + the absolute part
    /// (the larger of `reconcile_abs_tolerance` and the asset's step size) is a mismatch.
    pub reconcile_rel_tolerance: Decimal,
    pub reconcile_abs_tolerance: Decimal,
    pub paper: PaperSettings,
    pub market_data: MarketDataSettings,
    pub kraken: KrakenSettings,
    pub binance: super::binance::BinanceSettings,
}

impl Default for TradingSettings {
    fn default() -> Self {
        Self {
            resume_on_restart: false,
            max_consecutive_errors: 5,
            book_depth: 20,
            book_cache_ms: 200,
            min_tick_interval_ms: 100,
            reconcile_interval_secs: 60,
            reconcile_rel_tolerance: Decimal::new(1, 3),
            reconcile_abs_tolerance: Decimal::new(1, 8),
            paper: PaperSettings::default(),
            market_data: MarketDataSettings::default(),
            kraken: KrakenSettings::default(),
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
    /// Where the books come from: the synthetic random walk, or a real venue's public market
    /// data (`[trading.market_data]`), so a strategy can be tried on the real market with no
    /// keys. With a real source every paper venue sees the same books.
    pub price_source: PriceSource,
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
            price_source: PriceSource::RandomWalk,
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

/// `[trading.paper] price_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    RandomWalk,
    Binance,
    Kraken,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RandomWalk => "random_walk",
            Self::Binance => "binance",
            Self::Kraken => "kraken",
        }
    }
}

// By hand: the `config` crate's enum errors do not list the allowed values.
impl<'de> Deserialize<'de> for PriceSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        match value.to_ascii_lowercase().as_str() {
            "random_walk" => Ok(Self::RandomWalk),
            "binance" => Ok(Self::Binance),
            "kraken" => Ok(Self::Kraken),
            _ => Err(serde::de::Error::custom(format!(
                "unknown value `{value}`, expected `random_walk`, `binance` or `kraken`"
            ))),
        }
    }
}

/// `[trading.market_data]`: the venues' public market data (no keys), polled over REST.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketDataSettings {
    /// Binance's market-data-only host (tests point it at a local fake).
    pub binance_url: String,
    /// Kraken's REST host.
    pub kraken_url: String,
    /// One depth request per wanted symbol per interval.
    pub poll_interval_ms: u64,
    /// A book older than this is not traded on (the venue answers "stale").
    pub stale_after_ms: u64,
    /// Time one request may take.
    pub request_timeout_ms: u64,
    /// Failed polls back off from `poll_interval_ms`, doubling, up to this.
    pub max_backoff_ms: u64,
    /// A symbol no strategy read for this long is no longer polled.
    pub idle_after_ms: u64,
}

impl Default for MarketDataSettings {
    fn default() -> Self {
        Self {
            binance_url: "https://data-api.binance.vision".to_owned(),
            kraken_url: "https://api.kraken.com".to_owned(),
            poll_interval_ms: 2_000,
            stale_after_ms: 10_000,
            request_timeout_ms: 5_000,
            max_backoff_ms: 60_000,
            idle_after_ms: 300_000,
        }
    }
}

/// `[trading.kraken]`: the `kraken` connector. Keys and mode (`sandbox` = every order sent
/// with `validate=true`, nothing placed; `live`) are in the integration setting
/// `default/kraken`, not here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KrakenSettings {
    /// Kraken's REST host (tests point it at a local fake).
    pub base_url: String,
    /// Your fee tier's rates as fractions (Kraken's entry tier: 0.25 % maker, 0.40 % taker);
    /// used for PnL estimates and strategy decisions. The fills carry the fees charged.
    pub maker_fee: Decimal,
    pub taker_fee: Decimal,
    /// After a rate-limit answer (`EAPI:Rate limit exceeded`, `EGeneral:Temporary lockout`)
    /// no call is sent for this long.
    pub rate_limit_pause_ms: u64,
    pub request_timeout_ms: u64,
    /// An order whose `AddOrder` outcome is unknown and that Kraken does not show is looked
    /// for this long before it is taken as never placed (Kraken can show it a moment late).
    pub unknown_order_window_secs: u64,
}

impl Default for KrakenSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.kraken.com".to_owned(),
            maker_fee: Decimal::new(25, 4),
            taker_fee: Decimal::new(40, 4),
            rate_limit_pause_ms: 15_000,
            request_timeout_ms: 10_000,
            unknown_order_window_secs: 60,
        }
    }
}

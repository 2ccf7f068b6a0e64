//! Real venues' public market data (no keys) for paper trading on real prices: a
//! `DepthSource` per venue fetches one symbol's book over REST, and `poller.rs` keeps a
//! `PolledFeed` (the paper venue's price feed) fed with the symbols strategies read.
//!
//! Polling, not WebSockets: see docs/decisions.md ("Paper on real prices").
//!
//! Layout: `binance.rs` and `kraken.rs` are the sources; `poller.rs` the loop (backoff,
//! readiness, age gauge).

pub mod binance;
pub mod kraken;
mod poller;

pub use poller::{MARKET_DATA_BOOK_AGE_SECONDS, PollerConfig, describe_metrics, spawn_poller};

use actors::trading::types::OrderBook;
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketDataError {
    /// The venue does not list the symbol: stop asking.
    #[error("{0}")]
    UnknownSymbol(String),
    /// Worth asking again later.
    #[error("{0}")]
    Unavailable(String),
}

#[async_trait]
pub trait DepthSource: Send + Sync + 'static {
    /// The venue's name (`binance`, `kraken`).
    fn venue(&self) -> &'static str;
    /// The book of our `symbol` (`BTC-USDT`), at most `levels` per side, best first.
    async fn depth(&self, symbol: &str, levels: usize) -> Result<OrderBook, MarketDataError>;
}

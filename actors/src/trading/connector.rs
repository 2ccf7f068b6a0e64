//! The `Connector` port: everything a strategy needs from a venue (paper or real).

use super::rules::SymbolRules;
use super::types::{Fees, OrderBook, OrderReport, OrderRequest};
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The venue could not be reached or answered garbage; worth retrying.
    #[error("venue unavailable: {0}")]
    Unavailable(String),
    /// The venue refused the request (bad symbol, insufficient funds, …); retrying will not help.
    #[error("rejected by venue: {0}")]
    Rejected(String),
    /// No such order at the venue.
    #[error("unknown order {0}")]
    UnknownOrder(String),
    /// The venue refuses us for a long time (Binance 418: an IP ban after ignoring 429s).
    /// Strategies on it fault at once with this reason instead of retrying into the ban.
    #[error("banned by venue: {0}")]
    Banned(String),
    /// The venue asked us to wait (Binance 429 + `Retry-After`) and every call to it is held
    /// back until then. Nothing was sent; not a failure of the strategy: its ticks are
    /// skipped without counting towards faulting (a 60 s pause would otherwise fault every
    /// strategy on the venue after `max_consecutive_errors` ticks).
    #[error("venue paused: {0}")]
    Paused(String),
}

/// One asset's balance at a venue: `free` can be spent, `locked` is held by open orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssetBalance {
    pub free: Decimal,
    pub locked: Decimal,
}

impl AssetBalance {
    pub fn total(&self) -> Decimal {
        self.free + self.locked
    }
}

#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// Venue name, as used in strategy settings (`paper`, `paper-b`, …).
    fn name(&self) -> &str;
    /// Whether this connector moves real money.
    fn is_live(&self) -> bool;
    /// Shown in the connector list: `paper`, `live`, or what a real venue says of itself
    /// (`sandbox`, `unconfigured`).
    fn mode(&self) -> &'static str {
        if self.is_live() { "live" } else { "paper" }
    }
    fn fees(&self) -> Fees;
    /// The venue's rules for `symbol` (tick, step, minimums), cached by the connector. Paper
    /// venues have none.
    async fn symbol_rules(&self, symbol: &str) -> Result<SymbolRules, ConnectorError> {
        Ok(SymbolRules::unrestricted(symbol))
    }
    /// The current book for `symbol`, `depth` levels per side at most.
    async fn order_book(&self, symbol: &str, depth: usize) -> Result<OrderBook, ConnectorError>;
    /// Free balance per asset.
    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError>;
    /// Free and locked per asset. Default: `balances` as free, nothing known to be locked.
    async fn balance_sheet(&self) -> Result<BTreeMap<String, AssetBalance>, ConnectorError> {
        Ok(self
            .balances()
            .await?
            .into_iter()
            .map(|(asset, free)| {
                let locked = Decimal::ZERO;
                (asset, AssetBalance { free, locked })
            })
            .collect())
    }
    /// Places an order. Idempotent per `client_order_id`: placing the same id twice returns the
    /// first order's report and never creates a second order.
    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError>;
    /// `symbol` is the order's (venues such as Binance look orders up per symbol).
    async fn cancel(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError>;
    /// `Ok(None)`: the venue never saw this order (it was recorded but not sent). A report in
    /// `pending_submit`: not found yet, but a request with an unknown outcome may still show
    /// up; the order stays pending and is asked about again (never sent again).
    async fn order_status(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError>;
}

//! The `TradingStore` port: what the strategy runtime persists. The root crate implements it
//! on SQLite/Postgres; every write that must not be lost (a transition with its audit row and
//! event, a fill with its position and event) is one transaction there.

use crate::TraceId;
use crate::ports::DependencyError;
use crate::trading::fsm::StrategyState;
use crate::trading::order::OrderStatus;
use crate::trading::pnl::Position;
use crate::trading::risk::RiskLimits;
use crate::trading::types::{Liquidity, OrderKind, Side};
use async_trait::async_trait;
use rust_decimal::Decimal;

/// A strategy as configured by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategySpec {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub params: serde_json::Value,
    pub connector: String,
    pub symbols: Vec<String>,
    /// `paper` or `live`.
    pub mode: String,
    pub tick_interval_ms: u64,
    pub limits: RiskLimits,
}

/// Where a strategy is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyStatus {
    pub state: StrategyState,
    /// Bumped by every transition (compare-and-set guard).
    pub version: i64,
    pub since_ms: i64,
    /// Day (days since the Unix epoch, UTC) `pnl_day_start` belongs to.
    pub pnl_day: Option<i64>,
    pub pnl_day_start: Option<Decimal>,
}

/// One lifecycle change, persisted with its cause and trace id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRecord {
    pub strategy_id: String,
    pub from: StrategyState,
    pub to: StrategyState,
    /// Must equal the stored version for the change to apply.
    pub expected_version: i64,
    /// `deploy`, `stop`, `pause`, `resume`, `fault` or `restart`.
    pub cause: String,
    pub reason: String,
    /// Who asked (`user:alice`, `system`).
    pub principal: String,
    pub trace_id: TraceId,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub client_order_id: String,
    pub strategy_id: String,
    pub venue: String,
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub qty: Decimal,
    pub filled_qty: Decimal,
    pub avg_fill_price: Option<Decimal>,
    pub fees: Decimal,
    pub status: OrderStatus,
    pub venue_order_id: Option<String>,
    pub reason: Option<String>,
    pub tag: String,
    pub trace_id: TraceId,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillRecord {
    pub venue: String,
    pub trade_id: String,
    pub client_order_id: String,
    pub strategy_id: String,
    pub symbol: String,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    /// Quote-valued (0 when not `fee_valued`).
    pub fee: Decimal,
    /// As charged: `fee_amount` of `fee_asset`.
    pub fee_amount: Decimal,
    pub fee_asset: String,
    pub fee_valued: bool,
    pub liquidity: Liquidity,
    pub ts_ms: i64,
    /// Carried into the `TradeExecuted` event.
    pub trace_id: TraceId,
    pub live: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionRecord {
    pub venue: String,
    pub symbol: String,
    pub position: Position,
    /// Last mid price seen for the symbol.
    pub mark: Option<Decimal>,
}

/// What a finished tick leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRecord {
    pub strategy_id: String,
    pub at_ms: i64,
    /// Ticks skipped because the previous one was still running, since the last record.
    pub slow_ticks: u64,
    pub marks: Vec<(String, String, Decimal)>,
    pub pnl_day: i64,
    pub pnl_day_start: Decimal,
}

#[async_trait]
pub trait TradingStore: Send + Sync + 'static {
    async fn load(
        &self,
        strategy_id: &str,
    ) -> Result<Option<(StrategySpec, StrategyStatus)>, DependencyError>;
    /// Strategies whose stored state is `live` or `paused`, with that state.
    async fn running(&self) -> Result<Vec<(String, StrategyState)>, DependencyError>;
    /// Applies the transition if the version still matches, together with its history row,
    /// audit row and `StrategyStateChanged` outbox event. `Ok(false)`: someone changed it first.
    async fn transition(&self, t: &TransitionRecord) -> Result<bool, DependencyError>;
    /// Records a new order (`pending_submit`), before any venue sees it.
    async fn insert_order(&self, order: &OrderRecord) -> Result<(), DependencyError>;
    async fn update_order(&self, order: &OrderRecord) -> Result<(), DependencyError>;
    /// Records a fill and the position it produced, with a `TradeExecuted` outbox event, in one
    /// transaction. `Ok(false)`: this (venue, trade id) was recorded before; nothing changed.
    async fn record_fill(
        &self,
        fill: &FillRecord,
        position: &PositionRecord,
    ) -> Result<bool, DependencyError>;
    /// Records fills (each with the position it produced and its `TradeExecuted` event) and the
    /// order as they leave it, in one transaction: the common case of a venue answer, one
    /// commit instead of one per fill plus the order's. `Ok(false)`: one of the fills was
    /// recorded before; nothing changed and the caller goes fill by fill ([`record_fill`]),
    /// which tells which.
    ///
    /// [`record_fill`]: TradingStore::record_fill
    async fn record_fills_and_order(
        &self,
        fills: &[(FillRecord, PositionRecord)],
        order: &OrderRecord,
    ) -> Result<bool, DependencyError>;
    /// The strategy's orders not in a terminal state.
    async fn open_orders(&self, strategy_id: &str) -> Result<Vec<OrderRecord>, DependencyError>;
    async fn positions(&self, strategy_id: &str) -> Result<Vec<PositionRecord>, DependencyError>;
    async fn tick_done(&self, tick: &TickRecord) -> Result<(), DependencyError>;
}

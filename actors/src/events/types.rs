//! The domain events. Amounts are decimal strings: money is never a float.

use super::Event;
use crate::TraceId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionSynced {
    pub account_id: String,
    /// The first 1000 new or updated transactions (`count` says how many there were).
    pub transaction_ids: Vec<String>,
    pub count: u64,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryUpdated {
    pub transaction_id: String,
    pub category: String,
    /// `user`, `rule`, `model` or `llm`.
    pub categorized_by: String,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArbitrageOpportunityFound {
    pub strategy_id: String,
    pub symbol: String,
    pub buy_venue: String,
    pub sell_venue: String,
    /// Decimal strings: the size checked, the VWAP on each side at that size, the profit
    /// after taker fees on both legs, and that profit in basis points of the buy notional.
    pub qty: String,
    pub buy_vwap: String,
    pub sell_vwap: String,
    pub net_profit: String,
    pub net_bps: String,
    /// Whether the strategy traded it (it only reports when `execute` is off).
    pub executed: bool,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeExecuted {
    pub strategy_id: String,
    pub venue: String,
    pub trade_id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    /// Decimal strings.
    pub quantity: String,
    pub price: String,
    /// Quote-valued ("0" when `fee_valued` is false).
    pub fee: String,
    /// As charged: `fee_amount` of `fee_asset` (quote, base or a third asset such as BNB).
    /// Defaults read events staged before these fields existed.
    #[serde(default)]
    pub fee_amount: String,
    #[serde(default)]
    pub fee_asset: String,
    #[serde(default = "yes")]
    pub fee_valued: bool,
    pub live: bool,
    pub trace_id: TraceId,
}

fn yes() -> bool {
    true
}

/// A strategy changed lifecycle state (deploy, stop, pause, resume, fault, restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyStateChanged {
    pub strategy_id: String,
    pub name: String,
    pub from: String,
    pub to: String,
    /// What caused it: `deploy`, `stop`, `pause`, `resume`, `fault` or `restart`.
    pub cause: String,
    pub reason: String,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailed {
    pub job_id: String,
    pub queue: String,
    pub name: String,
    pub error: String,
    pub dead: bool,
    pub trace_id: TraceId,
}

/// A real venue holds a different amount of an asset than our fills imply (balance
/// reconciliation), beyond the tolerance. Sent when a check first finds the difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueBalanceMismatch {
    pub venue: String,
    pub asset: String,
    /// Decimal strings: what the venue holds (free + locked), what our baseline and fills
    /// imply, their difference (held − expected) and the tolerance it exceeded.
    pub actual: String,
    pub expected: String,
    pub drift: String,
    pub tolerance: String,
    /// When the check ran (Unix ms).
    pub checked_at_ms: i64,
    pub trace_id: TraceId,
}

/// Every event type, once: each gets its `Event` impl here and is in [`ALL_EVENT_TYPES`] and
/// [`register_all`], so an event written to the outbox always has a publisher (a type
/// missing from the bus's registry was skipped and marked published: events were lost).
macro_rules! events {
    ($($ty:ident),+ $(,)?) => {
        $(impl Event for $ty {
            const TYPE: &'static str = stringify!($ty);
        })+

        /// The names of all event types (the outbox's `event_type` values).
        pub const ALL_EVENT_TYPES: &[&str] = &[$(stringify!($ty)),+];

        /// Makes every event type known to `bus` by name (the outbox relay's path).
        pub fn register_all(bus: &super::EventBus) {
            $(bus.register::<$ty>();)+
        }
    };
}

events!(
    TransactionSynced,
    CategoryUpdated,
    ArbitrageOpportunityFound,
    TradeExecuted,
    StrategyStateChanged,
    JobFailed,
    VenueBalanceMismatch,
);

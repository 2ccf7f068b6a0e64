//! The domain events. Amounts are decimal strings: money is never a float.

use super::Event;
use crate::TraceId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionSynced {
    pub account_id: String,
    pub transaction_ids: Vec<String>,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryUpdated {
    pub transaction_id: String,
    pub category: String,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArbitrageOpportunityFound {
    pub symbol: String,
    pub buy_venue: String,
    pub sell_venue: String,
    /// Decimal string, e.g. "0.0042".
    pub spread: String,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeExecuted {
    pub strategy_id: String,
    pub symbol: String,
    pub side: String,
    /// Decimal strings.
    pub quantity: String,
    pub price: String,
    pub live: bool,
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

impl Event for TransactionSynced {
    const TYPE: &'static str = "TransactionSynced";
}
impl Event for CategoryUpdated {
    const TYPE: &'static str = "CategoryUpdated";
}
impl Event for ArbitrageOpportunityFound {
    const TYPE: &'static str = "ArbitrageOpportunityFound";
}
impl Event for TradeExecuted {
    const TYPE: &'static str = "TradeExecuted";
}
impl Event for JobFailed {
    const TYPE: &'static str = "JobFailed";
}

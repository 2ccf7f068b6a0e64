//! The rows of the trading tables as stored, and their strict decoding into the runtime's
//! types (an unknown stored value is an error, never a guess).

use crate::db::port_error as dep;
use crate::db::{Arg, Record};
use actors::TraceId;
use actors::ports::DependencyError;
use actors::trading::fsm::StrategyState;
use actors::trading::order::OrderStatus;
use actors::trading::pnl::Position;
use actors::trading::risk::RiskLimits;
use actors::trading::runtime::{OrderRecord, PositionRecord, StrategySpec, StrategyStatus};
use actors::trading::types::{OrderKind, Side};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Stored form of a decimal: no trailing zeros, so `1.00` and `1` are the same text.
pub(crate) fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

pub(crate) fn dec(s: &str) -> Result<Decimal, DependencyError> {
    Decimal::from_str(s).map_err(|e| dep(format!("stored decimal `{s}`: {e}")))
}

/// `strategies` as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StrategyRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub params: String,
    pub connector: String,
    pub symbols: String,
    pub mode: String,
    pub tick_interval_ms: i64,
    pub max_order_notional: String,
    pub max_open_position: String,
    pub max_orders_per_minute: i64,
    pub daily_loss_limit: String,
    pub state: String,
    pub state_version: i64,
    pub state_since: i64,
    pub state_reason: Option<String>,
    pub last_tick_at: Option<i64>,
    pub ticks: i64,
    pub slow_ticks: i64,
    pub pnl_day: Option<i64>,
    pub pnl_day_start: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for StrategyRow {
    const COLUMNS: &'static str = "id, name, kind, params, connector, symbols, mode, tick_interval_ms, \
        max_order_notional, max_open_position, max_orders_per_minute, daily_loss_limit, state, state_version, \
        state_since, state_reason, last_tick_at, ticks, slow_ticks, pnl_day, pnl_day_start, created_at, updated_at";

    fn args(&self) -> Vec<Arg<'_>> {
        vec![
            (&self.id).into(),
            (&self.name).into(),
            (&self.kind).into(),
            (&self.params).into(),
            (&self.connector).into(),
            (&self.symbols).into(),
            (&self.mode).into(),
            self.tick_interval_ms.into(),
            (&self.max_order_notional).into(),
            (&self.max_open_position).into(),
            self.max_orders_per_minute.into(),
            (&self.daily_loss_limit).into(),
            (&self.state).into(),
            self.state_version.into(),
            self.state_since.into(),
            (&self.state_reason).into(),
            self.last_tick_at.into(),
            self.ticks.into(),
            self.slow_ticks.into(),
            self.pnl_day.into(),
            (&self.pnl_day_start).into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

pub const STRATEGY_COLUMNS: &str = StrategyRow::COLUMNS;

impl StrategyRow {
    /// Strict: an unknown stored state is an error, not a guess.
    pub fn state(&self) -> Result<StrategyState, DependencyError> {
        StrategyState::parse(&self.state).ok_or_else(|| {
            dep(format!(
                "stored state `{}` of strategy {}",
                self.state, self.id
            ))
        })
    }

    pub fn spec(&self) -> Result<StrategySpec, DependencyError> {
        Ok(StrategySpec {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            params: serde_json::from_str(&self.params).map_err(dep)?,
            connector: self.connector.clone(),
            symbols: serde_json::from_str(&self.symbols).map_err(dep)?,
            mode: self.mode.clone(),
            tick_interval_ms: u64::try_from(self.tick_interval_ms).unwrap_or(1000),
            limits: RiskLimits {
                max_order_notional: dec(&self.max_order_notional)?,
                max_open_position: dec(&self.max_open_position)?,
                max_orders_per_minute: u32::try_from(self.max_orders_per_minute).unwrap_or(0),
                daily_loss_limit: dec(&self.daily_loss_limit)?,
            },
        })
    }

    pub fn status(&self) -> Result<StrategyStatus, DependencyError> {
        Ok(StrategyStatus {
            state: self.state()?,
            version: self.state_version,
            since_ms: self.state_since,
            pnl_day: self.pnl_day,
            pnl_day_start: self.pnl_day_start.as_deref().map(dec).transpose()?,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub client_order_id: String,
    pub strategy_id: String,
    pub venue: String,
    pub symbol: String,
    pub side: String,
    pub order_type: String,
    pub limit_price: Option<String>,
    pub qty: String,
    pub filled_qty: String,
    pub avg_fill_price: Option<String>,
    pub fees: String,
    pub status: String,
    pub venue_order_id: Option<String>,
    pub reason: Option<String>,
    pub tag: String,
    pub trace_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const ORDER_COLUMNS: &str = "client_order_id, strategy_id, venue, symbol, side, order_type, limit_price, qty, \
    filled_qty, avg_fill_price, fees, status, venue_order_id, reason, tag, trace_id, created_at, updated_at";

impl OrderRow {
    pub(crate) fn record(&self) -> Result<OrderRecord, DependencyError> {
        // Strict: an unknown stored value is an error, never a guess (a corrupt side read
        // as `buy`, a corrupt type as `market`).
        let kind = match (self.order_type.as_str(), &self.limit_price) {
            ("limit", Some(p)) => OrderKind::Limit { price: dec(p)? },
            ("market", None) => OrderKind::Market,
            (t, p) => {
                return Err(dep(format!(
                    "stored order type `{t}` with limit price {p:?} of order {}",
                    self.client_order_id
                )));
            }
        };
        Ok(OrderRecord {
            client_order_id: self.client_order_id.clone(),
            strategy_id: self.strategy_id.clone(),
            venue: self.venue.clone(),
            symbol: self.symbol.clone(),
            side: Side::parse(&self.side)
                .ok_or_else(|| dep(format!("stored order side `{}`", self.side)))?,
            kind,
            qty: dec(&self.qty)?,
            filled_qty: dec(&self.filled_qty)?,
            avg_fill_price: self.avg_fill_price.as_deref().map(dec).transpose()?,
            fees: dec(&self.fees)?,
            status: OrderStatus::parse(&self.status)
                .ok_or_else(|| dep(format!("stored order status `{}`", self.status)))?,
            venue_order_id: self.venue_order_id.clone(),
            reason: self.reason.clone(),
            tag: self.tag.clone(),
            trace_id: TraceId::new(self.trace_id.clone()),
            created_ms: self.created_at,
            updated_ms: self.updated_at,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PositionRow {
    pub strategy_id: String,
    pub venue: String,
    pub symbol: String,
    pub qty: String,
    pub avg_price: String,
    pub realised: String,
    pub fees_paid: String,
    pub mark_price: Option<String>,
    pub updated_at: i64,
}

impl PositionRow {
    pub fn record(&self) -> Result<PositionRecord, DependencyError> {
        Ok(PositionRecord {
            venue: self.venue.clone(),
            symbol: self.symbol.clone(),
            position: Position {
                qty: dec(&self.qty)?,
                avg_price: dec(&self.avg_price)?,
                realised: dec(&self.realised)?,
                fees_paid: dec(&self.fees_paid)?,
            },
            mark: self.mark_price.as_deref().map(dec).transpose()?,
        })
    }
}

//! Request and response bodies of `/v1/trading`. Prices, quantities and money are decimal
//! strings, never JSON numbers.

use crate::api::present::{time, time_opt};
use crate::error::FieldError;
use crate::trading::store::{OrderRow, PositionRow, StrategyRow};
use crate::trading::strategies::TransitionRow;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskLimitsDto {
    /// Largest notional (quantity × price, quote currency) of one order.
    #[schema(example = "1000")]
    pub max_order_notional: String,
    /// Largest |position| × price per venue and symbol (quote currency).
    #[schema(example = "5000")]
    pub max_open_position: String,
    #[schema(example = 30, minimum = 1, maximum = 10000)]
    pub max_orders_per_minute: u32,
    /// New entries stop once today's PnL (UTC day) has lost this much.
    #[schema(example = "250")]
    pub daily_loss_limit: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "btc-threshold",
    "kind": "threshold",
    "params": {"buy_below": "99.5", "sell_above": "100.5", "order_qty": "0.1", "max_position": "1"},
    "connector": "paper",
    "symbols": ["BTC-USDT"],
    "mode": "paper",
    "tick_interval_ms": 1000,
    "risk": {"max_order_notional": "1000", "max_open_position": "5000", "max_orders_per_minute": 30, "daily_loss_limit": "250"}
}))]
pub struct StrategyInput {
    /// 1-64 characters: letters, digits, `.`, `_`, `-`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    #[schema(inline, value_type = crate::api::schema::StrategyKind)]
    pub kind: String,
    /// Parameters of the kind (decimal values as strings); see the example.
    pub params: serde_json::Value,
    /// The venue (`GET /v1/trading/connectors`).
    #[schema(min_length = 1)]
    pub connector: String,
    /// `BASE-QUOTE`, e.g. `BTC-USDT`.
    #[schema(min_items = 1, max_items = 20)]
    pub symbols: Vec<String>,
    /// `paper` (default) or `live`. Live is refused until a live connector exists.
    #[serde(default = "paper")]
    #[schema(inline, value_type = crate::api::schema::TradingMode, default = "paper")]
    pub mode: String,
    /// Default 1000.
    #[serde(default = "second")]
    pub tick_interval_ms: u64,
    pub risk: RiskLimitsDto,
}

fn paper() -> String {
    "paper".to_owned()
}

fn second() -> u64 {
    1000
}

/// Parses a non-negative decimal string, or says which field is wrong.
pub fn decimal(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Decimal {
    match Decimal::from_str(v.trim()) {
        Ok(d) if !d.is_sign_negative() => d,
        Ok(_) => {
            errors.push(FieldError::new(field, "must not be negative"));
            Decimal::ZERO
        }
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be a decimal string such as \"250.00\"",
            ));
            Decimal::ZERO
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Transition {
    pub from: String,
    pub to: String,
    /// `deploy`, `stop`, `pause`, `resume`, `fault` or `restart`.
    pub cause: String,
    pub reason: String,
    pub principal: String,
    pub trace_id: String,
    pub at: DateTime<Utc>,
}

impl From<TransitionRow> for Transition {
    fn from(r: TransitionRow) -> Self {
        Self {
            from: r.from_state,
            to: r.to_state,
            cause: r.cause,
            reason: r.reason,
            principal: r.principal,
            trace_id: r.trace_id,
            at: time(r.at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PositionDto {
    pub venue: String,
    pub symbol: String,
    /// Signed base quantity (negative = short).
    pub qty: String,
    pub avg_price: String,
    /// Last mid price seen; unrealised PnL uses it.
    pub mark_price: Option<String>,
    /// Closed gains minus every fee paid.
    pub realised: String,
    /// At the mark, minus the estimated taker fee to close.
    pub unrealised: String,
    pub fees_paid: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pnl {
    pub realised: String,
    pub unrealised: String,
    pub total: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Strategy {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub params: serde_json::Value,
    pub connector: String,
    pub symbols: Vec<String>,
    pub mode: String,
    pub tick_interval_ms: i64,
    pub risk: RiskLimitsDto,
    /// `idle`, `live`, `paused`, `stopped` or `faulted`.
    pub state: String,
    /// When it entered `state`.
    pub state_since: DateTime<Utc>,
    pub state_reason: Option<String>,
    pub last_tick_at: Option<DateTime<Utc>>,
    pub ticks: i64,
    /// Ticks skipped because the previous one was still running.
    pub slow_ticks: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&StrategyRow> for Strategy {
    fn from(r: &StrategyRow) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            kind: r.kind.clone(),
            params: serde_json::from_str(&r.params).unwrap_or(serde_json::Value::Null),
            connector: r.connector.clone(),
            symbols: serde_json::from_str(&r.symbols).unwrap_or_default(),
            mode: r.mode.clone(),
            tick_interval_ms: r.tick_interval_ms,
            risk: RiskLimitsDto {
                max_order_notional: r.max_order_notional.clone(),
                max_open_position: r.max_open_position.clone(),
                max_orders_per_minute: u32::try_from(r.max_orders_per_minute).unwrap_or(0),
                daily_loss_limit: r.daily_loss_limit.clone(),
            },
            state: r.state.clone(),
            state_since: time(r.state_since),
            state_reason: r.state_reason.clone(),
            last_tick_at: time_opt(r.last_tick_at),
            ticks: r.ticks,
            slow_ticks: r.slow_ticks,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StrategyDetail {
    #[serde(flatten)]
    pub strategy: Strategy,
    pub positions: Vec<PositionDto>,
    pub pnl: Pnl,
    /// Orders not yet filled, cancelled, rejected or expired.
    pub open_orders: i64,
    /// The latest lifecycle changes, newest first.
    pub transitions: Vec<Transition>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Order {
    pub client_order_id: String,
    pub venue: String,
    pub symbol: String,
    pub side: String,
    /// `market` or `limit`.
    pub order_type: String,
    pub limit_price: Option<String>,
    pub qty: String,
    pub filled_qty: String,
    pub avg_fill_price: Option<String>,
    pub fees: String,
    /// `pending_submit`, `open`, `partially_filled`, `filled`, `cancelled`, `rejected`, `expired`.
    pub status: String,
    pub venue_order_id: Option<String>,
    pub reason: Option<String>,
    pub tag: String,
    pub trace_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<OrderRow> for Order {
    fn from(r: OrderRow) -> Self {
        Self {
            client_order_id: r.client_order_id,
            venue: r.venue,
            symbol: r.symbol,
            side: r.side,
            order_type: r.order_type,
            limit_price: r.limit_price,
            qty: r.qty,
            filled_qty: r.filled_qty,
            avg_fill_price: r.avg_fill_price,
            fees: r.fees,
            status: r.status,
            venue_order_id: r.venue_order_id,
            reason: r.reason,
            tag: r.tag,
            trace_id: r.trace_id,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandInput {
    pub strategy_id: String,
    /// Kept in the transition history and audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandAccepted {
    /// Follow it at `GET /v1/jobs/{id}`.
    pub job_id: String,
    pub strategy_id: String,
    pub command: String,
    /// `true`: the same command for the same state was already queued; this is that job.
    pub deduplicated: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Connector {
    pub name: String,
    /// Moves real money.
    pub live: bool,
    /// `paper`, `sandbox` (a real venue's test environment), `live`, or `unconfigured`
    /// (a real venue without its integration setting).
    pub mode: String,
    pub maker_fee: String,
    pub taker_fee: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Balance {
    pub asset: String,
    /// Free balance (funds reserved by resting orders excluded).
    pub free: String,
    /// Held by open orders (Binance `locked`, Kraken `hold_trade`; 0 on paper venues).
    pub locked: String,
    /// Free + locked.
    pub total: String,
    /// Balance reconciliation (real venues, assets our strategies trade): what our baseline
    /// and fills imply this venue should hold (total), `total − expected`, and whether that
    /// is within the tolerance. `null` for assets not reconciled.
    pub expected: Option<String>,
    pub drift: Option<String>,
    pub within_tolerance: Option<bool>,
    /// When that reconciliation ran (RFC 3339); this read runs one.
    pub reconciled_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StrategyPnl {
    pub strategy_id: String,
    pub name: String,
    pub state: String,
    /// Quote currency of the strategy's symbols (PnL is in it).
    pub currency: String,
    #[serde(flatten)]
    pub pnl: Pnl,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PnlReport {
    pub strategies: Vec<StrategyPnl>,
    /// Totals per quote currency (no FX conversion).
    pub totals: std::collections::BTreeMap<String, Pnl>,
}

pub(super) fn position_dto(r: &PositionRow, exit_fee: Decimal) -> (PositionDto, Decimal, Decimal) {
    let rec = r.record().ok();
    let (realised, unrealised) = rec.as_ref().map_or((Decimal::ZERO, Decimal::ZERO), |p| {
        let mark = p.mark.unwrap_or(p.position.avg_price);
        (p.position.realised, p.position.unrealised(mark, exit_fee))
    });
    (
        PositionDto {
            venue: r.venue.clone(),
            symbol: r.symbol.clone(),
            qty: r.qty.clone(),
            // Stored at full precision; shown to 8 decimal places.
            avg_price: r.avg_price.parse::<Decimal>().map_or_else(
                |_| r.avg_price.clone(),
                |d| d.round_dp(8).normalize().to_string(),
            ),
            mark_price: r.mark_price.clone(),
            realised: realised.round_dp(8).normalize().to_string(),
            unrealised: unrealised.round_dp(8).normalize().to_string(),
            fees_paid: r.fees_paid.clone(),
        },
        realised,
        unrealised,
    )
}

pub(super) fn pnl(realised: Decimal, unrealised: Decimal) -> Pnl {
    Pnl {
        realised: realised.round_dp(8).normalize().to_string(),
        unrealised: unrealised.round_dp(8).normalize().to_string(),
        total: (realised + unrealised).round_dp(8).normalize().to_string(),
    }
}

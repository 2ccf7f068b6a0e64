//! The body of a running strategy, free of actix: reconcile orders, read books, ask the
//! strategy, gate intents through risk, record each order *before* sending it, apply venue
//! reports (fills deduplicated by trade id) and keep positions and PnL. The actor drives it;
//! tests drive it directly.
//!
//! Layout: this file holds the engine's state, loading and the tick; `orders.rs` what
//! happens to orders (reconcile, gate + record + send, venue reports, cancel);
//! `metric_names.rs` the runtime's metric names.

mod metric_names;
mod orders;

pub use self::metric_names::{
    ARBITRAGE_OPPORTUNITIES_TOTAL, ORDERS_SENT_TOTAL, PNL_ESTIMATED, RISK_REJECTIONS_TOTAL,
    STRATEGIES_LIVE, STRATEGY_FAULTS_TOTAL, TRADING_SLOW_TICKS_TOTAL,
    TRADING_TICK_DURATION_SECONDS, describe_metrics,
};

use super::deps::Deps;
use super::store::{OrderRecord, StrategySpec, TickRecord};
use crate::TraceId;
use crate::events::ArbitrageOpportunityFound;
use crate::ports::DependencyError;
use crate::trading::connector::{Connector, ConnectorError};
use crate::trading::fsm::StrategyState;
use crate::trading::pnl::Position;
use crate::trading::risk::OrderRate;
use crate::trading::strategy::{self, Strategy, TickInput};
use crate::trading::types::{Fees, Intent, OrderBook, OrderKind, Side};
use orders::{Submitted, unbalanced_arbitrage};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("venue {venue}: {source}")]
    Venue {
        venue: String,
        source: ConnectorError,
    },
    #[error("store: {0}")]
    Store(#[from] DependencyError),
    #[error("invalid strategy: {0}")]
    Invalid(String),
}

type Key = (String, String);

pub struct Engine {
    spec: StrategySpec,
    deps: Arc<Deps>,
    strategy: Box<dyn Strategy>,
    pub state: StrategyState,
    positions: BTreeMap<Key, Position>,
    marks: BTreeMap<Key, Decimal>,
    open: BTreeMap<String, OrderRecord>,
    seen: HashSet<Key>,
    rate: OrderRate,
    reconciled: bool,
    consecutive_errors: u32,
    pnl_day: i64,
    pnl_day_start: Option<Decimal>,
    trace_id: TraceId,
    slow_ticks: Arc<AtomicU64>,
    seq: u64,
    live: bool,
    /// Fee rates per venue: fixed per connector, so read once rather than every tick.
    fees: BTreeMap<String, Fees>,
}

/// What one tick did (for tests and logs).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickSummary {
    pub orders: Vec<String>,
    pub rejected: Vec<String>,
    pub opportunities: usize,
}

impl Engine {
    /// Builds the strategy and loads positions and unfinished orders. Nothing is sent to a
    /// venue until the first tick has reconciled those orders.
    pub async fn load(
        spec: StrategySpec,
        state: StrategyState,
        pnl_day: Option<(i64, Decimal)>,
        deps: Arc<Deps>,
        trace_id: TraceId,
    ) -> Result<Self, EngineError> {
        let strategy = strategy::build(&spec.kind, &spec.params, &spec.connector, &spec.symbols)
            .map_err(|errs| {
                EngineError::Invalid(
                    errs.iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        for (venue, _) in strategy.subscriptions() {
            if !deps.venues.contains_key(&venue) {
                return Err(EngineError::Invalid(format!("unknown connector `{venue}`")));
            }
        }
        let positions = deps
            .store
            .positions(&spec.id)
            .await?
            .into_iter()
            .map(|p| ((p.venue, p.symbol), p.position))
            .collect();
        let open = deps
            .store
            .open_orders(&spec.id)
            .await?
            .into_iter()
            .map(|o| (o.client_order_id.clone(), o))
            .collect();
        let live = spec.mode == "live";
        let fees = deps
            .venues
            .iter()
            .map(|(n, c)| (n.clone(), c.fees()))
            .collect();
        // This strategy's series exist from its start, not from its first order or tick.
        for side in [Side::Buy, Side::Sell] {
            metrics::counter!(ORDERS_SENT_TOTAL, "strategy" => spec.name.clone(), "side" => side.as_str())
                .increment(0);
        }
        let _ = metrics::gauge!(PNL_ESTIMATED, "strategy" => spec.name.clone());
        Ok(Self {
            fees,
            strategy,
            state,
            positions,
            marks: BTreeMap::new(),
            open,
            seen: HashSet::new(),
            rate: OrderRate::default(),
            reconciled: false,
            consecutive_errors: 0,
            pnl_day: pnl_day.map_or(-1, |(d, _)| d),
            pnl_day_start: pnl_day.map(|(_, v)| v),
            trace_id,
            slow_ticks: Arc::new(AtomicU64::new(0)),
            seq: 0,
            live,
            spec,
            deps,
        })
    }

    pub fn spec(&self) -> &StrategySpec {
        &self.spec
    }

    /// The counter of skipped (slow) ticks: the actor that ticks this engine increments it,
    /// the engine saves and resets it with the strategy's status. One counter shared by both
    /// (each used to have its own, so the stored value was always 0).
    pub fn slow_ticks(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.slow_ticks)
    }

    pub fn positions(&self) -> &BTreeMap<Key, Position> {
        &self.positions
    }

    pub fn open_orders(&self) -> impl Iterator<Item = &OrderRecord> {
        self.open.values()
    }

    /// Consecutive failed ticks so far.
    pub fn consecutive_errors(&self) -> u32 {
        self.consecutive_errors
    }

    fn venue(&self, name: &str) -> Result<Arc<dyn Connector>, EngineError> {
        self.deps
            .venues
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::Invalid(format!("unknown connector `{name}`")))
    }

    async fn call<T>(
        &self,
        venue: &str,
        fut: impl Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(self.deps.config.venue_timeout, fut).await {
            Ok(res) => res.map_err(|source| EngineError::Venue {
                venue: venue.to_owned(),
                source,
            }),
            Err(_) => Err(EngineError::Venue {
                venue: venue.to_owned(),
                source: ConnectorError::Unavailable("timed out".to_owned()),
            }),
        }
    }

    fn exit_fee(&self, venue: &str) -> Decimal {
        self.deps
            .venues
            .get(venue)
            .map_or(Decimal::ZERO, |v| v.fees().taker)
    }

    /// Realised + unrealised over all positions, exit fees estimated at the taker rate.
    pub fn pnl_total(&self) -> Decimal {
        self.positions
            .iter()
            .map(|(key, p)| {
                let mark = self.marks.get(key).copied().unwrap_or(p.avg_price);
                p.total(mark, self.exit_fee(&key.0))
            })
            .sum()
    }

    /// One tick. Errors count towards faulting; the caller decides when to fault.
    #[tracing::instrument(skip_all, fields(strategy = %self.spec.id, trace_id = %self.trace_id))]
    pub async fn tick(&mut self) -> Result<TickSummary, EngineError> {
        let res = self.tick_inner().await;
        match &res {
            Ok(_) => self.consecutive_errors = 0,
            // The venue holds every call back for a while (429): the tick did nothing, and
            // it is no sign of this strategy being broken.
            Err(EngineError::Venue {
                venue,
                source: ConnectorError::Paused(why),
            }) => {
                tracing::info!(%venue, %why, "venue paused; tick skipped");
            }
            Err(e) => {
                self.consecutive_errors += 1;
                tracing::warn!(error = %e, consecutive = self.consecutive_errors, "tick failed");
            }
        }
        res
    }

    async fn tick_inner(&mut self) -> Result<TickSummary, EngineError> {
        let now = (self.deps.clock)();
        self.refresh_orders().await?;
        let mut books: BTreeMap<Key, OrderBook> = BTreeMap::new();
        for (venue, symbol) in self.strategy.subscriptions() {
            let conn = self.venue(&venue)?;
            let book = self
                .call(
                    &venue,
                    conn.order_book(&symbol, self.deps.config.book_depth),
                )
                .await?;
            if let Some(mid) = book.mid() {
                self.marks.insert((venue.clone(), symbol.clone()), mid);
            }
            books.insert((venue, symbol), book);
        }
        let positions: BTreeMap<Key, Decimal> = self
            .positions
            .iter()
            .map(|(k, p)| (k.clone(), p.qty))
            .collect();
        // A market order still unsettled (the venue has not reported it final) would make
        // the strategy ask for the same trade again: wait for it instead.
        if self
            .open
            .values()
            .any(|o| matches!(o.kind, OrderKind::Market))
        {
            self.finish_tick(now).await?;
            return Ok(TickSummary::default());
        }
        let decision = self.strategy.on_tick(&TickInput {
            now_ms: now,
            books: &books,
            positions: &positions,
            fees: &self.fees,
            open_orders: self.open.len(),
        });
        let execute = !decision.intents.is_empty();
        let mut summary = TickSummary {
            opportunities: decision.opportunities.len(),
            ..TickSummary::default()
        };
        for o in &decision.opportunities {
            metrics::counter!(ARBITRAGE_OPPORTUNITIES_TOTAL, "strategy" => self.spec.name.clone())
                .increment(1);
            self.deps.events.publish(ArbitrageOpportunityFound {
                strategy_id: self.spec.id.clone(),
                symbol: o.symbol.clone(),
                buy_venue: o.buy_venue.clone(),
                sell_venue: o.sell_venue.clone(),
                qty: o.qty.to_string(),
                buy_vwap: o.buy_vwap.to_string(),
                sell_vwap: o.sell_vwap.to_string(),
                net_profit: o.net_profit.to_string(),
                net_bps: o.net_bps.round_dp(4).to_string(),
                executed: execute,
                trace_id: self.trace_id.clone(),
            });
        }
        let pnl_today = self.pnl_today(now);
        let mut legs: Vec<(Intent, OrderRecord)> = Vec::new();
        for intent in decision.intents {
            match self.submit(&intent, &books, pnl_today, now).await? {
                Submitted::Order(order) => {
                    summary.orders.push(order.client_order_id.clone());
                    legs.push((intent, *order));
                }
                Submitted::Refused(reason) => summary.rejected.push(reason.to_owned()),
            }
        }
        if let Some(unwind) = unbalanced_arbitrage(&legs) {
            tracing::warn!(tag = %unwind.tag, qty = %unwind.qty, venue = %unwind.venue, "arbitrage leg failed; unwinding the filled leg");
            match self.submit(&unwind, &books, pnl_today, now).await? {
                Submitted::Order(order) => summary.orders.push(order.client_order_id),
                Submitted::Refused(reason) => summary.rejected.push(reason.to_owned()),
            }
        }
        self.finish_tick(now).await?;
        Ok(summary)
    }

    fn pnl_today(&mut self, now: i64) -> Decimal {
        let day = now.div_euclid(86_400_000);
        let total = self.pnl_total();
        if self.pnl_day != day || self.pnl_day_start.is_none() {
            self.pnl_day = day;
            self.pnl_day_start = Some(total);
        }
        total - self.pnl_day_start.unwrap_or(total)
    }

    async fn finish_tick(&mut self, now: i64) -> Result<(), EngineError> {
        let pnl = self.pnl_total();
        metrics::gauge!(PNL_ESTIMATED, "strategy" => self.spec.name.clone())
            .set(decimal_to_gauge(pnl));
        let marks = self
            .positions
            .iter()
            .filter(|(_, p)| !p.qty.is_zero())
            .filter_map(|(k, _)| self.marks.get(k).map(|m| (k.0.clone(), k.1.clone(), *m)))
            .collect();
        self.deps
            .store
            .tick_done(&TickRecord {
                strategy_id: self.spec.id.clone(),
                at_ms: now,
                slow_ticks: self.slow_ticks.swap(0, Ordering::Relaxed),
                marks,
                pnl_day: self.pnl_day,
                pnl_day_start: self.pnl_day_start.unwrap_or(pnl),
            })
            .await?;
        Ok(())
    }
}

/// Gauges take f64; this is display only, the money itself stays decimal.
fn decimal_to_gauge(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

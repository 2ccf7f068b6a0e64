//! The body of a running strategy, free of actix: reconcile orders, read books, ask the
//! strategy, gate intents through risk, record each order *before* sending it, apply venue
//! reports (fills deduplicated by trade id) and keep positions and PnL. The actor drives it;
//! tests drive it directly.

use super::deps::Deps;
use super::store::{FillRecord, OrderRecord, PositionRecord, StrategySpec, TickRecord};
use crate::TraceId;
use crate::events::ArbitrageOpportunityFound;
use crate::ports::DependencyError;
use crate::trading::book::taker_vwap;
use crate::trading::connector::{Connector, ConnectorError};
use crate::trading::fsm::StrategyState;
use crate::trading::order::{OrderStatus, order_transition};
use crate::trading::pnl::Position;
use crate::trading::risk::{self, OrderRate, RiskInput};
use crate::trading::strategy::{self, Strategy, TickInput};
use crate::trading::types::{Fees, Intent, OrderBook, OrderKind, OrderReport, OrderRequest, Side};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const STRATEGIES_LIVE: &str = "strategies_live";
pub const ORDERS_SENT_TOTAL: &str = "orders_sent_total";
pub const PNL_ESTIMATED: &str = "pnl_estimated";
pub const TRADING_TICK_DURATION_SECONDS: &str = "trading_tick_duration_seconds";
pub const TRADING_SLOW_TICKS_TOTAL: &str = "trading_slow_ticks_total";
pub const RISK_REJECTIONS_TOTAL: &str = "risk_rejections_total";
pub const ARBITRAGE_OPPORTUNITIES_TOTAL: &str = "arbitrage_opportunities_total";

pub fn describe_metrics() {
    metrics::describe_gauge!(STRATEGIES_LIVE, "Strategies running (live or paused).");
    // Registered (+0, the value untouched) so the gauge is exported from boot.
    metrics::gauge!(STRATEGIES_LIVE).increment(0.0);
    metrics::describe_counter!(ORDERS_SENT_TOTAL, "Orders sent to a venue.");
    metrics::describe_gauge!(
        PNL_ESTIMATED,
        "Realised + unrealised PnL of a strategy in its quote currency, exit fees estimated."
    );
    metrics::describe_histogram!(
        TRADING_TICK_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Run time of one strategy tick."
    );
    metrics::describe_counter!(
        TRADING_SLOW_TICKS_TOTAL,
        "Ticks skipped because the previous tick of the strategy was still running."
    );
    metrics::describe_counter!(RISK_REJECTIONS_TOTAL, "Intents the risk gate refused.");
    metrics::describe_counter!(
        ARBITRAGE_OPPORTUNITIES_TOTAL,
        "Cross-venue opportunities that beat fees at depth."
    );
}

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
                Ok(order) => {
                    summary.orders.push(order.client_order_id.clone());
                    legs.push((intent, order));
                }
                Err(reason) => summary.rejected.push(reason),
            }
        }
        if let Some(unwind) = unbalanced_arbitrage(&legs) {
            tracing::warn!(tag = %unwind.tag, qty = %unwind.qty, venue = %unwind.venue, "arbitrage leg failed; unwinding the filled leg");
            match self.submit(&unwind, &books, pnl_today, now).await? {
                Ok(order) => summary.orders.push(order.client_order_id),
                Err(reason) => summary.rejected.push(reason),
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

    /// Brings unfinished orders up to date. The first time (after a deploy or a restart) this
    /// is the reconciliation that must happen before anything new is sent.
    async fn refresh_orders(&mut self) -> Result<(), EngineError> {
        let ids: Vec<String> = self.open.keys().cloned().collect();
        for id in ids {
            let Some(mut order) = self.open.get(&id).cloned() else {
                continue;
            };
            let conn = self.venue(&order.venue)?;
            match self.call(&order.venue, conn.order_status(&id)).await? {
                Some(report) => self.apply_report(&mut order, &report).await?,
                None => {
                    // The venue never saw it: it was recorded, then the process died (or the
                    // send failed) before the venue accepted it. Nothing can fill it now.
                    let (to, why) = if order.status == OrderStatus::PendingSubmit {
                        (OrderStatus::Rejected, "never reached the venue")
                    } else {
                        (OrderStatus::Expired, "unknown to the venue")
                    };
                    if order_transition(order.status, to).is_ok() {
                        order.status = to;
                        order.reason = Some(why.to_owned());
                        order.updated_ms = (self.deps.clock)();
                        self.deps.store.update_order(&order).await?;
                    }
                }
            }
            if order.status.is_terminal() {
                self.open.remove(&id);
            } else {
                self.open.insert(id, order);
            }
        }
        self.reconciled = true;
        Ok(())
    }

    /// Risk-checks, records (`pending_submit`), then sends one intent. `Ok(Err(reason))` =
    /// refused by the risk gate.
    async fn submit(
        &mut self,
        intent: &Intent,
        books: &BTreeMap<Key, OrderBook>,
        pnl_today: Decimal,
        now: i64,
    ) -> Result<Result<OrderRecord, String>, EngineError> {
        let conn = self.venue(&intent.venue)?;
        let key = (intent.venue.clone(), intent.symbol.clone());
        let position = self.positions.get(&key).map_or(Decimal::ZERO, |p| p.qty);
        let price = match intent.kind {
            OrderKind::Limit { price } => Some(price),
            OrderKind::Market => books.get(&key).and_then(|b| {
                taker_vwap(b, intent.side, intent.qty).or_else(|| match intent.side {
                    Side::Buy => b.best_ask(),
                    Side::Sell => b.best_bid(),
                })
            }),
        };
        let input = RiskInput {
            state: self.state,
            price,
            position,
            orders_last_minute: self.rate.count(now),
            pnl_today,
        };
        if let Err(rejection) = risk::check(&self.spec.limits, intent, &input) {
            metrics::counter!(RISK_REJECTIONS_TOTAL, "reason" => rejection.reason()).increment(1);
            tracing::info!(reason = rejection.reason(), detail = %rejection, tag = %intent.tag, "risk gate refused an intent");
            return Ok(Err(rejection.reason().to_owned()));
        }
        self.rate.record(now);
        self.seq += 1;
        let mut order = OrderRecord {
            client_order_id: format!("ais-{now:x}-{:08x}-{}", rand::random::<u32>(), self.seq),
            strategy_id: self.spec.id.clone(),
            venue: intent.venue.clone(),
            symbol: intent.symbol.clone(),
            side: intent.side,
            kind: intent.kind,
            qty: intent.qty,
            filled_qty: Decimal::ZERO,
            avg_fill_price: None,
            fees: Decimal::ZERO,
            status: OrderStatus::PendingSubmit,
            venue_order_id: None,
            reason: None,
            tag: intent.tag.clone(),
            trace_id: self.trace_id.clone(),
            created_ms: now,
            updated_ms: now,
        };
        // Recorded before the venue sees it: a crash after this line leaves a row that the
        // next start reconciles, never an order we do not know about.
        self.deps.store.insert_order(&order).await?;
        metrics::counter!(ORDERS_SENT_TOTAL, "strategy" => self.spec.name.clone(), "side" => intent.side.as_str())
            .increment(1);
        let request = OrderRequest {
            client_order_id: order.client_order_id.clone(),
            symbol: intent.symbol.clone(),
            side: intent.side,
            kind: intent.kind,
            qty: intent.qty,
        };
        match self.call(&intent.venue, conn.place(&request)).await {
            Ok(report) => self.apply_report(&mut order, &report).await?,
            Err(EngineError::Venue {
                source: ConnectorError::Rejected(why),
                ..
            }) => {
                order.status = OrderStatus::Rejected;
                order.reason = Some(why);
                order.updated_ms = (self.deps.clock)();
                self.deps.store.update_order(&order).await?;
            }
            Err(e) => {
                // Unknown outcome: keep it pending and let the next tick ask the venue.
                self.open.insert(order.client_order_id.clone(), order);
                return Err(e);
            }
        }
        if !order.status.is_terminal() {
            self.open
                .insert(order.client_order_id.clone(), order.clone());
        }
        Ok(Ok(order))
    }

    /// Applies a venue report: new fills (deduplicated by venue + trade id) move the
    /// position, then the status moves if the order state machine allows it.
    async fn apply_report(
        &mut self,
        order: &mut OrderRecord,
        report: &OrderReport,
    ) -> Result<(), EngineError> {
        let key = (order.venue.clone(), order.symbol.clone());
        let mut changed = false;
        for f in &report.fills {
            let seen_key = (order.venue.clone(), f.trade_id.clone());
            if self.seen.contains(&seen_key) {
                continue;
            }
            let mut position = self.positions.get(&key).cloned().unwrap_or_default();
            position.apply(order.side, f.qty, f.price, f.fee);
            let fill = FillRecord {
                venue: order.venue.clone(),
                trade_id: f.trade_id.clone(),
                client_order_id: order.client_order_id.clone(),
                strategy_id: self.spec.id.clone(),
                symbol: order.symbol.clone(),
                side: order.side,
                qty: f.qty,
                price: f.price,
                fee: f.fee,
                liquidity: f.liquidity,
                ts_ms: f.ts_ms,
                trace_id: self.trace_id.clone(),
                live: self.live,
            };
            let record = PositionRecord {
                venue: key.0.clone(),
                symbol: key.1.clone(),
                position: position.clone(),
                mark: self.marks.get(&key).copied(),
            };
            let new = self.deps.store.record_fill(&fill, &record).await?;
            self.seen.insert(seen_key);
            if new {
                let before = order.filled_qty;
                let filled = before + f.qty;
                let notional =
                    order.avg_fill_price.unwrap_or(Decimal::ZERO) * before + f.price * f.qty;
                order.avg_fill_price = Some(notional / filled);
                order.filled_qty = filled;
                order.fees += f.fee;
                self.positions.insert(key.clone(), position);
                changed = true;
            } else {
                tracing::info!(trade_id = %f.trade_id, "duplicate fill ignored");
            }
        }
        if order.venue_order_id.as_deref() != Some(report.venue_order_id.as_str()) {
            order.venue_order_id = Some(report.venue_order_id.clone());
            changed = true;
        }
        if report.status != order.status {
            match order_transition(order.status, report.status) {
                Ok(to) => {
                    order.status = to;
                    order.reason.clone_from(&report.reason);
                    changed = true;
                }
                Err(e) => {
                    tracing::warn!(order = %order.client_order_id, error = %e, "venue reported an impossible status; kept ours")
                }
            }
        }
        if changed {
            order.updated_ms = (self.deps.clock)();
            self.deps.store.update_order(order).await?;
        }
        Ok(())
    }

    /// Cancels every unfinished order (on stop). Best effort per order; the first error is
    /// returned after all were tried.
    pub async fn cancel_open_orders(&mut self) -> Result<(), EngineError> {
        let mut first_err = None;
        let ids: Vec<String> = self.open.keys().cloned().collect();
        for id in ids {
            let Some(mut order) = self.open.get(&id).cloned() else {
                continue;
            };
            let res = async {
                let conn = self.venue(&order.venue)?;
                let report = self.call(&order.venue, conn.cancel(&id)).await?;
                self.apply_report(&mut order, &report).await
            }
            .await;
            match res {
                Ok(()) => {
                    if order.status.is_terminal() {
                        self.open.remove(&id);
                    }
                }
                Err(EngineError::Venue {
                    source: ConnectorError::UnknownOrder(_),
                    ..
                }) => {
                    self.open.remove(&id);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// When an arbitrage tick sent both legs and they filled unequally, the order that brings
/// the exposure back to flat on the over-filled side.
fn unbalanced_arbitrage(legs: &[(Intent, OrderRecord)]) -> Option<Intent> {
    let buy = legs.iter().find(|(i, _)| i.tag == "arb:buy")?;
    let sell = legs.iter().find(|(i, _)| i.tag == "arb:sell")?;
    if !buy.1.status.is_terminal() || !sell.1.status.is_terminal() {
        return None;
    }
    let diff = buy.1.filled_qty - sell.1.filled_qty;
    if diff > Decimal::ZERO {
        Some(crate::trading::arbitrage::unwind(&buy.0, diff))
    } else if diff < Decimal::ZERO {
        Some(crate::trading::arbitrage::unwind(&sell.0, -diff))
    } else {
        None
    }
}

/// Gauges take f64; this is display only, the money itself stays decimal.
fn decimal_to_gauge(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

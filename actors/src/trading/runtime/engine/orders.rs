//! The engine's orders: reconciling unfinished ones with their venue, gating, recording and
//! sending new ones, applying venue reports (fills deduplicated by venue + trade id), and
//! cancelling on stop.

use super::metric_names::{ORDERS_SENT_TOTAL, RISK_REJECTIONS_TOTAL, TRADING_UNVALUED_FEES_TOTAL};
use super::{Engine, EngineError, Key};
use crate::trading::book::taker_vwap;
use crate::trading::connector::ConnectorError;
use crate::trading::order::{OrderStatus, order_transition};
use crate::trading::pnl::Position;
use crate::trading::risk::{self, RiskInput};
use crate::trading::runtime::store::{FillRecord, OrderRecord, PositionRecord};
use crate::trading::types::{
    FillReport, Intent, OrderBook, OrderKind, OrderReport, OrderRequest, Side, split_symbol,
};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// What became of one intent.
#[derive(Debug)]
pub(super) enum Submitted {
    /// Recorded, then sent; its status says how far the venue took it.
    Order(Box<OrderRecord>),
    /// The risk gate refused it for this reason; nothing was recorded or sent.
    Refused(&'static str),
}

impl Engine {
    /// Brings unfinished orders up to date. The first time (after a deploy or a restart) this
    /// is the reconciliation that must happen before anything new is sent.
    pub(super) async fn refresh_orders(&mut self) -> Result<(), EngineError> {
        let ids: Vec<String> = self.open.keys().cloned().collect();
        for id in ids {
            let Some(mut order) = self.open.get(&id).cloned() else {
                continue;
            };
            let conn = self.venue(&order.venue)?;
            match self
                .call(&order.venue, conn.order_status(&order.symbol, &id))
                .await?
            {
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

    /// Risk-checks, records (`pending_submit`), then sends one intent. The span covers the
    /// order's round trip from the strategy's decision until the venue's answer is applied
    /// and committed (`bench/trading.sh` times it, minus the `venue_http` spans inside it).
    #[tracing::instrument(name = "order_round_trip", level = "debug", skip_all, fields(venue = %intent.venue))]
    pub(super) async fn submit(
        &mut self,
        intent: &Intent,
        books: &BTreeMap<Key, OrderBook>,
        pnl_today: Decimal,
        now: i64,
    ) -> Result<Submitted, EngineError> {
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
        // A strategy's mode must match its venue's at the moment of sending: a venue switched
        // to live under a paper strategy (or back) must not carry its orders along.
        if conn.is_live() != self.live {
            metrics::counter!(RISK_REJECTIONS_TOTAL, "reason" => "venue_mode").increment(1);
            tracing::warn!(venue = %intent.venue, live_venue = conn.is_live(), "venue mode does not match the strategy's; not sent");
            return Ok(Submitted::Refused("venue_mode"));
        }
        // The venue's own rules: round in the safe direction, refuse what it would reject.
        let rules = self
            .call(&intent.venue, conn.symbol_rules(&intent.symbol))
            .await?;
        let fitted = match rules.fit(intent, price) {
            Ok(fitted) => fitted,
            Err(rejection) => {
                metrics::counter!(RISK_REJECTIONS_TOTAL, "reason" => rejection.reason())
                    .increment(1);
                tracing::info!(reason = rejection.reason(), detail = %rejection, tag = %intent.tag, "venue rules refused an intent");
                return Ok(Submitted::Refused(rejection.reason()));
            }
        };
        let intent = &fitted;
        let price = match intent.kind {
            OrderKind::Limit { price } => Some(price),
            OrderKind::Market => price,
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
            return Ok(Submitted::Refused(rejection.reason()));
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
        Ok(Submitted::Order(Box::new(order)))
    }

    /// Applies a venue report: new fills (deduplicated by venue + trade id) move the
    /// position, then the status moves if the order state machine allows it. The fills this
    /// engine has not seen and the order's new state commit together (one write); when the
    /// store has one of them already (a restart replaying a report) it goes fill by fill.
    pub(super) async fn apply_report(
        &mut self,
        order: &mut OrderRecord,
        report: &OrderReport,
    ) -> Result<(), EngineError> {
        let unseen: Vec<&FillReport> = report
            .fills
            .iter()
            .filter(|f| {
                !self
                    .seen
                    .contains(&(order.venue.clone(), f.trade_id.clone()))
            })
            .collect();
        if !unseen.is_empty() {
            let mut after = order.clone();
            let mut positions = self.positions.clone();
            let mut batch = Vec::with_capacity(unseen.len());
            for f in &unseen {
                let (fill, record) = self.fill_records(&after, f, &mut positions);
                add_fill(&mut after, f);
                batch.push((fill, record));
            }
            take_status(&mut after, report);
            after.updated_ms = (self.deps.clock)();
            if self
                .deps
                .store
                .record_fills_and_order(&batch, &after)
                .await?
            {
                for (fill, _) in &batch {
                    self.fill_recorded(fill);
                }
                self.positions = positions;
                *order = after;
                return Ok(());
            }
        }
        self.apply_report_fill_by_fill(order, report).await
    }

    /// [`apply_report`](Self::apply_report) one fill per write: the store says which fills it
    /// had already.
    async fn apply_report_fill_by_fill(
        &mut self,
        order: &mut OrderRecord,
        report: &OrderReport,
    ) -> Result<(), EngineError> {
        let mut changed = false;
        for f in &report.fills {
            let seen_key = (order.venue.clone(), f.trade_id.clone());
            if self.seen.contains(&seen_key) {
                continue;
            }
            let mut positions = self.positions.clone();
            let (fill, record) = self.fill_records(order, f, &mut positions);
            let new = self.deps.store.record_fill(&fill, &record).await?;
            if new {
                self.fill_recorded(&fill);
                add_fill(order, f);
                self.positions = positions;
                changed = true;
            } else {
                self.seen.insert(seen_key);
                tracing::info!(trade_id = %f.trade_id, "duplicate fill ignored");
            }
        }
        changed |= take_status(order, report);
        if changed {
            order.updated_ms = (self.deps.clock)();
            self.deps.store.update_order(order).await?;
        }
        Ok(())
    }

    /// The fill as stored and the position it leaves (moved in `positions`).
    fn fill_records(
        &self,
        order: &OrderRecord,
        f: &FillReport,
        positions: &mut BTreeMap<Key, Position>,
    ) -> (FillRecord, PositionRecord) {
        let key = (order.venue.clone(), order.symbol.clone());
        let position = positions.entry(key.clone()).or_default();
        position.apply(order.side, f.qty, f.price, f.fee);
        // A fee kept in the base asset leaves us holding less than the fill's quantity.
        if split_symbol(&order.symbol).is_some_and(|(base, _)| base == f.fee_asset) {
            position.deduct_base_fee(f.fee_amount);
        }
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
            fee_amount: f.fee_amount,
            fee_asset: f.fee_asset.clone(),
            fee_valued: f.fee_valued,
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
        (fill, record)
    }

    /// A fill is stored: it is never applied again, and an unvalued fee is said out loud.
    fn fill_recorded(&mut self, fill: &FillRecord) {
        self.seen
            .insert((fill.venue.clone(), fill.trade_id.clone()));
        if !fill.fee_valued {
            metrics::counter!(TRADING_UNVALUED_FEES_TOTAL, "venue" => fill.venue.clone(), "asset" => fill.fee_asset.clone())
                .increment(1);
            tracing::warn!(trade_id = %fill.trade_id, fee = %fill.fee_amount, asset = %fill.fee_asset, "fee in an asset with no known price: recorded unvalued, not in PnL");
        }
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
                let report = self
                    .call(&order.venue, conn.cancel(&order.symbol, &id))
                    .await?;
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

/// The order's filled quantity, average price and fees after one more fill.
fn add_fill(order: &mut OrderRecord, f: &FillReport) {
    let before = order.filled_qty;
    let filled = before + f.qty;
    let notional = order.avg_fill_price.unwrap_or(Decimal::ZERO) * before + f.price * f.qty;
    order.avg_fill_price = Some(notional / filled);
    order.filled_qty = filled;
    order.fees += f.fee;
}

/// The venue's id and status from its report, where they move the order; `true` if they did.
fn take_status(order: &mut OrderRecord, report: &OrderReport) -> bool {
    let mut changed = false;
    // An empty venue id: the venue has not shown the order yet (still pending).
    if !report.venue_order_id.is_empty()
        && order.venue_order_id.as_deref() != Some(report.venue_order_id.as_str())
    {
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
    changed
}

/// When an arbitrage tick sent both legs and they filled unequally, the order that brings
/// the exposure back to flat on the over-filled side.
pub(super) fn unbalanced_arbitrage(legs: &[(Intent, OrderRecord)]) -> Option<Intent> {
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

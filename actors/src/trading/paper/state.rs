//! The paper venue's in-memory state: total balances, resting orders, the id sequence and the
//! last book seen per symbol. Pure and synchronous; `exchange.rs` persists every change.
//!
//! Reservations are not stored: they are derived from the resting orders (worst-case cost of
//! what is left of each), so they can never drift from the orders and come back by themselves
//! after a restart.

use super::store::{PaperOrder, PaperSnapshot};
use crate::trading::order::{IllegalOrderTransition, OrderStatus, order_transition};
use crate::trading::types::{Fees, Level, OrderBook, OrderKind, Side, split_symbol};
use rust_decimal::Decimal;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub struct VenueState {
    pub venue: String,
    pub fees: Fees,
    /// Total holdings per asset, reservations included: what the store keeps.
    pub balances: BTreeMap<String, Decimal>,
    /// Resting orders in arrival order, which is their time priority.
    pub open: Vec<PaperOrder>,
    /// Last number used for a trade id or a venue order id (one sequence for both, so neither
    /// ever repeats once saved).
    pub last_seq: u64,
    /// Per symbol, the feed's last book and what our own fills left of it.
    pub books: HashMap<String, SeenBook>,
}

#[derive(Debug, Clone)]
pub struct SeenBook {
    /// As the feed gave it: a different one means new liquidity.
    pub feed: OrderBook,
    /// Minus what we took, so one snapshot's liquidity is never taken twice.
    pub left: OrderBook,
}

impl VenueState {
    pub fn new(venue: String, fees: Fees, snapshot: PaperSnapshot) -> Self {
        let mut state = Self {
            venue,
            fees,
            balances: BTreeMap::new(),
            open: Vec::new(),
            last_seq: 0,
            books: HashMap::new(),
        };
        state.restore(snapshot);
        state
    }

    /// Replaces everything the store holds; keeps the book cache, which the store does not.
    pub fn restore(&mut self, snapshot: PaperSnapshot) {
        let mut open: Vec<_> = snapshot
            .open_orders
            .into_iter()
            .filter(|o| !o.report.status.is_terminal())
            .collect();
        open.sort_by_key(|o| (o.created_ms, order_no(&o.report.venue_order_id)));
        self.balances = snapshot.balances;
        self.open = open;
        self.last_seq = snapshot.last_trade_seq;
    }

    pub fn next_seq(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    /// The fee rate a reservation must cover: whichever of maker or taker applies is unknown
    /// when the order rests, so take the dearer (a rebate reserves nothing extra).
    pub fn worst_fee(&self) -> Decimal {
        self.fees.maker.max(self.fees.taker).max(Decimal::ZERO)
    }

    /// Funds held by resting orders: quote for buys (left × price × (1 + worst fee)), base for
    /// sells (left).
    pub fn reserved(&self) -> BTreeMap<String, Decimal> {
        let mut out = BTreeMap::new();
        for o in &self.open {
            let (OrderKind::Limit { price }, Some((base, quote))) =
                (o.request.kind, split_symbol(&o.request.symbol))
            else {
                continue;
            };
            let left = remaining(o);
            let (asset, amount) = match o.request.side {
                Side::Buy => (quote, left * price * (Decimal::ONE + self.worst_fee())),
                Side::Sell => (base, left),
            };
            *out.entry(asset.to_owned()).or_insert(Decimal::ZERO) += amount;
        }
        out
    }

    pub fn free(&self, asset: &str) -> Decimal {
        let total = self.balances.get(asset).copied().unwrap_or_default();
        total - self.reserved().get(asset).copied().unwrap_or_default()
    }

    pub fn free_balances(&self) -> BTreeMap<String, Decimal> {
        let reserved = self.reserved();
        let mut out = self.balances.clone();
        for (asset, amount) in reserved {
            *out.entry(asset).or_insert(Decimal::ZERO) -= amount;
        }
        out
    }

    pub fn balance_mut(&mut self, asset: &str) -> &mut Decimal {
        self.balances
            .entry(asset.to_owned())
            .or_insert(Decimal::ZERO)
    }

    /// Records the feed's book for `symbol`. A book equal to the last one keeps what our fills
    /// left of it; any other replaces it whole. Levels are sanitised (positive, sorted best
    /// first) so matching can trust them.
    pub fn observe(&mut self, symbol: &str, mut book: OrderBook) {
        if self.books.get(symbol).is_some_and(|seen| seen.feed == book) {
            return;
        }
        let feed = book.clone();
        let sane = |l: &Level| l.price > Decimal::ZERO && l.qty > Decimal::ZERO;
        book.bids.retain(sane);
        book.asks.retain(sane);
        book.bids.sort_by_key(|l| std::cmp::Reverse(l.price));
        book.asks.sort_by_key(|l| l.price);
        let seen = SeenBook { feed, left: book };
        self.books.insert(symbol.to_owned(), seen);
    }

    pub fn left_book(&self, symbol: &str) -> Option<&OrderBook> {
        self.books.get(symbol).map(|s| &s.left)
    }

    /// Removes `qty` from the best levels a taker of `side` consumes.
    pub fn consume(&mut self, symbol: &str, side: Side, mut qty: Decimal) {
        let Some(seen) = self.books.get_mut(symbol) else {
            return;
        };
        let levels = match side {
            Side::Buy => &mut seen.left.asks,
            Side::Sell => &mut seen.left.bids,
        };
        while qty > Decimal::ZERO && !levels.is_empty() {
            let take = qty.min(levels[0].qty);
            levels[0].qty -= take;
            qty -= take;
            if levels[0].qty <= Decimal::ZERO {
                levels.remove(0);
            }
        }
    }

    pub fn open_order(&self, client_order_id: &str) -> Option<&PaperOrder> {
        self.open
            .iter()
            .find(|o| o.request.client_order_id == client_order_id)
    }

    /// Cancels a resting order (its reservation goes with it). `None` when it is not resting.
    pub fn cancel(
        &mut self,
        client_order_id: &str,
    ) -> Result<Option<PaperOrder>, IllegalOrderTransition> {
        let Some(i) = self
            .open
            .iter()
            .position(|o| o.request.client_order_id == client_order_id)
        else {
            return Ok(None);
        };
        let mut order = self.open.remove(i);
        set_status(&mut order, OrderStatus::Cancelled, None)?;
        Ok(Some(order))
    }
}

/// What is left to fill of an order.
pub fn remaining(order: &PaperOrder) -> Decimal {
    (order.request.qty - order.report.filled_qty).max(Decimal::ZERO)
}

/// Moves an order to `to`, refusing anything the order state machine forbids.
pub fn set_status(
    order: &mut PaperOrder,
    to: OrderStatus,
    reason: Option<String>,
) -> Result<(), IllegalOrderTransition> {
    order.report.status = order_transition(order.report.status, to)?;
    if reason.is_some() {
        order.report.reason = reason;
    }
    Ok(())
}

/// The number at the end of a venue order id (`paper-o-12` → 12), for time priority among
/// orders created in the same millisecond.
fn order_no(venue_order_id: &str) -> u64 {
    venue_order_id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Price priority for resting orders of one side: best price first (highest buy, lowest sell).
pub fn price_priority(side: Side, a: Decimal, b: Decimal) -> Ordering {
    match side {
        Side::Buy => b.cmp(&a),
        Side::Sell => a.cmp(&b),
    }
}

//! Matching rules of the paper venue: a new order against the book (taker), a resting order
//! against a newer book (maker). Each function changes exactly one order, so the exchange can
//! save that order together with the balances it moved in one atomic store call.

use super::state::{VenueState, price_priority, remaining, set_status};
use super::store::PaperOrder;
use crate::trading::book::walk;
use crate::trading::order::{IllegalOrderTransition, OrderStatus};
use crate::trading::types::{
    FillReport, Liquidity, OrderKind, OrderReport, OrderRequest, Side, split_symbol,
};
use rust_decimal::{Decimal, RoundingStrategy};

/// When funds cap a market buy, the affordable qty is rounded down to this many decimals
/// (a satoshi for BTC) rather than to 28 meaningless digits.
const QTY_DP: u32 = 8;

/// Why a taker walk stopped short.
enum Stop {
    Done,
    NoLiquidity,
    /// Out of this asset.
    Unfunded(String),
}

/// The two assets of an admitted order.
struct Pair {
    base: String,
    quote: String,
}

impl Pair {
    fn of(symbol: &str) -> Option<Self> {
        let (base, quote) = split_symbol(symbol)?;
        Some(Self {
            base: base.to_owned(),
            quote: quote.to_owned(),
        })
    }

    /// The asset an order of `side` spends.
    fn spent(&self, side: Side) -> &str {
        match side {
            Side::Buy => &self.quote,
            Side::Sell => &self.base,
        }
    }
}

fn insufficient(asset: &str) -> String {
    format!("insufficient {asset} balance")
}

impl VenueState {
    /// Accepts a new order: rejects it (as a report) when invalid or unfunded, otherwise fills
    /// what the book allows as taker and, for a limit order, rests the remainder. The caller has
    /// checked the id is new and `observe`d the symbol's book.
    pub fn place(
        &mut self,
        req: &OrderRequest,
        now: i64,
    ) -> Result<PaperOrder, IllegalOrderTransition> {
        let no = self.next_seq();
        let mut order = PaperOrder {
            request: req.clone(),
            report: OrderReport {
                client_order_id: req.client_order_id.clone(),
                venue_order_id: format!("{}-o-{no}", self.venue),
                status: OrderStatus::PendingSubmit,
                filled_qty: Decimal::ZERO,
                fills: Vec::new(),
                reason: None,
            },
            created_ms: now,
        };
        let pair = match self.admit(req) {
            Ok(pair) => pair,
            Err(reason) => {
                set_status(&mut order, OrderStatus::Rejected, Some(reason))?;
                return Ok(order);
            }
        };
        let limit = match req.kind {
            OrderKind::Limit { price } => Some(price),
            OrderKind::Market => None,
        };
        let stop = self.take(&mut order, &pair, limit, now);
        let nothing = order.report.filled_qty.is_zero();
        let (status, reason) = match (stop, limit) {
            (Stop::Done, _) => (OrderStatus::Filled, None),
            (_, Some(_)) if nothing => (OrderStatus::Open, None),
            (_, Some(_)) => (OrderStatus::PartiallyFilled, None),
            (Stop::Unfunded(asset), None) if nothing => {
                (OrderStatus::Rejected, Some(insufficient(&asset)))
            }
            (Stop::Unfunded(asset), None) => (OrderStatus::Expired, Some(insufficient(&asset))),
            (Stop::NoLiquidity, None) => (OrderStatus::Expired, Some("no liquidity".into())),
        };
        set_status(&mut order, status, reason)?;
        if !status.is_terminal() {
            self.open.push(order.clone());
        }
        Ok(order)
    }

    /// Checks an order can be accepted. A limit order must be fundable in full at its price
    /// (with the dearer fee): that is what it reserves. A market order is checked level by level
    /// as it fills instead.
    fn admit(&self, req: &OrderRequest) -> Result<Pair, String> {
        let pair = Pair::of(&req.symbol).ok_or_else(|| format!("invalid symbol {}", req.symbol))?;
        if req.qty <= Decimal::ZERO {
            return Err("qty must be positive".into());
        }
        if let OrderKind::Limit { price } = req.kind {
            if price <= Decimal::ZERO {
                return Err("limit price must be positive".into());
            }
            let need = match req.side {
                Side::Buy => req.qty * price * (Decimal::ONE + self.worst_fee()),
                Side::Sell => req.qty,
            };
            let asset = pair.spent(req.side);
            if need > self.free(asset) {
                return Err(insufficient(asset));
            }
        }
        Ok(pair)
    }

    /// Walks the taker side of the left book, one fill per level, up to `limit` if any. Market
    /// orders are capped by free funds at each level; limit orders were funded at admission.
    fn take(
        &mut self,
        order: &mut PaperOrder,
        pair: &Pair,
        limit: Option<Decimal>,
        now: i64,
    ) -> Stop {
        let side = order.request.side;
        let symbol = order.request.symbol.clone();
        loop {
            let wanted = remaining(order);
            if wanted.is_zero() {
                return Stop::Done;
            }
            let best = self
                .left_book(&symbol)
                .and_then(|b| b.levels_for_taker(side).first().copied());
            let Some(level) = best else {
                return Stop::NoLiquidity;
            };
            let beyond = limit.is_some_and(|limit| match side {
                Side::Buy => level.price > limit,
                Side::Sell => level.price < limit,
            });
            if beyond {
                return Stop::NoLiquidity;
            }
            let mut qty = wanted.min(level.qty);
            let capped = limit.is_none() && {
                let affordable = self.affordable(side, pair, level.price, qty);
                let short = affordable < qty;
                qty = affordable;
                short
            };
            if qty > Decimal::ZERO {
                self.consume(&symbol, side, qty);
                self.fill(order, pair, qty, level.price, Liquidity::Taker, now);
            }
            if capped {
                return Stop::Unfunded(pair.spent(side).to_owned());
            }
        }
    }

    /// How much of `qty` at `price` free funds pay for, taker fee included.
    fn affordable(&self, side: Side, pair: &Pair, price: Decimal, qty: Decimal) -> Decimal {
        let free = self.free(pair.spent(side)).max(Decimal::ZERO);
        match side {
            Side::Sell => qty.min(free),
            Side::Buy => {
                let unit = price * (Decimal::ONE + self.fees.taker);
                if qty * unit <= free {
                    return qty;
                }
                free.checked_div(unit)
                    .map(|q| q.round_dp_with_strategy(QTY_DP, RoundingStrategy::ToZero))
                    .unwrap_or(qty)
                    .min(qty)
            }
        }
    }

    /// Books one execution: a new trade id, the fee in quote, both balances.
    fn fill(
        &mut self,
        order: &mut PaperOrder,
        pair: &Pair,
        qty: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        now: i64,
    ) {
        let seq = self.next_seq();
        let notional = qty * price;
        let fee = notional * self.fees.rate(liquidity);
        match order.request.side {
            Side::Buy => {
                *self.balance_mut(&pair.base) += qty;
                *self.balance_mut(&pair.quote) -= notional + fee;
            }
            Side::Sell => {
                *self.balance_mut(&pair.base) -= qty;
                *self.balance_mut(&pair.quote) += notional - fee;
            }
        }
        order.report.fills.push(FillReport {
            trade_id: format!("{}-{seq}", self.venue),
            client_order_id: order.request.client_order_id.clone(),
            qty,
            price,
            fee,
            fee_amount: fee,
            fee_asset: pair.quote.clone(),
            fee_valued: true,
            liquidity,
            ts_ms: now,
        });
        order.report.filled_qty += qty;
    }

    /// Resting orders on `symbol` the left book now crosses, in price-then-time priority (so
    /// the best order gets scarce liquidity first).
    pub fn matchable(&self, symbol: &str) -> Vec<String> {
        let Some(book) = self.left_book(symbol) else {
            return Vec::new();
        };
        let mut crossing: Vec<(Side, Decimal, &str)> = self
            .open
            .iter()
            .filter(|o| o.request.symbol == symbol)
            .filter_map(|o| {
                let OrderKind::Limit { price } = o.request.kind else {
                    return None;
                };
                let side = o.request.side;
                let best = book.levels_for_taker(side).first()?.price;
                let crosses = match side {
                    Side::Buy => best <= price,
                    Side::Sell => best >= price,
                };
                crosses.then_some((side, price, o.request.client_order_id.as_str()))
            })
            .collect();
        // Stable: equal prices keep arrival order.
        crossing.sort_by(|a, b| {
            (a.0 == Side::Sell)
                .cmp(&(b.0 == Side::Sell))
                .then(price_priority(a.0, a.1, b.1))
        });
        crossing
            .into_iter()
            .map(|(_, _, id)| id.to_owned())
            .collect()
    }

    /// Fills a resting order as maker at its limit price, from the levels at or better than
    /// it. `None` when it is not resting or nothing crosses.
    pub fn match_resting(
        &mut self,
        client_order_id: &str,
        now: i64,
    ) -> Result<Option<PaperOrder>, IllegalOrderTransition> {
        let Some(i) = self
            .open
            .iter()
            .position(|o| o.request.client_order_id == client_order_id)
        else {
            return Ok(None);
        };
        let mut order = self.open[i].clone();
        let (OrderKind::Limit { price }, Some(pair)) =
            (order.request.kind, Pair::of(&order.request.symbol))
        else {
            return Ok(None);
        };
        let side = order.request.side;
        let symbol = order.request.symbol.clone();
        let Some(book) = self.left_book(&symbol) else {
            return Ok(None);
        };
        let available = walk(
            book.levels_for_taker(side),
            side,
            remaining(&order),
            Some(price),
        )
        .qty;
        if available.is_zero() {
            return Ok(None);
        }
        self.consume(&symbol, side, available);
        // The reservation (left × price × (1 + worst fee)) covers this fill by construction.
        self.fill(&mut order, &pair, available, price, Liquidity::Maker, now);
        let status = if remaining(&order).is_zero() {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        set_status(&mut order, status, None)?;
        if status.is_terminal() {
            self.open.remove(i);
        } else {
            self.open[i] = order.clone();
        }
        Ok(Some(order))
    }
}

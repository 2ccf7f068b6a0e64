//! Depth walking: the volume-weighted average price of taking `qty` from one side of a book.

use super::types::{Level, OrderBook, Side};
use rust_decimal::Decimal;

/// The result of walking levels for a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    /// How much could be taken (≤ the asked quantity).
    pub qty: Decimal,
    /// Σ price × qty over the levels taken.
    pub notional: Decimal,
}

impl Walk {
    /// Average price paid/received; `None` when nothing was taken.
    pub fn vwap(&self) -> Option<Decimal> {
        (!self.qty.is_zero()).then(|| self.notional / self.qty)
    }
}

/// Takes up to `qty` from `levels` (best first), stopping at `limit` when given (a buy does not
/// pay above it, a sell does not receive below it).
pub fn walk(levels: &[Level], side: Side, qty: Decimal, limit: Option<Decimal>) -> Walk {
    let mut left = qty.max(Decimal::ZERO);
    let mut out = Walk {
        qty: Decimal::ZERO,
        notional: Decimal::ZERO,
    };
    for level in levels {
        if left.is_zero() {
            break;
        }
        if let Some(limit) = limit {
            let beyond = match side {
                Side::Buy => level.price > limit,
                Side::Sell => level.price < limit,
            };
            if beyond {
                break;
            }
        }
        let take = left.min(level.qty);
        out.qty += take;
        out.notional += take * level.price;
        left -= take;
    }
    out
}

/// VWAP for a taker of `side` taking exactly `qty`; `None` when the book is too thin.
pub fn taker_vwap(book: &OrderBook, side: Side, qty: Decimal) -> Option<Decimal> {
    let w = walk(book.levels_for_taker(side), side, qty, None);
    (w.qty == qty).then(|| w.vwap()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn book() -> OrderBook {
        OrderBook {
            symbol: "BTC-USDT".into(),
            bids: vec![
                Level {
                    price: dec!(99),
                    qty: dec!(1),
                },
                Level {
                    price: dec!(98),
                    qty: dec!(2),
                },
            ],
            asks: vec![
                Level {
                    price: dec!(101),
                    qty: dec!(1),
                },
                Level {
                    price: dec!(102),
                    qty: dec!(2),
                },
            ],
            ts_ms: 0,
        }
    }

    #[test]
    fn vwap_walks_depth() {
        // 1 @ 101 + 1 @ 102 = 203 / 2
        assert_eq!(taker_vwap(&book(), Side::Buy, dec!(2)), Some(dec!(101.5)));
        // 1 @ 99 + 2 @ 98 = 295 / 3
        let v = taker_vwap(&book(), Side::Sell, dec!(3)).expect("deep enough");
        assert_eq!(v.round_dp(6), dec!(98.333333));
        assert_eq!(taker_vwap(&book(), Side::Buy, dec!(4)), None, "too thin");
    }

    #[test]
    fn limit_stops_the_walk() {
        let w = walk(&book().asks, Side::Buy, dec!(3), Some(dec!(101)));
        assert_eq!((w.qty, w.notional), (dec!(1), dec!(101)));
        let w = walk(&book().bids, Side::Sell, dec!(3), Some(dec!(98.5)));
        assert_eq!((w.qty, w.notional), (dec!(1), dec!(99)));
    }
}

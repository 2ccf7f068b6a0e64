//! Cross-venue arbitrage detection: buy on one venue and sell on the other when the depth VWAPs
//! of both legs leave a profit after taker fees. Also the unwind of a half-done pair.

use super::book::taker_vwap;
use super::types::{Fees, Intent, OrderBook, OrderKind, Side};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One venue's book for the symbol and that venue's fees.
#[derive(Debug, Clone, Copy)]
pub struct VenueBook<'a> {
    pub venue: &'a str,
    pub book: &'a OrderBook,
    pub fees: Fees,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opportunity {
    pub symbol: String,
    pub buy_venue: String,
    pub sell_venue: String,
    pub qty: Decimal,
    pub buy_vwap: Decimal,
    pub sell_vwap: Decimal,
    /// `(sell_vwap − buy_vwap) × qty`.
    pub gross_profit: Decimal,
    /// Taker fees of both legs.
    pub fees: Decimal,
    pub net_profit: Decimal,
    /// `net_profit / (buy_vwap × qty) × 10000`.
    pub net_bps: Decimal,
}

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Prices buying `qty` on `buy` and selling it on `sell`; `None` when either book is too thin.
fn price(buy: &VenueBook<'_>, sell: &VenueBook<'_>, qty: Decimal) -> Option<Opportunity> {
    let buy_vwap = taker_vwap(buy.book, Side::Buy, qty)?;
    let sell_vwap = taker_vwap(sell.book, Side::Sell, qty)?;
    let buy_notional = buy_vwap * qty;
    let sell_notional = sell_vwap * qty;
    let gross_profit = sell_notional - buy_notional;
    let fees = buy_notional * buy.fees.taker + sell_notional * sell.fees.taker;
    let net_profit = gross_profit - fees;
    Some(Opportunity {
        symbol: buy.book.symbol.clone(),
        buy_venue: buy.venue.to_string(),
        sell_venue: sell.venue.to_string(),
        qty,
        buy_vwap,
        sell_vwap,
        gross_profit,
        fees,
        net_profit,
        // Multiply first so round numbers stay exact.
        net_bps: net_profit * BPS / buy_notional,
    })
}

/// Both directions; taker fees on both legs; VWAP for `qty` walking depth (buying walks the buy
/// venue's asks, selling the sell venue's bids). `None` when the books are for different
/// symbols, when both directions are too thin, or when the best direction's net_bps is below
/// `min_profit_bps` or its net profit is not positive.
pub fn detect(
    a: VenueBook<'_>,
    b: VenueBook<'_>,
    qty: Decimal,
    min_profit_bps: Decimal,
) -> Option<Opportunity> {
    if a.book.symbol != b.book.symbol || qty <= Decimal::ZERO {
        return None;
    }
    let best = match (price(&a, &b, qty), price(&b, &a, qty)) {
        (Some(x), Some(y)) => {
            if y.net_profit > x.net_profit {
                y
            } else {
                x
            }
        }
        (x, y) => x.or(y)?,
    };
    (best.net_profit > Decimal::ZERO && best.net_bps >= min_profit_bps).then_some(best)
}

/// The order that undoes a filled leg when the other leg failed: same venue and symbol,
/// opposite side, market, reduce-only.
pub fn unwind(filled_leg: &Intent, filled_qty: Decimal) -> Intent {
    Intent {
        venue: filled_leg.venue.clone(),
        symbol: filled_leg.symbol.clone(),
        side: filled_leg.side.opposite(),
        kind: OrderKind::Market,
        qty: filled_qty,
        reduce_only: true,
        tag: "arb:unwind".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::types::Level;
    use rust_decimal::dec;

    /// Levels as (price, qty) pairs, best first.
    fn book(bids: &[(Decimal, Decimal)], asks: &[(Decimal, Decimal)]) -> OrderBook {
        let levels =
            |v: &[(Decimal, Decimal)]| v.iter().map(|&(price, qty)| Level { price, qty }).collect();
        OrderBook {
            symbol: "BTC-USDT".into(),
            bids: levels(bids),
            asks: levels(asks),
            ts_ms: 0,
        }
    }

    fn fees(taker: Decimal) -> Fees {
        Fees {
            maker: Decimal::ZERO,
            taker,
        }
    }

    #[test]
    fn exact_opportunity() {
        // Buy 2 on A: 1 @ 100 + 1 @ 101 → vwap 100.5, notional 201.
        // Sell 2 on B: 2 @ 103 → notional 206. gross 5.
        // fees: 201 × 0.001 + 206 × 0.001 = 0.407; net 4.593; bps = 4.593 × 10000 / 201.
        let a = book(
            &[(dec!(99), dec!(5))],
            &[(dec!(100), dec!(1)), (dec!(101), dec!(5))],
        );
        let b = book(&[(dec!(103), dec!(5))], &[(dec!(104), dec!(5))]);
        let got = detect(
            VenueBook {
                venue: "a",
                book: &a,
                fees: fees(dec!(0.001)),
            },
            VenueBook {
                venue: "b",
                book: &b,
                fees: fees(dec!(0.001)),
            },
            dec!(2),
            dec!(10),
        )
        .expect("profitable");
        assert_eq!(
            got,
            Opportunity {
                symbol: "BTC-USDT".into(),
                buy_venue: "a".into(),
                sell_venue: "b".into(),
                qty: dec!(2),
                buy_vwap: dec!(100.5),
                sell_vwap: dec!(103),
                gross_profit: dec!(5),
                fees: dec!(0.407),
                net_profit: dec!(4.593),
                net_bps: dec!(45930) / dec!(201),
            }
        );
        assert_eq!(got.net_bps.round_dp(4), dec!(228.5075));
    }

    #[test]
    fn table() {
        let no_fee = fees(Decimal::ZERO);
        // (name, book a, fee a, book b, fee b, qty, min bps, expected (buy, sell, net) or None)
        type Case = (
            &'static str,
            OrderBook,
            Fees,
            OrderBook,
            Fees,
            Decimal,
            Decimal,
            Option<(&'static str, &'static str, Decimal)>,
        );
        let cases: Vec<Case> = vec![
            (
                // Top: ask A 100 < bid B 101, but 2 units cost 1 @ 100 + 1 @ 110 = 210 and
                // sell for 202 on B.
                "top profitable, depth not",
                book(
                    &[(dec!(99), dec!(9))],
                    &[(dec!(100), dec!(1)), (dec!(110), dec!(9))],
                ),
                no_fee,
                book(&[(dec!(101), dec!(9))], &[(dec!(102), dec!(9))]),
                no_fee,
                dec!(2),
                dec!(0),
                None,
            ),
            (
                // gross 1 × (100.1 − 100) = 0.1; fees 100 × 0.001 + 100.1 × 0.001 = 0.2001.
                "profitable before fees only",
                book(&[(dec!(99), dec!(9))], &[(dec!(100), dec!(9))]),
                fees(dec!(0.001)),
                book(&[(dec!(100.1), dec!(9))], &[(dec!(101), dec!(9))]),
                fees(dec!(0.001)),
                dec!(1),
                dec!(0),
                None,
            ),
            (
                // gross 1 × (101 − 100) = 1 → 100 bps exactly, no fees.
                "exactly at threshold",
                book(&[(dec!(99), dec!(9))], &[(dec!(100), dec!(9))]),
                no_fee,
                book(&[(dec!(101), dec!(9))], &[(dec!(102), dec!(9))]),
                no_fee,
                dec!(1),
                dec!(100),
                Some(("a", "b", dec!(1))),
            ),
            (
                "just below threshold",
                book(&[(dec!(99), dec!(9))], &[(dec!(100), dec!(9))]),
                no_fee,
                book(&[(dec!(101), dec!(9))], &[(dec!(102), dec!(9))]),
                no_fee,
                dec!(1),
                dec!(100.01),
                None,
            ),
            (
                // Buy on B at 100, sell on A at 102: 2 × 2 = 4.
                "reverse direction",
                book(&[(dec!(102), dec!(9))], &[(dec!(103), dec!(9))]),
                no_fee,
                book(&[(dec!(98), dec!(9))], &[(dec!(100), dec!(9))]),
                no_fee,
                dec!(2),
                dec!(0),
                Some(("b", "a", dec!(4))),
            ),
            (
                "thin sell side",
                book(&[(dec!(99), dec!(9))], &[(dec!(100), dec!(9))]),
                no_fee,
                book(&[(dec!(110), dec!(1))], &[(dec!(111), dec!(9))]),
                no_fee,
                dec!(2),
                dec!(0),
                None,
            ),
            (
                "empty book",
                book(&[], &[]),
                no_fee,
                book(&[(dec!(110), dec!(9))], &[(dec!(111), dec!(9))]),
                no_fee,
                dec!(1),
                dec!(0),
                None,
            ),
            (
                // Same prices on both venues: zero gross is no opportunity even at 0 bps.
                "break-even",
                book(&[(dec!(100), dec!(9))], &[(dec!(100), dec!(9))]),
                no_fee,
                book(&[(dec!(100), dec!(9))], &[(dec!(100), dec!(9))]),
                no_fee,
                dec!(1),
                dec!(0),
                None,
            ),
        ];
        for (name, a, fa, b, fb, qty, min_bps, want) in cases {
            let got = detect(
                VenueBook {
                    venue: "a",
                    book: &a,
                    fees: fa,
                },
                VenueBook {
                    venue: "b",
                    book: &b,
                    fees: fb,
                },
                qty,
                min_bps,
            );
            let got = got.map(|o| (o.buy_venue, o.sell_venue, o.net_profit));
            let want = want.map(|(b, s, n)| (b.to_string(), s.to_string(), n));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn different_symbols_never_match() {
        let a = book(&[(dec!(99), dec!(9))], &[(dec!(100), dec!(9))]);
        let mut b = book(&[(dec!(120), dec!(9))], &[(dec!(121), dec!(9))]);
        b.symbol = "ETH-USDT".into();
        let va = VenueBook {
            venue: "a",
            book: &a,
            fees: fees(Decimal::ZERO),
        };
        let vb = VenueBook {
            venue: "b",
            book: &b,
            fees: fees(Decimal::ZERO),
        };
        assert_eq!(detect(va, vb, dec!(1), dec!(0)), None);
    }

    #[test]
    fn unwind_reverses_the_leg() {
        let leg = Intent {
            venue: "b".into(),
            symbol: "BTC-USDT".into(),
            side: Side::Buy,
            kind: OrderKind::Limit { price: dec!(100) },
            qty: dec!(2),
            reduce_only: false,
            tag: "arb:buy".into(),
        };
        let u = unwind(&leg, dec!(1.5));
        assert_eq!(
            u,
            Intent {
                venue: "b".into(),
                symbol: "BTC-USDT".into(),
                side: Side::Sell,
                kind: OrderKind::Market,
                qty: dec!(1.5),
                reduce_only: true,
                tag: "arb:unwind".into(),
            }
        );
    }
}

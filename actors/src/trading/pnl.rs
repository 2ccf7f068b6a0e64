//! Fee-aware PnL of one position (one venue, one symbol), built up fill by fill.

use super::types::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Signed base quantity: positive long, negative short.
    pub qty: Decimal,
    /// Entry VWAP of the open quantity, fees excluded; zero when flat.
    pub avg_price: Decimal,
    /// Gains of closed quantity minus every fee paid (entry fees included, so an open position
    /// already shows its entry cost here).
    pub realised: Decimal,
    pub fees_paid: Decimal,
}

impl Position {
    /// Applies one fill of `qty` (positive) at `price` with `fee` in quote currency. A fill
    /// larger than the open quantity on the other side closes it and opens the rest the other
    /// way at `price`.
    pub fn apply(&mut self, side: Side, qty: Decimal, price: Decimal, fee: Decimal) {
        self.fees_paid += fee;
        self.realised -= fee;
        if qty.is_zero() {
            return;
        }
        let signed = side.sign() * qty;
        if self.qty.is_zero() || (self.qty > Decimal::ZERO) == (signed > Decimal::ZERO) {
            // Opening or adding: the new average weighs both legs by size.
            let open = self.qty.abs();
            self.avg_price = (self.avg_price * open + price * qty) / (open + qty);
            self.qty += signed;
            return;
        }
        let closing = qty.min(self.qty.abs());
        // A long gains when the exit is above entry, a short when below; the position's sign is
        // the opposite of this closing fill's.
        self.realised += closing * (price - self.avg_price) * -side.sign();
        self.qty += signed;
        if self.qty.is_zero() {
            self.avg_price = Decimal::ZERO;
        } else if (self.qty > Decimal::ZERO) == (signed > Decimal::ZERO) {
            // Flipped: what is left was opened by this fill.
            self.avg_price = price;
        }
    }

    /// A fee the venue took in the base asset (Binance keeps part of what a buy received):
    /// the holding is that much smaller. Its quote value was already counted by `apply`
    /// (at the fill price), so the entry price stays: `realised` carries the cost once, and
    /// the smaller quantity is what can be sold.
    pub fn deduct_base_fee(&mut self, amount: Decimal) {
        if amount.is_zero() || self.qty.is_zero() {
            return;
        }
        // A long holds less; a short owes more (spot shorts do not happen, but the sign
        // arithmetic stays right: the venue keeps base either way).
        self.qty -= amount;
        if self.qty.is_zero() {
            self.avg_price = Decimal::ZERO;
        }
    }

    /// What closing at `mark` would add, after an exit fee of `exit_fee_rate` × notional.
    pub fn unrealised(&self, mark: Decimal, exit_fee_rate: Decimal) -> Decimal {
        if self.qty.is_zero() {
            return Decimal::ZERO;
        }
        (mark - self.avg_price) * self.qty - self.qty.abs() * mark * exit_fee_rate
    }

    pub fn total(&self, mark: Decimal, exit_fee_rate: Decimal) -> Decimal {
        self.realised + self.unrealised(mark, exit_fee_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Side::{Buy, Sell};
    use rust_decimal::dec;

    fn fills(steps: &[(Side, Decimal, Decimal, Decimal)]) -> Position {
        let mut p = Position::default();
        for &(side, qty, price, fee) in steps {
            p.apply(side, qty, price, fee);
        }
        p
    }

    #[test]
    fn long_add_then_partial_close() {
        // buy 2 @ 100 (fee 0.2), buy 2 @ 110 (fee 0.22) → 4 @ avg 105.
        // sell 3 @ 120 (fee 0.36) → realised = 3 × (120 − 105) − (0.2 + 0.22 + 0.36) = 44.22.
        let p = fills(&[
            (Buy, dec!(2), dec!(100), dec!(0.2)),
            (Buy, dec!(2), dec!(110), dec!(0.22)),
            (Sell, dec!(3), dec!(120), dec!(0.36)),
        ]);
        assert_eq!(p.qty, dec!(1));
        assert_eq!(p.avg_price, dec!(105));
        assert_eq!(p.fees_paid, dec!(0.78));
        assert_eq!(p.realised, dec!(44.22));
        // unrealised at 115, 0.1 % exit: 1 × (115 − 105) − 1 × 115 × 0.001 = 9.885.
        assert_eq!(p.unrealised(dec!(115), dec!(0.001)), dec!(9.885));
        assert_eq!(p.total(dec!(115), dec!(0.001)), dec!(54.105));
    }

    #[test]
    fn full_close_goes_flat() {
        // buy 1 @ 100 (fee 0.1), sell 1 @ 90 (fee 0.09) → −10 − 0.19 = −10.19.
        let p = fills(&[
            (Buy, dec!(1), dec!(100), dec!(0.1)),
            (Sell, dec!(1), dec!(90), dec!(0.09)),
        ]);
        assert_eq!((p.qty, p.avg_price), (dec!(0), dec!(0)));
        assert_eq!(p.realised, dec!(-10.19));
        assert_eq!(p.unrealised(dec!(1000), dec!(0.01)), dec!(0));
        assert_eq!(p.total(dec!(1000), dec!(0.01)), dec!(-10.19));
    }

    #[test]
    fn short_add_and_cover() {
        // sell 1 @ 200, sell 3 @ 180 → −4 @ (200 + 540) / 4 = 185; fees 0.5 + 1.5.
        // buy 2 @ 170 (fee 0.4) → realised = 2 × (185 − 170) − 2.4 = 27.6.
        let p = fills(&[
            (Sell, dec!(1), dec!(200), dec!(0.5)),
            (Sell, dec!(3), dec!(180), dec!(1.5)),
            (Buy, dec!(2), dec!(170), dec!(0.4)),
        ]);
        assert_eq!((p.qty, p.avg_price), (dec!(-2), dec!(185)));
        assert_eq!(p.realised, dec!(27.6));
        // unrealised at 190, 0.2 % exit: (190 − 185) × −2 − 2 × 190 × 0.002 = −10 − 0.76 = −10.76.
        assert_eq!(p.unrealised(dec!(190), dec!(0.002)), dec!(-10.76));
    }

    #[test]
    fn flip_long_to_short_and_back() {
        // buy 2 @ 100 (fee 0.2); sell 5 @ 110 (fee 0.55): closes 2 → +20, opens −3 @ 110.
        // realised = 20 − 0.75 = 19.25.
        let mut p = fills(&[
            (Buy, dec!(2), dec!(100), dec!(0.2)),
            (Sell, dec!(5), dec!(110), dec!(0.55)),
        ]);
        assert_eq!((p.qty, p.avg_price), (dec!(-3), dec!(110)));
        assert_eq!(p.realised, dec!(19.25));
        // buy 4 @ 105 (fee 0.42): covers 3 → 3 × (110 − 105) = +15, opens +1 @ 105.
        // realised = 19.25 + 15 − 0.42 = 33.83.
        p.apply(Buy, dec!(4), dec!(105), dec!(0.42));
        assert_eq!((p.qty, p.avg_price), (dec!(1), dec!(105)));
        assert_eq!(p.realised, dec!(33.83));
        assert_eq!(p.fees_paid, dec!(1.17));
        // no exit fee: 1 × (100 − 105) = −5 → total 28.83.
        assert_eq!(p.total(dec!(100), dec!(0)), dec!(28.83));
    }

    #[test]
    fn base_asset_fee_shrinks_the_holding_and_is_counted_once() {
        // buy 1 @ 100 with 0.001 (base) fee worth 0.1 → hold 0.999, realised −0.1.
        let mut p = fills(&[(Buy, dec!(1), dec!(100), dec!(0.1))]);
        p.deduct_base_fee(dec!(0.001));
        assert_eq!((p.qty, p.avg_price), (dec!(0.999), dec!(100)));
        assert_eq!(p.realised, dec!(-0.1));
        // Value at 110: 0.999 × 110 − 100 paid = 9.89 = −0.1 + 0.999 × (110 − 100).
        assert_eq!(p.total(dec!(110), dec!(0)), dec!(9.89));
        // Selling all that is held closes the position: nothing is left to sell short.
        p.apply(Sell, dec!(0.999), dec!(110), dec!(0));
        assert_eq!((p.qty, p.avg_price), (dec!(0), dec!(0)));
        assert_eq!(p.realised, dec!(9.89));
    }

    #[test]
    fn zero_qty_fill_only_charges_the_fee() {
        let p = fills(&[(Buy, dec!(0), dec!(100), dec!(0.01))]);
        assert_eq!(
            p,
            Position {
                realised: dec!(-0.01),
                fees_paid: dec!(0.01),
                ..Position::default()
            }
        );
    }
}

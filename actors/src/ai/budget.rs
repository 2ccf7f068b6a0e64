//! Monthly budget accounting. A call reserves its worst-case cost (its input estimate plus
//! `max_tokens` of output at the model's prices) before it goes out and settles the real
//! cost when it returns, so concurrent calls cannot together pass the limit: the budget is
//! overshot by at most one call whose real cost exceeded its estimate.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// USD per million tokens; zero for local models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_mtok: Decimal,
    pub output_per_mtok: Decimal,
}

impl Price {
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> Decimal {
        let m = Decimal::from(1_000_000u32);
        (Decimal::from(input_tokens) * self.input_per_mtok
            + Decimal::from(output_tokens) * self.output_per_mtok)
            / m
    }
}

/// Rough token count of a prompt (4 characters a token, rounded up, plus framing); only
/// used for the reservation, which the real `usage` then replaces.
pub fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4) + 16
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("monthly AI budget of {limit} USD reached ({committed} USD spent or reserved)")]
pub struct BudgetExhausted {
    pub limit: Decimal,
    pub committed: Decimal,
    /// Settled spending of the month (without in-flight reservations).
    pub spent: Decimal,
    /// The month's budget is used up: this call would not fit even with no other call in
    /// flight. `false` when only concurrent reservations stand in the way (a passing state,
    /// not worth an alarm).
    pub reached: bool,
}

/// A reserved amount, to settle or release exactly once.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Reservation {
    amount: Decimal,
    month: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// `None`: no limit.
    pub limit: Option<Decimal>,
    month: String,
    spent: Decimal,
    reserved: Decimal,
}

impl Budget {
    /// `spent` is what the `llm_calls` table already holds for `month` (`YYYY-MM`).
    pub fn new(limit: Option<Decimal>, month: &str, spent: Decimal) -> Self {
        Self {
            limit,
            month: month.to_owned(),
            spent,
            reserved: Decimal::ZERO,
        }
    }

    /// A new month starts from zero (reservations of the old one settle into nothing).
    fn roll(&mut self, month: &str) {
        if self.month != month {
            self.month = month.to_owned();
            self.spent = Decimal::ZERO;
            self.reserved = Decimal::ZERO;
        }
    }

    pub fn spent(&self) -> Decimal {
        self.spent
    }

    /// What is left (never negative), `None` without a limit.
    pub fn remaining(&self, month: &str) -> Option<Decimal> {
        let spent = if self.month == month {
            self.spent
        } else {
            Decimal::ZERO
        };
        self.limit.map(|l| (l - spent).max(Decimal::ZERO))
    }

    pub fn reserve(
        &mut self,
        month: &str,
        estimate: Decimal,
    ) -> Result<Reservation, BudgetExhausted> {
        self.roll(month);
        if let Some(limit) = self.limit {
            let committed = self.spent + self.reserved;
            if committed + estimate > limit || (committed >= limit && limit > Decimal::ZERO) {
                return Err(BudgetExhausted {
                    limit,
                    committed,
                    spent: self.spent,
                    reached: self.spent + estimate > limit
                        || (self.spent >= limit && limit > Decimal::ZERO),
                });
            }
        }
        self.reserved += estimate;
        Ok(Reservation {
            amount: estimate,
            month: month.to_owned(),
        })
    }

    /// The call returned: replace its reservation with its real cost.
    pub fn settle(&mut self, r: Reservation, actual: Decimal) {
        if r.month == self.month {
            self.reserved = (self.reserved - r.amount).max(Decimal::ZERO);
            self.spent += actual;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn price_per_million() {
        let p = Price {
            input_per_mtok: dec!(0.15),
            output_per_mtok: dec!(0.60),
        };
        assert_eq!(p.cost(1_000_000, 0), dec!(0.15));
        assert_eq!(p.cost(2000, 500), dec!(0.0006));
        assert_eq!(Price::default().cost(10_000, 10_000), Decimal::ZERO);
    }

    #[test]
    fn reservations_stop_concurrent_calls_before_the_limit() {
        let mut b = Budget::new(Some(dec!(1.00)), "2026-10", dec!(0.50));
        let r1 = b.reserve("2026-10", dec!(0.30)).expect("fits");
        // A second concurrent call would pass the limit together with the first: refused,
        // but the budget is not reached (the first call may cost less than reserved).
        let busy = b.reserve("2026-10", dec!(0.30)).expect_err("refused");
        assert!(!busy.reached);
        b.settle(r1, dec!(0.10));
        assert_eq!(b.spent(), dec!(0.60));
        let r2 = b.reserve("2026-10", dec!(0.30)).expect("fits now");
        b.settle(r2, dec!(0.40));
        assert_eq!(b.remaining("2026-10"), Some(Decimal::ZERO));
        let full = b.reserve("2026-10", Decimal::ZERO).expect_err("refused");
        assert!(full.reached);
        assert_eq!(full.spent, dec!(1.00));
    }

    #[test]
    fn new_month_starts_fresh_and_no_limit_never_refuses() {
        let mut b = Budget::new(Some(dec!(1)), "2026-10", dec!(1));
        assert!(b.reserve("2026-10", dec!(0.01)).is_err());
        let r = b.reserve("2026-11", dec!(0.01)).expect("new month");
        b.settle(r, dec!(0.01));
        assert_eq!(b.remaining("2026-11"), Some(dec!(0.99)));
        let mut free = Budget::new(None, "2026-10", dec!(1000));
        assert!(free.reserve("2026-10", dec!(5)).is_ok());
    }
}

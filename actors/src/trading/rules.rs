//! A venue's trading rules for one symbol (tick size, step size, minimums) and what the engine
//! does with them before sending: round the order in the safe direction, then refuse what the
//! venue would reject anyway. Pure; connectors load the rules (`Connector::symbol_rules`).

use super::types::{Intent, OrderKind, Side};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One symbol's rules at one venue. A zero means "no such rule" (as in Binance's filters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolRules {
    /// In the API's notation (`BTC-USDT`).
    pub symbol: String,
    /// Prices must be multiples of this.
    pub tick_size: Decimal,
    /// Quantities must be multiples of this.
    pub step_size: Decimal,
    pub min_qty: Decimal,
    /// Zero: no maximum.
    pub max_qty: Decimal,
    /// Smallest `qty × price`, in the quote asset.
    pub min_notional: Decimal,
    /// `false` while the venue halts the symbol (Binance `status` other than `TRADING`).
    pub trading: bool,
}

impl SymbolRules {
    /// No restriction at all: what a paper venue has.
    pub fn unrestricted(symbol: &str) -> Self {
        Self {
            symbol: symbol.to_owned(),
            tick_size: Decimal::ZERO,
            step_size: Decimal::ZERO,
            min_qty: Decimal::ZERO,
            max_qty: Decimal::ZERO,
            min_notional: Decimal::ZERO,
            trading: true,
        }
    }

    /// Quantity rounded *down* to the step: never more than the strategy asked for.
    pub fn round_qty(&self, qty: Decimal) -> Decimal {
        floor_to(qty, self.step_size)
    }

    /// Limit price rounded to the tick in the direction that never trades worse than the
    /// strategy asked: a buy pays at most its price (down), a sell gets at least its price (up).
    pub fn round_price(&self, side: Side, price: Decimal) -> Decimal {
        match side {
            Side::Buy => floor_to(price, self.tick_size),
            Side::Sell => ceil_to(price, self.tick_size),
        }
    }

    /// The intent as it may be sent (quantity and limit price rounded), or why the venue would
    /// refuse it. `reference_price` values a market order (its expected fill price).
    pub fn fit(
        &self,
        intent: &Intent,
        reference_price: Option<Decimal>,
    ) -> Result<Intent, RuleRejection> {
        if !self.trading {
            return Err(RuleRejection::NotTrading);
        }
        let qty = self.round_qty(intent.qty);
        let kind = match intent.kind {
            OrderKind::Limit { price } => OrderKind::Limit {
                price: self.round_price(intent.side, price),
            },
            OrderKind::Market => OrderKind::Market,
        };
        if qty <= Decimal::ZERO || qty < self.min_qty {
            return Err(RuleRejection::MinQty {
                qty,
                min: self.min_qty,
            });
        }
        if !self.max_qty.is_zero() && qty > self.max_qty {
            return Err(RuleRejection::MaxQty {
                qty,
                max: self.max_qty,
            });
        }
        let price = match kind {
            OrderKind::Limit { price } => Some(price),
            OrderKind::Market => reference_price,
        };
        if !self.min_notional.is_zero() {
            // A market order with no price to value it cannot be shown to meet the minimum.
            let notional = price.map_or(Decimal::ZERO, |p| p * qty);
            if notional < self.min_notional {
                return Err(RuleRejection::MinNotional {
                    notional,
                    min: self.min_notional,
                });
            }
        }
        Ok(Intent {
            qty,
            kind,
            ..intent.clone()
        })
    }
}

fn floor_to(v: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return v;
    }
    ((v / step).floor() * step).normalize()
}

fn ceil_to(v: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return v;
    }
    ((v / step).ceil() * step).normalize()
}

/// Why an order was not sent: the venue's own rules would refuse it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleRejection {
    #[error("the venue is not trading this symbol now")]
    NotTrading,
    #[error("quantity {qty} (rounded to the step) is under the minimum {min}")]
    MinQty { qty: Decimal, min: Decimal },
    #[error("quantity {qty} is over the maximum {max}")]
    MaxQty { qty: Decimal, max: Decimal },
    #[error("order notional {notional} is under the venue minimum {min}")]
    MinNotional { notional: Decimal, min: Decimal },
}

impl RuleRejection {
    /// Stable metric label (`risk_rejections_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotTrading => "symbol_not_trading",
            Self::MinQty { .. } => "min_qty",
            Self::MaxQty { .. } => "max_qty",
            Self::MinNotional { .. } => "min_notional",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn rules() -> SymbolRules {
        SymbolRules {
            symbol: "BTC-USDT".into(),
            tick_size: dec!(0.01),
            step_size: dec!(0.00001),
            min_qty: dec!(0.00001),
            max_qty: dec!(9000),
            min_notional: dec!(5),
            trading: true,
        }
    }

    fn intent(side: Side, qty: Decimal, kind: OrderKind) -> Intent {
        Intent {
            venue: "binance".into(),
            symbol: "BTC-USDT".into(),
            side,
            kind,
            qty,
            reduce_only: false,
            tag: "t".into(),
        }
    }

    #[test]
    fn rounding_is_safe_for_each_side() {
        let r = rules();
        assert_eq!(r.round_qty(dec!(0.123456789)), dec!(0.12345));
        assert_eq!(r.round_price(Side::Buy, dec!(100.019)), dec!(100.01));
        assert_eq!(r.round_price(Side::Sell, dec!(100.011)), dec!(100.02));
        // Already on the grid: unchanged either way.
        assert_eq!(r.round_price(Side::Buy, dec!(100.02)), dec!(100.02));
        assert_eq!(r.round_price(Side::Sell, dec!(100.02)), dec!(100.02));
        // A zero step or tick disables the rule.
        let free = SymbolRules::unrestricted("BTC-USDT");
        assert_eq!(free.round_qty(dec!(0.123456789)), dec!(0.123456789));
        assert_eq!(free.round_price(Side::Sell, dec!(1.2345)), dec!(1.2345));
    }

    #[test]
    fn fit_rounds_then_checks() {
        let r = rules();
        let ok = r
            .fit(
                &intent(
                    Side::Buy,
                    dec!(0.1234567),
                    OrderKind::Limit {
                        price: dec!(100.019),
                    },
                ),
                None,
            )
            .expect("fits");
        assert_eq!(ok.qty, dec!(0.12345));
        assert_eq!(
            ok.kind,
            OrderKind::Limit {
                price: dec!(100.01)
            }
        );
        let cases: Vec<(Intent, Option<Decimal>, &str)> = vec![
            // 0.04 × 100 = 4 < 5
            (
                intent(Side::Buy, dec!(0.04), OrderKind::Limit { price: dec!(100) }),
                None,
                "min_notional",
            ),
            // Rounds down to zero.
            (
                intent(Side::Sell, dec!(0.000009), OrderKind::Market),
                Some(dec!(100)),
                "min_qty",
            ),
            (
                intent(Side::Sell, dec!(9001), OrderKind::Market),
                Some(dec!(100)),
                "max_qty",
            ),
            // A market order nobody can value is not sent under a notional rule.
            (
                intent(Side::Buy, dec!(1), OrderKind::Market),
                None,
                "min_notional",
            ),
        ];
        for (i, price, reason) in cases {
            let got = r.fit(&i, price).map_err(|e| e.reason());
            assert_eq!(got, Err(reason), "{i:?}");
        }
        let halted = SymbolRules {
            trading: false,
            ..rules()
        };
        assert_eq!(
            halted
                .fit(
                    &intent(Side::Buy, dec!(1), OrderKind::Market),
                    Some(dec!(100))
                )
                .map_err(|e| e.reason()),
            Err("symbol_not_trading")
        );
        // Paper venues: anything goes through untouched.
        let i = intent(Side::Buy, dec!(0.000001), OrderKind::Market);
        assert_eq!(SymbolRules::unrestricted("BTC-USDT").fit(&i, None), Ok(i));
    }
}

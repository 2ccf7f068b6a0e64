//! The risk gate between a strategy's intents and the orders actually sent: a pure check of one
//! intent against limits, plus the sliding one-minute order counter it needs.

use super::fsm::StrategyState;
use super::types::Intent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Per-strategy limits. Zero means zero (blocks everything it governs), never "unlimited":
/// a forgotten field must fail closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskLimits {
    /// Largest `qty × price` of a single order, in quote currency.
    pub max_order_notional: Decimal,
    /// Largest `|position| × price` after an entry, in quote currency.
    pub max_open_position: Decimal,
    pub max_orders_per_minute: u32,
    /// Positive number: once today's loss reaches it, entries are blocked.
    pub daily_loss_limit: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskRejection {
    #[error("strategy is not running")]
    NotRunning,
    #[error("strategy is paused: only position-reducing orders are allowed")]
    Paused,
    #[error("order notional {notional} exceeds the limit of {limit}")]
    OrderNotional { notional: Decimal, limit: Decimal },
    #[error("open position would be {after}, above the limit of {limit}")]
    OpenPosition { after: Decimal, limit: Decimal },
    #[error("more than {limit} orders in the last minute")]
    OrderRate { limit: u32 },
    #[error("today's PnL {pnl_today} has reached the daily loss limit of {limit}")]
    DailyLoss { pnl_today: Decimal, limit: Decimal },
    #[error("no reference price to value the order")]
    NoPrice,
}

impl RiskRejection {
    /// Stable metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotRunning => "not_running",
            Self::Paused => "paused",
            Self::OrderNotional { .. } => "max_order_notional",
            Self::OpenPosition { .. } => "max_open_position",
            Self::OrderRate { .. } => "max_orders_per_minute",
            Self::DailyLoss { .. } => "daily_loss_limit",
            Self::NoPrice => "no_price",
        }
    }
}

/// What the gate needs to know besides the intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskInput {
    pub state: StrategyState,
    /// Reference price: the limit price, or the expected fill price of a market order.
    pub price: Option<Decimal>,
    /// Signed base quantity held on the intent's venue and symbol.
    pub position: Decimal,
    pub orders_last_minute: u32,
    /// Realised + unrealised since UTC midnight; negative is a loss.
    pub pnl_today: Decimal,
}

/// Whether the intent only shrinks the position (never flips or opens it). Decided from the
/// position, not from `intent.reduce_only`, so a mislabelled intent gets no free pass.
pub fn reduces_position(intent: &Intent, position: Decimal) -> bool {
    // Opposite signs (a zero position never matches).
    intent.side.sign() * position < Decimal::ZERO && intent.qty <= position.abs()
}

/// Checks one intent. Order: running, rate, price, order size, then the entry-only checks that
/// a reducing order skips (so a strategy can always get out of a position).
pub fn check(limits: &RiskLimits, intent: &Intent, input: &RiskInput) -> Result<(), RiskRejection> {
    if !input.state.is_running() {
        return Err(RiskRejection::NotRunning);
    }
    if input.orders_last_minute >= limits.max_orders_per_minute {
        return Err(RiskRejection::OrderRate {
            limit: limits.max_orders_per_minute,
        });
    }
    let price = input.price.ok_or(RiskRejection::NoPrice)?;
    let notional = intent.qty * price;
    if notional > limits.max_order_notional {
        return Err(RiskRejection::OrderNotional {
            notional,
            limit: limits.max_order_notional,
        });
    }
    if reduces_position(intent, input.position) {
        return Ok(());
    }
    if input.state == StrategyState::Paused {
        return Err(RiskRejection::Paused);
    }
    if input.pnl_today <= -limits.daily_loss_limit {
        return Err(RiskRejection::DailyLoss {
            pnl_today: input.pnl_today,
            limit: limits.daily_loss_limit,
        });
    }
    let after = (input.position + intent.side.sign() * intent.qty).abs() * price;
    if after > limits.max_open_position {
        return Err(RiskRejection::OpenPosition {
            after,
            limit: limits.max_open_position,
        });
    }
    Ok(())
}

const WINDOW_MS: i64 = 60_000;

/// Sliding one-minute window of order send times.
#[derive(Debug, Default, Clone)]
pub struct OrderRate {
    sent: VecDeque<i64>,
}

impl OrderRate {
    /// Orders sent in `(now − 60 s, now]`. Forgets older ones, hence `&mut`.
    pub fn count(&mut self, now_ms: i64) -> u32 {
        while self.sent.front().is_some_and(|&t| t <= now_ms - WINDOW_MS) {
            self.sent.pop_front();
        }
        u32::try_from(self.sent.len()).unwrap_or(u32::MAX)
    }

    pub fn record(&mut self, now_ms: i64) {
        self.sent.push_back(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::types::{OrderKind, Side};
    use RiskRejection as R;
    use StrategyState as S;
    use rust_decimal::dec;

    fn limits() -> RiskLimits {
        RiskLimits {
            max_order_notional: dec!(1000),
            max_open_position: dec!(2000),
            max_orders_per_minute: 10,
            daily_loss_limit: dec!(100),
        }
    }

    fn intent(side: Side, qty: Decimal) -> Intent {
        Intent {
            venue: "paper".into(),
            symbol: "BTC-USDT".into(),
            side,
            kind: OrderKind::Market,
            qty,
            reduce_only: false,
            tag: "t".into(),
        }
    }

    fn input(state: S, position: Decimal) -> RiskInput {
        RiskInput {
            state,
            price: Some(dec!(100)),
            position,
            orders_last_minute: 0,
            pnl_today: Decimal::ZERO,
        }
    }

    #[test]
    fn table() {
        let zero_limits = RiskLimits {
            max_order_notional: Decimal::ZERO,
            max_open_position: Decimal::ZERO,
            max_orders_per_minute: 0,
            daily_loss_limit: Decimal::ZERO,
        };
        let entry = || intent(Side::Buy, dec!(5)); // 5 × 100 = 500 notional
        type Case = (&'static str, RiskLimits, Intent, RiskInput, Result<(), R>);
        let cases: Vec<Case> = vec![
            (
                "live entry",
                limits(),
                entry(),
                input(S::Live, dec!(0)),
                Ok(()),
            ),
            (
                "idle",
                limits(),
                entry(),
                input(S::Idle, dec!(0)),
                Err(R::NotRunning),
            ),
            (
                "stopped",
                limits(),
                entry(),
                input(S::Stopped, dec!(0)),
                Err(R::NotRunning),
            ),
            (
                "faulted reduce",
                limits(),
                intent(Side::Sell, dec!(1)),
                input(S::Faulted, dec!(5)),
                Err(R::NotRunning),
            ),
            (
                "rate reached",
                limits(),
                entry(),
                RiskInput {
                    orders_last_minute: 10,
                    ..input(S::Live, dec!(0))
                },
                Err(R::OrderRate { limit: 10 }),
            ),
            (
                "rate applies to reduces",
                limits(),
                intent(Side::Sell, dec!(1)),
                RiskInput {
                    orders_last_minute: 10,
                    ..input(S::Live, dec!(5))
                },
                Err(R::OrderRate { limit: 10 }),
            ),
            (
                "rate just under",
                limits(),
                entry(),
                RiskInput {
                    orders_last_minute: 9,
                    ..input(S::Live, dec!(0))
                },
                Ok(()),
            ),
            (
                "no price",
                limits(),
                entry(),
                RiskInput {
                    price: None,
                    ..input(S::Live, dec!(0))
                },
                Err(R::NoPrice),
            ),
            // 11 × 100 = 1100 > 1000
            (
                "order too big",
                limits(),
                intent(Side::Buy, dec!(11)),
                input(S::Live, dec!(0)),
                Err(R::OrderNotional {
                    notional: dec!(1100),
                    limit: dec!(1000),
                }),
            ),
            (
                "order notional applies to reduces",
                limits(),
                intent(Side::Sell, dec!(11)),
                input(S::Live, dec!(20)),
                Err(R::OrderNotional {
                    notional: dec!(1100),
                    limit: dec!(1000),
                }),
            ),
            (
                "order exactly at limit",
                limits(),
                intent(Side::Buy, dec!(10)),
                input(S::Live, dec!(0)),
                Ok(()),
            ),
            (
                "paused entry",
                limits(),
                entry(),
                input(S::Paused, dec!(0)),
                Err(R::Paused),
            ),
            (
                "paused reduce",
                limits(),
                intent(Side::Sell, dec!(2)),
                input(S::Paused, dec!(5)),
                Ok(()),
            ),
            (
                "paused short cover",
                limits(),
                intent(Side::Buy, dec!(5)),
                input(S::Paused, dec!(-5)),
                Ok(()),
            ),
            (
                "paused flip is an entry",
                limits(),
                intent(Side::Sell, dec!(6)),
                input(S::Paused, dec!(5)),
                Err(R::Paused),
            ),
            (
                "daily loss reached",
                limits(),
                entry(),
                RiskInput {
                    pnl_today: dec!(-100),
                    ..input(S::Live, dec!(0))
                },
                Err(R::DailyLoss {
                    pnl_today: dec!(-100),
                    limit: dec!(100),
                }),
            ),
            (
                "daily loss not yet",
                limits(),
                entry(),
                RiskInput {
                    pnl_today: dec!(-99.99),
                    ..input(S::Live, dec!(0))
                },
                Ok(()),
            ),
            (
                "daily loss allows reduce",
                limits(),
                intent(Side::Sell, dec!(1)),
                RiskInput {
                    pnl_today: dec!(-500),
                    ..input(S::Live, dec!(3))
                },
                Ok(()),
            ),
            // (15 + 6) × 100 = 2100 > 2000
            (
                "position too big",
                limits(),
                intent(Side::Buy, dec!(6)),
                input(S::Live, dec!(15)),
                Err(R::OpenPosition {
                    after: dec!(2100),
                    limit: dec!(2000),
                }),
            ),
            // |−15 − 6| × 100 = 2100
            (
                "short too big",
                limits(),
                intent(Side::Sell, dec!(6)),
                input(S::Live, dec!(-15)),
                Err(R::OpenPosition {
                    after: dec!(2100),
                    limit: dec!(2000),
                }),
            ),
            (
                "position at limit",
                limits(),
                intent(Side::Buy, dec!(5)),
                input(S::Live, dec!(15)),
                Ok(()),
            ),
            (
                "over-limit position may reduce",
                limits(),
                intent(Side::Sell, dec!(5)),
                input(S::Live, dec!(30)),
                Ok(()),
            ),
            // Flip 5 → −5: |−5| × 100 = 500, within the limit.
            (
                "flip within limit",
                limits(),
                intent(Side::Sell, dec!(10)),
                input(S::Live, dec!(5)),
                Ok(()),
            ),
            (
                "zero rate limit",
                zero_limits.clone(),
                entry(),
                input(S::Live, dec!(0)),
                Err(R::OrderRate { limit: 0 }),
            ),
            (
                "zero notional limit",
                RiskLimits {
                    max_orders_per_minute: 1,
                    ..zero_limits.clone()
                },
                entry(),
                input(S::Live, dec!(0)),
                Err(R::OrderNotional {
                    notional: dec!(500),
                    limit: dec!(0),
                }),
            ),
            (
                "zero loss limit blocks at flat pnl",
                RiskLimits {
                    daily_loss_limit: Decimal::ZERO,
                    ..limits()
                },
                entry(),
                input(S::Live, dec!(0)),
                Err(R::DailyLoss {
                    pnl_today: dec!(0),
                    limit: dec!(0),
                }),
            ),
            (
                "zero position limit",
                RiskLimits {
                    max_open_position: Decimal::ZERO,
                    ..limits()
                },
                entry(),
                input(S::Live, dec!(0)),
                Err(R::OpenPosition {
                    after: dec!(500),
                    limit: dec!(0),
                }),
            ),
        ];
        for (name, limits, intent, input, want) in cases {
            assert_eq!(check(&limits, &intent, &input), want, "{name}");
        }
    }

    #[test]
    fn reduces_position_cases() {
        let cases = [
            (Side::Sell, dec!(1), dec!(2), true),
            (Side::Sell, dec!(2), dec!(2), true),
            (Side::Sell, dec!(3), dec!(2), false),
            (Side::Buy, dec!(1), dec!(2), false),
            (Side::Buy, dec!(2), dec!(-2), true),
            (Side::Sell, dec!(1), dec!(-2), false),
            (Side::Sell, dec!(1), dec!(0), false),
            (Side::Buy, dec!(1), dec!(0), false),
        ];
        for (side, qty, pos, want) in cases {
            assert_eq!(
                reduces_position(&intent(side, qty), pos),
                want,
                "{side:?} {qty} at {pos}"
            );
        }
    }

    #[test]
    fn reasons_and_messages() {
        let all = [
            (R::NotRunning, "not_running"),
            (R::Paused, "paused"),
            (
                R::OrderNotional {
                    notional: dec!(2),
                    limit: dec!(1),
                },
                "max_order_notional",
            ),
            (
                R::OpenPosition {
                    after: dec!(2),
                    limit: dec!(1),
                },
                "max_open_position",
            ),
            (R::OrderRate { limit: 3 }, "max_orders_per_minute"),
            (
                R::DailyLoss {
                    pnl_today: dec!(-2),
                    limit: dec!(1),
                },
                "daily_loss_limit",
            ),
            (R::NoPrice, "no_price"),
        ];
        for (r, label) in all {
            assert_eq!(r.reason(), label);
            assert!(!r.to_string().is_empty());
        }
        assert_eq!(
            R::OrderNotional {
                notional: dec!(1100),
                limit: dec!(1000)
            }
            .to_string(),
            "order notional 1100 exceeds the limit of 1000"
        );
    }

    #[test]
    fn order_rate_slides() {
        let mut rate = OrderRate::default();
        assert_eq!(rate.count(0), 0);
        rate.record(1_000);
        rate.record(30_000);
        rate.record(60_000);
        assert_eq!(rate.count(60_000), 3);
        // 1_000 leaves the window once 60 s have passed since it.
        assert_eq!(rate.count(60_999), 3);
        assert_eq!(rate.count(61_000), 2);
        assert_eq!(rate.count(120_000), 0);
    }
}

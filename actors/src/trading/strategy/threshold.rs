//! Threshold strategy: buy when the ask drops to `buy_below`, sell what is held when the bid
//! reaches `sell_above`.

use super::{Decision, ParamError, Params, Strategy, TickInput, market};
use crate::trading::types::Side;
use rust_decimal::Decimal;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    venue: String,
    symbols: Vec<String>,
    buy_below: Decimal,
    sell_above: Decimal,
    order_qty: Decimal,
    /// Base quantity the position may reach by buying.
    max_position: Decimal,
}

impl Threshold {
    pub fn from_params(
        params: &Value,
        connector: &str,
        symbols: &[String],
    ) -> Result<Self, Vec<ParamError>> {
        let mut p = Params::new(
            params,
            &["buy_below", "sell_above", "order_qty", "max_position"],
        );
        let buy_below = p.positive("buy_below");
        let sell_above = p.positive("sell_above");
        let order_qty = p.positive("order_qty");
        let max_position = p.positive("max_position");
        if let (Some(buy), Some(sell)) = (buy_below, sell_above)
            && buy >= sell
        {
            p.error("buy_below", "must be below sell_above");
        }
        p.finish(|| {
            Some(Self {
                venue: connector.to_string(),
                symbols: symbols.to_vec(),
                buy_below: buy_below?,
                sell_above: sell_above?,
                order_qty: order_qty?,
                max_position: max_position?,
            })
        })
    }
}

impl Strategy for Threshold {
    fn subscriptions(&self) -> Vec<(String, String)> {
        self.symbols
            .iter()
            .map(|s| (self.venue.clone(), s.clone()))
            .collect()
    }

    fn on_tick(&mut self, input: &TickInput<'_>) -> Decision {
        let mut decision = Decision::default();
        for symbol in &self.symbols {
            let Some(book) = input.book(&self.venue, symbol) else {
                continue;
            };
            let position = input.position(&self.venue, symbol);
            // One entry at a time: an unfilled buy would otherwise be repeated every tick.
            let can_buy = input.open_orders == 0 && position + self.order_qty <= self.max_position;
            if can_buy && book.best_ask().is_some_and(|ask| ask <= self.buy_below) {
                let intent = market(
                    &self.venue,
                    symbol,
                    Side::Buy,
                    self.order_qty,
                    false,
                    "threshold:buy",
                );
                decision.intents.push(intent);
            } else if position > Decimal::ZERO
                && book.best_bid().is_some_and(|bid| bid >= self.sell_above)
            {
                let qty = self.order_qty.min(position);
                let intent = market(&self.venue, symbol, Side::Sell, qty, true, "threshold:sell");
                decision.intents.push(intent);
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::strategy::build;
    use crate::trading::types::{Fees, Intent, Level, OrderBook};
    use rust_decimal::dec;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn strategy() -> Threshold {
        let params =
            json!({"buy_below": "100", "sell_above": "110", "order_qty": "2", "max_position": "5"});
        Threshold::from_params(&params, "paper", &["BTC-USDT".to_string()]).expect("valid")
    }

    fn book(bid: Decimal, ask: Decimal) -> OrderBook {
        OrderBook {
            symbol: "BTC-USDT".into(),
            bids: vec![Level {
                price: bid,
                qty: dec!(10),
            }],
            asks: vec![Level {
                price: ask,
                qty: dec!(10),
            }],
            ts_ms: 0,
        }
    }

    fn tick(book: Option<OrderBook>, position: Decimal, open_orders: usize) -> Vec<Intent> {
        let key = ("paper".to_string(), "BTC-USDT".to_string());
        let books: BTreeMap<_, _> = book.map(|b| (key.clone(), b)).into_iter().collect();
        let positions = BTreeMap::from([(key, position)]);
        let fees: BTreeMap<String, Fees> = BTreeMap::new();
        let input = TickInput {
            now_ms: 0,
            books: &books,
            positions: &positions,
            fees: &fees,
            open_orders,
        };
        strategy().on_tick(&input).intents
    }

    #[test]
    fn decisions() {
        let buy = |qty| Some((Side::Buy, qty, false, "threshold:buy"));
        let sell = |qty| Some((Side::Sell, qty, true, "threshold:sell"));
        let cases = [
            (
                "ask at buy_below",
                book(dec!(99), dec!(100)),
                dec!(0),
                0,
                buy(dec!(2)),
            ),
            (
                "ask above buy_below",
                book(dec!(100), dec!(100.01)),
                dec!(0),
                0,
                None,
            ),
            // 3 + 2 = 5 ≤ 5
            (
                "buy up to max_position",
                book(dec!(90), dec!(91)),
                dec!(3),
                0,
                buy(dec!(2)),
            ),
            (
                "buy would pass max_position",
                book(dec!(90), dec!(91)),
                dec!(3.5),
                0,
                None,
            ),
            (
                "open order blocks the buy",
                book(dec!(90), dec!(91)),
                dec!(0),
                1,
                None,
            ),
            (
                "bid at sell_above",
                book(dec!(110), dec!(111)),
                dec!(5),
                0,
                sell(dec!(2)),
            ),
            (
                "sell capped by position",
                book(dec!(120), dec!(121)),
                dec!(0.5),
                0,
                sell(dec!(0.5)),
            ),
            (
                "nothing to sell",
                book(dec!(120), dec!(121)),
                dec!(0),
                0,
                None,
            ),
            (
                "short is not sold further",
                book(dec!(120), dec!(121)),
                dec!(-1),
                0,
                None,
            ),
            (
                "bid below sell_above",
                book(dec!(109.99), dec!(111)),
                dec!(5),
                0,
                None,
            ),
        ];
        for (name, b, position, open, want) in cases {
            let got: Vec<_> = tick(Some(b), position, open)
                .into_iter()
                .map(|i| {
                    assert_eq!((i.venue.as_str(), i.symbol.as_str()), ("paper", "BTC-USDT"));
                    (i.side, i.qty, i.reduce_only, i.tag)
                })
                .collect();
            let want: Vec<_> = want
                .into_iter()
                .map(|(s, q, r, t)| (s, q, r, t.to_string()))
                .collect();
            assert_eq!(got, want, "{name}");
        }
        assert!(tick(None, dec!(0), 0).is_empty(), "no book, no trade");
    }

    #[test]
    fn validation_names_every_bad_field() {
        let symbols = ["BTC-USDT".to_string()];
        let errors = |params: Value| match build("threshold", &params, "paper", &symbols) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.field).collect::<Vec<_>>(),
        };
        let got = errors(
            json!({"buy_below": "110", "sell_above": "100", "order_qty": "0", "max_position": 1.5}),
        );
        assert_eq!(
            got,
            [
                "params.order_qty",
                "params.max_position",
                "params.buy_below"
            ]
        );
        let got =
            errors(json!({"buy_below": "1", "sell_above": "2", "order_qty": "1", "extra": "1"}));
        assert_eq!(got, ["params.extra", "params.max_position"]);
        assert_eq!(
            strategy().subscriptions(),
            [("paper".to_string(), "BTC-USDT".to_string())]
        );
    }
}

//! Grid strategy: `levels` equal steps between `lower` and `upper`; each step the mid price
//! falls buys `order_qty`, each step it rises sells up to `order_qty` of what is held.

use super::{Decision, ParamError, Params, Strategy, TickInput, market};
use crate::trading::types::Side;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    venue: String,
    symbols: Vec<String>,
    lower: Decimal,
    upper: Decimal,
    levels: i64,
    order_qty: Decimal,
    /// Grid index of the mid price at the previous tick, per symbol.
    last_index: BTreeMap<String, i64>,
}

impl Grid {
    pub fn from_params(
        params: &Value,
        connector: &str,
        symbols: &[String],
    ) -> Result<Self, Vec<ParamError>> {
        let mut p = Params::new(params, &["lower", "upper", "levels", "order_qty"]);
        let lower = p.positive("lower");
        let upper = p.positive("upper");
        let levels = p.integer("levels", 2, 200);
        let order_qty = p.positive("order_qty");
        if let (Some(lower), Some(upper)) = (lower, upper)
            && lower >= upper
        {
            p.error("upper", "must be above lower");
        }
        p.finish(|| {
            Some(Self {
                venue: connector.to_string(),
                symbols: symbols.to_vec(),
                lower: lower?,
                upper: upper?,
                levels: levels?,
                order_qty: order_qty?,
                last_index: BTreeMap::new(),
            })
        })
    }

    /// `floor((mid − lower) / step)` clamped to `[0, levels]`, with `step = (upper − lower) /
    /// levels`; multiplied out so a step like 20 / 3 does not round.
    fn index(&self, mid: Decimal) -> i64 {
        if mid <= self.lower {
            return 0;
        }
        if mid >= self.upper {
            return self.levels;
        }
        let scaled = (mid - self.lower) * Decimal::from(self.levels) / (self.upper - self.lower);
        scaled.floor().to_i64().unwrap_or(0).clamp(0, self.levels)
    }
}

impl Strategy for Grid {
    fn subscriptions(&self) -> Vec<(String, String)> {
        self.symbols
            .iter()
            .map(|s| (self.venue.clone(), s.clone()))
            .collect()
    }

    fn on_tick(&mut self, input: &TickInput<'_>) -> Decision {
        let mut decision = Decision::default();
        for symbol in &self.symbols {
            let Some(mid) = input.book(&self.venue, symbol).and_then(|b| b.mid()) else {
                continue;
            };
            let index = self.index(mid);
            // The first tick only learns where the price is: no crossing has happened yet.
            let Some(previous) = self.last_index.insert(symbol.clone(), index) else {
                continue;
            };
            let crossed = Decimal::from((index - previous).abs());
            if index < previous {
                let qty = crossed * self.order_qty;
                decision.intents.push(market(
                    &self.venue,
                    symbol,
                    Side::Buy,
                    qty,
                    false,
                    "grid:buy",
                ));
            } else if index > previous {
                let position = input.position(&self.venue, symbol);
                if position > Decimal::ZERO {
                    let qty = (crossed * self.order_qty).min(position);
                    decision.intents.push(market(
                        &self.venue,
                        symbol,
                        Side::Sell,
                        qty,
                        true,
                        "grid:sell",
                    ));
                }
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::strategy::build;
    use crate::trading::types::{Fees, Level, OrderBook};
    use rust_decimal::dec;
    use serde_json::json;

    /// lower 100, upper 110, 10 levels → step 1; order_qty 0.5.
    fn grid() -> Grid {
        let params = json!({"lower": "100", "upper": "110", "levels": 10, "order_qty": "0.5"});
        Grid::from_params(&params, "paper", &["BTC-USDT".to_string()]).expect("valid")
    }

    /// A tick with a book of the given mid (bid mid − 0.1, ask mid + 0.1), or no book.
    fn tick(
        g: &mut Grid,
        mid: Option<Decimal>,
        position: Decimal,
    ) -> Vec<(Side, Decimal, bool, String)> {
        let key = ("paper".to_string(), "BTC-USDT".to_string());
        let book = mid.map(|m| OrderBook {
            symbol: "BTC-USDT".into(),
            bids: vec![Level {
                price: m - dec!(0.1),
                qty: dec!(9),
            }],
            asks: vec![Level {
                price: m + dec!(0.1),
                qty: dec!(9),
            }],
            ts_ms: 0,
        });
        let books: BTreeMap<_, _> = book.map(|b| (key.clone(), b)).into_iter().collect();
        let positions = BTreeMap::from([(key, position)]);
        let fees: BTreeMap<String, Fees> = BTreeMap::new();
        let input = TickInput {
            now_ms: 0,
            books: &books,
            positions: &positions,
            fees: &fees,
            open_orders: 0,
        };
        g.on_tick(&input)
            .intents
            .into_iter()
            .map(|i| (i.side, i.qty, i.reduce_only, i.tag))
            .collect()
    }

    #[test]
    fn index_is_clamped_and_floored() {
        let g = grid();
        let cases = [
            (dec!(90), 0),
            (dec!(100), 0),
            (dec!(100.99), 0),
            (dec!(101), 1),
            (dec!(105.5), 5),
            (dec!(109.99), 9),
            (dec!(110), 10),
            (dec!(500), 10),
        ];
        for (mid, want) in cases {
            assert_eq!(g.index(mid), want, "{mid}");
        }
    }

    #[test]
    fn trades_on_crossings() {
        let buy = |q: Decimal| (Side::Buy, q, false, "grid:buy".to_string());
        let sell = |q: Decimal| (Side::Sell, q, true, "grid:sell".to_string());
        let mut g = grid();
        // (mid or no book, position, expected intents)
        let steps = [
            (Some(dec!(105.5)), dec!(0), vec![]), // first tick: index 5 recorded only
            (Some(dec!(105.9)), dec!(0), vec![]), // still 5
            (Some(dec!(103.2)), dec!(0), vec![buy(dec!(1))]), // 5 → 3: 2 × 0.5
            (None, dec!(1), vec![]),              // no book: skipped, index stays 3
            (Some(dec!(96)), dec!(1), vec![buy(dec!(1.5))]), // 3 → 0 (clamped)
            (Some(dec!(102)), dec!(2.5), vec![sell(dec!(1))]), // 0 → 2
            (Some(dec!(120)), dec!(1.5), vec![sell(dec!(1.5))]), // 2 → 10: 4 capped at 1.5
            (Some(dec!(109)), dec!(0), vec![buy(dec!(0.5))]), // 10 → 9
            (Some(dec!(110)), dec!(0), vec![]),   // 9 → 10 with nothing held
        ];
        for (i, (mid, position, want)) in steps.into_iter().enumerate() {
            assert_eq!(tick(&mut g, mid, position), want, "step {i}");
        }
    }

    #[test]
    fn validation_names_every_bad_field() {
        let symbols = ["BTC-USDT".to_string()];
        let errors = |params: Value| match build("grid", &params, "paper", &symbols) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.field).collect::<Vec<_>>(),
        };
        let got = errors(json!({"lower": "110", "upper": "100", "levels": 1, "order_qty": "-1"}));
        assert_eq!(got, ["params.levels", "params.order_qty", "params.upper"]);
        assert_eq!(
            errors(json!({"lower": "1", "upper": "2", "levels": 201, "order_qty": "1"})),
            ["params.levels"]
        );
        assert_eq!(
            errors(json!({"lower": "1", "upper": "2", "levels": "10", "order_qty": "1"})),
            ["params.levels"]
        );
        assert!(
            errors(json!({"lower": 1, "upper": 2, "levels": 200, "order_qty": "1"})).is_empty()
        );
    }
}

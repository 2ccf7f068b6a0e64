//! Arbitrage strategy: watches one symbol on two venues, reports every opportunity and, when
//! `execute` is set, trades both legs at market.

use super::{Decision, ParamError, Params, Strategy, TickInput, market};
use crate::trading::arbitrage::{VenueBook, detect};
use crate::trading::types::Side;
use rust_decimal::Decimal;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arbitrage {
    venue: String,
    other_venue: String,
    symbol: String,
    order_qty: Decimal,
    min_profit_bps: Decimal,
    /// Off by default: watching is harmless, trading must be asked for.
    execute: bool,
}

impl Arbitrage {
    pub fn from_params(
        params: &Value,
        connector: &str,
        symbols: &[String],
    ) -> Result<Self, Vec<ParamError>> {
        let mut p = Params::new(
            params,
            &["other_connector", "order_qty", "min_profit_bps", "execute"],
        );
        let other_venue = p.string("other_connector");
        if other_venue.as_deref() == Some(connector) {
            p.error(
                "other_connector",
                "must differ from the strategy's connector",
            );
        }
        let order_qty = p.positive("order_qty");
        let min_profit_bps = p.decimal_where(
            "min_profit_bps",
            |d| d >= Decimal::ZERO,
            "must be 0 or more",
        );
        let execute = p.bool_or("execute", false);
        if symbols.len() != 1 {
            p.errors.push(ParamError::new(
                "symbols",
                "arbitrage takes exactly one symbol",
            ));
        }
        p.finish(|| {
            Some(Self {
                venue: connector.to_string(),
                other_venue: other_venue?,
                symbol: symbols.first()?.clone(),
                order_qty: order_qty?,
                min_profit_bps: min_profit_bps?,
                execute,
            })
        })
    }

    fn side<'a>(&self, input: &'a TickInput<'_>, venue: &'a str) -> Option<VenueBook<'a>> {
        Some(VenueBook {
            venue,
            book: input.book(venue, &self.symbol)?,
            // Unknown fees would overstate the profit: skip rather than assume zero.
            fees: *input.fees.get(venue)?,
        })
    }
}

impl Strategy for Arbitrage {
    fn subscriptions(&self) -> Vec<(String, String)> {
        vec![
            (self.venue.clone(), self.symbol.clone()),
            (self.other_venue.clone(), self.symbol.clone()),
        ]
    }

    fn on_tick(&mut self, input: &TickInput<'_>) -> Decision {
        let mut decision = Decision::default();
        let (Some(a), Some(b)) = (
            self.side(input, &self.venue),
            self.side(input, &self.other_venue),
        ) else {
            return decision;
        };
        let Some(opportunity) = detect(a, b, self.order_qty, self.min_profit_bps) else {
            return decision;
        };
        if self.execute {
            let qty = opportunity.qty;
            let (buy, sell) = (&opportunity.buy_venue, &opportunity.sell_venue);
            decision
                .intents
                .push(market(buy, &self.symbol, Side::Buy, qty, false, "arb:buy"));
            decision.intents.push(market(
                sell,
                &self.symbol,
                Side::Sell,
                qty,
                false,
                "arb:sell",
            ));
        }
        decision.opportunities.push(opportunity);
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

    fn strategy(execute: bool) -> Arbitrage {
        let params = json!({"other_connector": "paper-b", "order_qty": "1", "min_profit_bps": "50", "execute": execute});
        Arbitrage::from_params(&params, "paper", &["BTC-USDT".to_string()]).expect("valid")
    }

    fn book(bid: Decimal, ask: Decimal) -> OrderBook {
        OrderBook {
            symbol: "BTC-USDT".into(),
            bids: vec![Level {
                price: bid,
                qty: dec!(5),
            }],
            asks: vec![Level {
                price: ask,
                qty: dec!(5),
            }],
            ts_ms: 0,
        }
    }

    fn key(venue: &str) -> (String, String) {
        (venue.to_string(), "BTC-USDT".to_string())
    }

    fn run(
        s: &mut Arbitrage,
        books: &BTreeMap<(String, String), OrderBook>,
        fees: &BTreeMap<String, Fees>,
    ) -> Decision {
        let positions = BTreeMap::new();
        s.on_tick(&TickInput {
            now_ms: 0,
            books,
            positions: &positions,
            fees,
            open_orders: 0,
        })
    }

    fn fees() -> BTreeMap<String, Fees> {
        let f = Fees {
            maker: dec!(0),
            taker: dec!(0.001),
        };
        BTreeMap::from([("paper".to_string(), f), ("paper-b".to_string(), f)])
    }

    #[test]
    fn reports_and_executes() {
        // Buy on paper-b at 100, sell on paper at 102: gross 2, fees 0.1 + 0.102 = 0.202,
        // net 1.798 = 179.8 bps ≥ 50.
        let books = BTreeMap::from([
            (key("paper"), book(dec!(102), dec!(103))),
            (key("paper-b"), book(dec!(99), dec!(100))),
        ]);
        let watch = run(&mut strategy(false), &books, &fees());
        assert!(watch.intents.is_empty());
        assert_eq!(watch.opportunities.len(), 1);
        let o = &watch.opportunities[0];
        assert_eq!(
            (o.buy_venue.as_str(), o.sell_venue.as_str()),
            ("paper-b", "paper")
        );
        assert_eq!((o.net_profit, o.net_bps), (dec!(1.798), dec!(179.8)));

        let trade = run(&mut strategy(true), &books, &fees());
        let leg = |venue: &str, side, tag: &str| Intent {
            venue: venue.into(),
            symbol: "BTC-USDT".into(),
            side,
            kind: crate::trading::types::OrderKind::Market,
            qty: dec!(1),
            reduce_only: false,
            tag: tag.into(),
        };
        assert_eq!(
            trade.intents,
            [
                leg("paper-b", Side::Buy, "arb:buy"),
                leg("paper", Side::Sell, "arb:sell")
            ]
        );
        assert_eq!(trade.opportunities, watch.opportunities);
    }

    #[test]
    fn nothing_without_edge_books_or_fees() {
        let mut s = strategy(true);
        // 100 → 100.4: 40 bps gross, below 50 before fees even.
        let thin = BTreeMap::from([
            (key("paper"), book(dec!(100.4), dec!(101))),
            (key("paper-b"), book(dec!(99), dec!(100))),
        ]);
        assert_eq!(run(&mut s, &thin, &fees()), Decision::default());
        let one_book = BTreeMap::from([(key("paper"), book(dec!(110), dec!(111)))]);
        assert_eq!(run(&mut s, &one_book, &fees()), Decision::default());
        let rich = BTreeMap::from([
            (key("paper"), book(dec!(110), dec!(111))),
            (key("paper-b"), book(dec!(99), dec!(100))),
        ]);
        assert_eq!(
            run(&mut s, &rich, &BTreeMap::new()),
            Decision::default(),
            "no fees known"
        );
        assert_eq!(s.subscriptions(), [key("paper"), key("paper-b")]);
    }

    #[test]
    fn validation_names_every_bad_field() {
        let errors = |params: Value, symbols: &[&str]| {
            let symbols: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
            match build("arbitrage", &params, "paper", &symbols) {
                Ok(_) => Vec::new(),
                Err(e) => e.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            }
        };
        let got = errors(
            json!({"other_connector": "paper", "order_qty": 1.5, "min_profit_bps": "-1", "execute": "yes"}),
            &["BTC-USDT", "ETH-USDT"],
        );
        assert_eq!(
            got,
            [
                "params.other_connector",
                "params.order_qty",
                "params.min_profit_bps",
                "params.execute",
                "symbols"
            ]
        );
        assert_eq!(
            errors(
                json!({"order_qty": "1", "min_profit_bps": 0}),
                &["BTC-USDT"]
            ),
            ["params.other_connector"]
        );
        assert!(
            errors(
                json!({"other_connector": "b", "order_qty": "1", "min_profit_bps": 0}),
                &["BTC-USDT"]
            )
            .is_empty()
        );
    }
}

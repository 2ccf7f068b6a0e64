//! The `Strategy` trait, parameter validation and the built-in strategies (`threshold`, `grid`,
//! `arbitrage`). Strategies are pure: a tick's books and positions in, intents out; the runtime
//! fetches the data, runs the risk gate and places the orders.

pub mod arbitrage;
pub mod grid;
pub mod threshold;

use super::types::{Fees, Intent, OrderBook, OrderKind, Side, split_symbol};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

pub const KINDS: &[&str] = &["threshold", "grid", "arbitrage"];

/// One invalid setting; `field` is a path such as `params.buy_below` or `symbols[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

impl ParamError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a strategy sees on one tick.
pub struct TickInput<'a> {
    pub now_ms: i64,
    /// Keyed by (venue, symbol).
    pub books: &'a BTreeMap<(String, String), OrderBook>,
    /// Signed base quantity, keyed by (venue, symbol); missing = flat.
    pub positions: &'a BTreeMap<(String, String), Decimal>,
    /// Per venue.
    pub fees: &'a BTreeMap<String, Fees>,
    /// This strategy's non-terminal orders.
    pub open_orders: usize,
}

impl TickInput<'_> {
    pub fn book(&self, venue: &str, symbol: &str) -> Option<&OrderBook> {
        self.books.get(&(venue.to_string(), symbol.to_string()))
    }

    pub fn position(&self, venue: &str, symbol: &str) -> Decimal {
        let key = (venue.to_string(), symbol.to_string());
        self.positions.get(&key).copied().unwrap_or_default()
    }
}

/// What a tick decided: orders to try, and opportunities seen (reported even when not traded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub intents: Vec<Intent>,
    pub opportunities: Vec<crate::trading::arbitrage::Opportunity>,
}

pub trait Strategy: Send + 'static {
    /// (venue, symbol) books the runtime must fetch before each tick.
    fn subscriptions(&self) -> Vec<(String, String)>;
    fn on_tick(&mut self, input: &TickInput<'_>) -> Decision;
}

/// Validates `params` for `kind` and builds the strategy. Every error is returned at once so a
/// form can show them all. `connector` is the strategy's venue, `symbols` its symbols.
pub fn build(
    kind: &str,
    params: &Value,
    connector: &str,
    symbols: &[String],
) -> Result<Box<dyn Strategy>, Vec<ParamError>> {
    let mut errors = Vec::new();
    if connector.trim().is_empty() {
        errors.push(ParamError::new("connector", "is required"));
    }
    errors.extend(check_symbols(symbols));
    let built: Result<Box<dyn Strategy>, _> = match kind {
        "threshold" => threshold::Threshold::from_params(params, connector, symbols)
            .map(|s| Box::new(s) as Box<dyn Strategy>),
        "grid" => grid::Grid::from_params(params, connector, symbols)
            .map(|s| Box::new(s) as Box<dyn Strategy>),
        "arbitrage" => arbitrage::Arbitrage::from_params(params, connector, symbols)
            .map(|s| Box::new(s) as Box<dyn Strategy>),
        _ => Err(vec![ParamError::new(
            "kind",
            format!(
                "unknown strategy kind {kind:?}; expected one of: {}",
                KINDS.join(", ")
            ),
        )]),
    };
    match built {
        Ok(strategy) if errors.is_empty() => Ok(strategy),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

/// Extra venues a kind needs besides `connector` (arbitrage: its `other_connector`), so callers
/// can check they exist. Best effort on invalid params: `build` reports those.
pub fn extra_venues(kind: &str, params: &Value) -> Vec<String> {
    match (kind, params.get("other_connector")) {
        ("arbitrage", Some(Value::String(venue))) if !venue.trim().is_empty() => {
            vec![venue.clone()]
        }
        _ => Vec::new(),
    }
}

/// Example params per kind, for docs.
pub fn example_params(kind: &str) -> Option<Value> {
    let example = match kind {
        "threshold" => serde_json::json!({
            "buy_below": "95000", "sell_above": "105000", "order_qty": "0.01", "max_position": "0.05"
        }),
        "grid" => serde_json::json!({
            "lower": "90000", "upper": "110000", "levels": 10, "order_qty": "0.01"
        }),
        "arbitrage" => serde_json::json!({
            "other_connector": "paper-b", "order_qty": "0.01", "min_profit_bps": "5", "execute": false
        }),
        _ => return None,
    };
    Some(example)
}

fn check_symbols(symbols: &[String]) -> Vec<ParamError> {
    let mut errors = Vec::new();
    if symbols.is_empty() {
        errors.push(ParamError::new(
            "symbols",
            "at least one symbol is required",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, symbol) in symbols.iter().enumerate() {
        if split_symbol(symbol).is_none() {
            errors.push(ParamError::new(
                format!("symbols[{i}]"),
                format!("{symbol:?} is not a BASE-QUOTE symbol such as BTC-USDT"),
            ));
        } else if !seen.insert(symbol) {
            errors.push(ParamError::new(format!("symbols[{i}]"), "duplicate symbol"));
        }
    }
    errors
}

/// A market order intent.
pub(crate) fn market(
    venue: &str,
    symbol: &str,
    side: Side,
    qty: Decimal,
    reduce_only: bool,
    tag: &str,
) -> Intent {
    Intent {
        venue: venue.to_string(),
        symbol: symbol.to_string(),
        side,
        kind: OrderKind::Market,
        qty,
        reduce_only,
        tag: tag.to_string(),
    }
}

/// Reads a params object, collecting every problem instead of stopping at the first.
pub(crate) struct Params<'a> {
    map: Option<&'a Map<String, Value>>,
    pub(crate) errors: Vec<ParamError>,
}

impl<'a> Params<'a> {
    /// Rejects a non-object and any key not in `allowed` (a typo must not silently fall back
    /// to a default).
    pub(crate) fn new(value: &'a Value, allowed: &[&str]) -> Self {
        let mut errors = Vec::new();
        let map = value.as_object();
        match map {
            None => errors.push(ParamError::new("params", "must be a JSON object")),
            Some(map) => {
                for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
                    errors.push(ParamError::new(
                        field(key),
                        format!("unknown parameter; expected one of: {}", allowed.join(", ")),
                    ));
                }
            }
        }
        Self { map, errors }
    }

    pub(crate) fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ParamError::new(field(key), message));
    }

    /// `None` when absent; records "is required" unless the whole params value was invalid.
    fn required(&mut self, key: &str) -> Option<&'a Value> {
        let map = self.map?;
        let value = map.get(key);
        if value.is_none() {
            self.error(key, "is required");
        }
        value
    }

    /// A decimal given as a JSON string (`"100.5"`) or a JSON integer. JSON floats are refused:
    /// they are binary approximations, and prices must be exact.
    pub(crate) fn decimal(&mut self, key: &str) -> Option<Decimal> {
        let parsed = match self.required(key)? {
            Value::String(s) => Decimal::from_str(s).ok(),
            Value::Number(n) if n.is_i64() => n.as_i64().map(Decimal::from),
            Value::Number(n) if n.is_u64() => n.as_u64().map(Decimal::from),
            Value::Number(_) => {
                self.error(
                    key,
                    "must be a decimal string such as \"0.5\", not a JSON float",
                );
                return None;
            }
            _ => None,
        };
        if parsed.is_none() {
            self.error(key, "must be a decimal string such as \"100.5\"");
        }
        parsed
    }

    /// A decimal that must satisfy `ok`, else `message` is recorded.
    pub(crate) fn decimal_where(
        &mut self,
        key: &str,
        ok: fn(Decimal) -> bool,
        message: &str,
    ) -> Option<Decimal> {
        let value = self.decimal(key)?;
        if !ok(value) {
            self.error(key, message);
            return None;
        }
        Some(value)
    }

    pub(crate) fn positive(&mut self, key: &str) -> Option<Decimal> {
        self.decimal_where(key, |d| d > Decimal::ZERO, "must be greater than 0")
    }

    /// A JSON integer within `min..=max`.
    pub(crate) fn integer(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let value = self
            .required(key)?
            .as_i64()
            .filter(|n| (min..=max).contains(n));
        if value.is_none() {
            self.error(key, format!("must be an integer from {min} to {max}"));
        }
        value
    }

    /// A non-empty string.
    pub(crate) fn string(&mut self, key: &str) -> Option<String> {
        let value = self
            .required(key)?
            .as_str()
            .filter(|s| !s.trim().is_empty());
        if value.is_none() {
            self.error(key, "must be a non-empty string");
        }
        value.map(str::to_string)
    }

    pub(crate) fn bool_or(&mut self, key: &str, default: bool) -> bool {
        match self.map.and_then(|m| m.get(key)) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.error(key, "must be true or false");
                default
            }
        }
    }

    /// The built value when nothing was wrong.
    pub(crate) fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Vec<ParamError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        // Every getter records an error when it returns None, so this only fails on a bug.
        build().ok_or_else(|| vec![ParamError::new("params", "invalid parameters")])
    }
}

fn field(key: &str) -> String {
    format!("params.{key}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn syms(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn fields(result: Result<Box<dyn Strategy>, Vec<ParamError>>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn every_kind_has_a_valid_example() {
        for kind in KINDS {
            let params = example_params(kind).expect("example");
            let built = build(kind, &params, "paper", &syms(&["BTC-USDT"]));
            assert!(built.is_ok(), "{kind}: {:?}", built.err());
        }
        assert_eq!(example_params("martingale"), None);
    }

    #[test]
    fn unknown_kind_and_bad_symbols_are_reported_together() {
        let got = fields(build(
            "martingale",
            &json!({}),
            "",
            &syms(&["BTC-USDT", "btc", "BTC-USDT"]),
        ));
        assert_eq!(got, ["connector", "symbols[1]", "symbols[2]", "kind"]);
        assert_eq!(
            fields(build("grid", &json!({}), "paper", &[]))[0],
            "symbols"
        );
    }

    #[test]
    fn decimal_inputs() {
        let value = json!({
            "s": "100.5", "i": 7, "f": 0.5, "bad": "1.2.3", "b": true, "zero": "0", "neg": "-1"
        });
        let mut p = Params::new(
            &value,
            &["s", "i", "f", "bad", "b", "zero", "neg", "missing"],
        );
        assert_eq!(p.decimal("s"), Some(rust_decimal::dec!(100.5)));
        assert_eq!(p.decimal("i"), Some(rust_decimal::dec!(7)));
        assert_eq!(p.decimal("f"), None);
        assert_eq!(p.decimal("bad"), None);
        assert_eq!(p.decimal("b"), None);
        assert_eq!(p.positive("zero"), None);
        assert_eq!(p.positive("neg"), None);
        assert_eq!(p.decimal("missing"), None);
        let got: Vec<_> = p
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "params.f",
                    "must be a decimal string such as \"0.5\", not a JSON float"
                ),
                ("params.bad", "must be a decimal string such as \"100.5\""),
                ("params.b", "must be a decimal string such as \"100.5\""),
                ("params.zero", "must be greater than 0"),
                ("params.neg", "must be greater than 0"),
                ("params.missing", "is required"),
            ]
        );
    }

    #[test]
    fn params_must_be_an_object_without_unknown_keys() {
        let value = json!(["x"]);
        let mut p = Params::new(&value, &["a"]);
        // A non-object gets one error, not one per missing field.
        assert_eq!(p.decimal("a"), None);
        assert_eq!(
            p.errors,
            [ParamError::new("params", "must be a JSON object")]
        );
        let value = json!({"a": "1", "typo": "2"});
        let p = Params::new(&value, &["a"]);
        assert_eq!(p.errors[0].field, "params.typo");
        assert_eq!(
            p.errors[0].to_string(),
            "params.typo: unknown parameter; expected one of: a"
        );
    }

    #[test]
    fn extra_venues_per_kind() {
        let arb = json!({"other_connector": "paper-b"});
        assert_eq!(extra_venues("arbitrage", &arb), ["paper-b"]);
        assert!(extra_venues("threshold", &arb).is_empty());
        assert!(extra_venues("arbitrage", &json!({"other_connector": 3})).is_empty());
    }
}

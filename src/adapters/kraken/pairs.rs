//! Kraken's pair names ↔ ours. We write `BTC-USDT`; Kraken calls that pair `XBTUSDT` (its
//! `altname`), `XBT/USDT` (its `wsname`), and keys it `XBTUSDT` in results — while older
//! pairs are keyed by their canonical name (`XXBTZUSD` for `XBTUSD`). `AssetPairs` lists all
//! three, so the mapping is built from it rather than guessed: its `wsname` (`BASE/QUOTE`, with
//! Kraken's asset codes) gives our symbol once `XBT` → `BTC` and `XDG` → `DOGE`.

use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// One `AssetPairs` entry, the fields we use (string numbers are decimals).
#[derive(Debug, Clone, Deserialize)]
pub struct RawPair {
    pub altname: String,
    #[serde(default)]
    pub wsname: Option<String>,
    pub base: String,
    pub quote: String,
    #[serde(default)]
    pub pair_decimals: Option<u32>,
    #[serde(default)]
    pub lot_decimals: Option<u32>,
    #[serde(default)]
    pub cost_decimals: Option<u32>,
    #[serde(default)]
    pub ordermin: Option<Decimal>,
    #[serde(default)]
    pub costmin: Option<Decimal>,
    #[serde(default)]
    pub tick_size: Option<Decimal>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A pair as we use it: its names at Kraken and the rules an order must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrakenPair {
    /// Our symbol, `BTC-USDT`.
    pub symbol: String,
    /// The result key (`XXBTZUSD`).
    pub key: String,
    /// What requests send as `pair` (`XBTUSDT`).
    pub altname: String,
    /// Price step: `tick_size`, else `10^-pair_decimals`.
    pub tick_size: Option<Decimal>,
    /// Volume decimals.
    pub lot_decimals: Option<u32>,
    /// Smallest volume (base asset).
    pub ordermin: Option<Decimal>,
    /// Smallest cost (quote asset).
    pub costmin: Option<Decimal>,
    /// `online`, `cancel_only`, `post_only`, `limit_only`, `reduce_only`, `delisted`.
    pub status: Option<String>,
}

/// Kraken's asset code → ours (X/Z-prefixed legacy codes appear in `base`/`quote`, not in
/// `wsname`, which is what we read).
pub fn common_asset(kraken: &str) -> &str {
    match kraken {
        "XBT" => "BTC",
        "XDG" => "DOGE",
        other => other,
    }
}

/// Ours → Kraken's, the inverse of `common_asset` (for balances and fees in `XBT`).
pub fn kraken_asset(common: &str) -> &str {
    match common {
        "BTC" => "XBT",
        "DOGE" => "XDG",
        other => other,
    }
}

/// Kraken's balance/fee asset codes (`XXBT`, `ZUSD`, `USDT`, `XBT.F`) → ours (`BTC`, `USD`).
pub fn normalize_balance_asset(code: &str) -> String {
    // Staked / flexible variants carry a suffix; they are not spendable on spot.
    let code = code.split('.').next().unwrap_or(code);
    // Kraken's legacy X/Z-prefixed codes (its `Assets` endpoint); newer assets have none,
    // and some have an X or Z of their own (`XTZ`, `ZEC`), so no prefix is guessed away.
    const LEGACY: &[&str] = &[
        "XXBT", "XETH", "XLTC", "XXRP", "XXLM", "XXMR", "XZEC", "XREP", "XETC", "XMLN", "XXDG",
        "ZUSD", "ZEUR", "ZGBP", "ZCAD", "ZJPY", "ZAUD", "ZCHF",
    ];
    let code = if LEGACY.contains(&code) {
        &code[1..]
    } else {
        code
    };
    common_asset(code).to_owned()
}

#[derive(Debug, Clone, Default)]
pub struct KrakenPairs {
    by_symbol: HashMap<String, KrakenPair>,
    /// Result key and altname → our symbol.
    by_name: HashMap<String, String>,
}

impl KrakenPairs {
    /// From `AssetPairs`' `result`. Pairs without a `wsname` (dark pools) are skipped.
    pub fn from_asset_pairs(result: BTreeMap<String, RawPair>) -> Self {
        let mut pairs = Self::default();
        for (key, raw) in result {
            let Some((base, quote)) = raw.wsname.as_deref().and_then(|w| w.split_once('/')) else {
                continue;
            };
            let symbol = format!("{}-{}", common_asset(base), common_asset(quote));
            let tick_size = raw
                .tick_size
                .or_else(|| raw.pair_decimals.map(|dp| Decimal::new(1, dp)));
            let pair = KrakenPair {
                symbol: symbol.clone(),
                key: key.clone(),
                altname: raw.altname.clone(),
                tick_size,
                lot_decimals: raw.lot_decimals,
                ordermin: raw.ordermin,
                costmin: raw.costmin,
                status: raw.status,
            };
            pairs.by_name.insert(key, symbol.clone());
            pairs.by_name.insert(raw.altname, symbol.clone());
            pairs.by_symbol.insert(symbol, pair);
        }
        pairs
    }

    /// The pair for our symbol (`BTC-USDT`).
    pub fn get(&self, symbol: &str) -> Option<&KrakenPair> {
        self.by_symbol.get(symbol)
    }

    /// Our symbol for a result key or altname (`XXBTZUSD`, `XBTUSD` → `BTC-USD`).
    pub fn symbol_of(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_symbol.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_symbol.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn fixture() -> KrakenPairs {
        let body = include_str!("../../../tests/fixtures/kraken/asset_pairs.json");
        let v: super::super::public::Envelope<BTreeMap<String, RawPair>> =
            serde_json::from_str(body).expect("fixture parses");
        KrakenPairs::from_asset_pairs(v.result.expect("result"))
    }

    #[test]
    fn our_symbols_map_to_kraken_names_both_ways() {
        let pairs = fixture();
        let btc_usd = pairs.get("BTC-USD").expect("XBT/USD listed");
        assert_eq!(
            (btc_usd.key.as_str(), btc_usd.altname.as_str()),
            ("XXBTZUSD", "XBTUSD")
        );
        let btc_usdt = pairs.get("BTC-USDT").expect("XBT/USDT listed");
        assert_eq!(btc_usdt.altname, "XBTUSDT");
        assert_eq!(btc_usdt.tick_size, Some(dec!(0.1)));
        assert_eq!(btc_usdt.ordermin, Some(dec!(0.00005)));
        assert_eq!(btc_usdt.costmin, Some(dec!(0.5)));
        assert_eq!(btc_usdt.lot_decimals, Some(8));
        assert_eq!(
            pairs.get("ETH-USD").map(|p| p.key.as_str()),
            Some("XETHZUSD")
        );
        assert_eq!(pairs.symbol_of("XXBTZUSD"), Some("BTC-USD"));
        assert_eq!(pairs.symbol_of("XBTUSD"), Some("BTC-USD"));
        assert_eq!(pairs.symbol_of("XBTUSDT"), Some("BTC-USDT"));
        assert_eq!(pairs.get("XBT-USD"), None, "only our spelling");
    }

    #[test]
    fn balance_codes_are_normalised() {
        assert_eq!(normalize_balance_asset("XXBT"), "BTC");
        assert_eq!(normalize_balance_asset("ZUSD"), "USD");
        assert_eq!(normalize_balance_asset("XETH"), "ETH");
        assert_eq!(normalize_balance_asset("USDT"), "USDT");
        assert_eq!(normalize_balance_asset("XBT.F"), "BTC");
        assert_eq!(normalize_balance_asset("DOT"), "DOT");
        assert_eq!(kraken_asset("BTC"), "XBT");
    }
}

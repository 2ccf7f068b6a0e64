//! One symbol notation in the API and the strategies (`BASE-QUOTE`, e.g. `BTC-USDT`), mapped to
//! each venue's own: Binance glues the assets (`BTCUSDT`), Kraken renames some (`XBTUSD`).
//! A connector maps at its edge; nothing else sees venue notation.

use super::types::split_symbol;
use std::collections::BTreeMap;

/// How one venue writes symbols.
pub trait SymbolMap: Send + Sync {
    /// `BTC-USDT` → the venue's name for it; `None` for a malformed symbol.
    fn to_venue(&self, symbol: &str) -> Option<String>;
    /// The venue's base and quote asset names → `BASE-QUOTE` in our notation.
    fn api_symbol(&self, base: &str, quote: &str) -> String;
}

/// Assets glued together with an optional separator and per-asset renames (ours → theirs),
/// e.g. Binance: no renames, no separator; Kraken: `BTC` → `XBT`.
#[derive(Debug, Clone, Default)]
pub struct GluedSymbols {
    pub separator: &'static str,
    pub renames: BTreeMap<String, String>,
}

impl GluedSymbols {
    /// Binance Spot: `BTC-USDT` ↔ `BTCUSDT`.
    pub fn binance() -> Self {
        Self::default()
    }

    fn theirs<'a>(&'a self, ours: &'a str) -> &'a str {
        self.renames.get(ours).map_or(ours, String::as_str)
    }

    fn ours<'a>(&'a self, theirs: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(_, t)| t.as_str() == theirs)
            .map_or(theirs, |(o, _)| o.as_str())
    }
}

impl SymbolMap for GluedSymbols {
    fn to_venue(&self, symbol: &str) -> Option<String> {
        let (base, quote) = split_symbol(symbol)?;
        Some(format!(
            "{}{}{}",
            self.theirs(&base.to_ascii_uppercase()),
            self.separator,
            self.theirs(&quote.to_ascii_uppercase())
        ))
    }

    fn api_symbol(&self, base: &str, quote: &str) -> String {
        format!("{}-{}", self.ours(base), self.ours(quote))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_glues_and_kraken_style_renames() {
        let b = GluedSymbols::binance();
        assert_eq!(b.to_venue("BTC-USDT").as_deref(), Some("BTCUSDT"));
        assert_eq!(b.to_venue("eth-btc").as_deref(), Some("ETHBTC"));
        assert_eq!(b.to_venue("BTCUSDT"), None);
        assert_eq!(b.api_symbol("BTC", "USDT"), "BTC-USDT");
        let k = GluedSymbols {
            separator: "",
            renames: BTreeMap::from([("BTC".to_owned(), "XBT".to_owned())]),
        };
        assert_eq!(k.to_venue("BTC-USD").as_deref(), Some("XBTUSD"));
        assert_eq!(k.api_symbol("XBT", "USD"), "BTC-USD");
    }
}

//! Symbol rules cached per venue with a refresh interval: a real connector loads them from
//! the venue (Binance `exchangeInfo`, Kraken `AssetPairs`) at most once per interval and
//! symbol, and keeps serving the last good copy while the venue cannot be asked.

use super::connector::ConnectorError;
use super::rules::SymbolRules;
use std::collections::HashMap;
use std::future::Future;

pub struct RulesCache {
    refresh_ms: i64,
    entries: tokio::sync::Mutex<HashMap<String, (SymbolRules, i64)>>,
}

impl RulesCache {
    pub fn new(refresh_ms: i64) -> Self {
        Self {
            refresh_ms,
            entries: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The rules for `symbol`, loading them with `load` when missing or older than the refresh
    /// interval. A failed refresh falls back to the stale copy (logged); with no copy at all it
    /// is the caller's error. Held across `load`, so concurrent callers load once.
    pub async fn get<F, Fut>(
        &self,
        symbol: &str,
        now_ms: i64,
        load: F,
    ) -> Result<SymbolRules, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SymbolRules, ConnectorError>>,
    {
        let mut entries = self.entries.lock().await;
        if let Some((rules, at)) = entries.get(symbol)
            && now_ms - at < self.refresh_ms
        {
            return Ok(rules.clone());
        }
        match load().await {
            Ok(rules) => {
                entries.insert(symbol.to_owned(), (rules.clone(), now_ms));
                Ok(rules)
            }
            Err(e @ ConnectorError::Unavailable(_)) => match entries.get(symbol) {
                Some((stale, _)) => {
                    tracing::warn!(symbol, error = %e, "symbol rules refresh failed; using the last copy");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Forgets everything (the venue changed: other keys, sandbox ↔ live).
    pub async fn clear(&self) {
        self.entries.lock().await.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn loads_once_per_interval_and_serves_stale_on_failure() {
        let cache = RulesCache::new(1000);
        let loads = AtomicU32::new(0);
        let ok = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(SymbolRules::unrestricted("BTC-USDT"))
        };
        cache.get("BTC-USDT", 0, ok).await.expect("loaded");
        cache.get("BTC-USDT", 999, ok).await.expect("cached");
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        cache.get("BTC-USDT", 1000, ok).await.expect("refreshed");
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // The venue is down at the next refresh: the last copy is used.
        let down = || async { Err(ConnectorError::Unavailable("down".into())) };
        let stale = cache.get("BTC-USDT", 5000, down).await.expect("stale copy");
        assert_eq!(stale.symbol, "BTC-USDT");
        // Never loaded and the venue is down: an error, not invented rules.
        assert!(cache.get("ETH-USDT", 5000, down).await.is_err());
        // An unknown symbol is not masked by a stale copy.
        let unknown = || async { Err(ConnectorError::Rejected("unknown symbol".into())) };
        assert!(cache.get("BTC-USDT", 9000, unknown).await.is_err());
    }
}

//! Kraken's public book through `AssetPairs` (loaded first, refreshed hourly: it maps our
//! `BTC-USDT` to the `XBTUSDT` Kraken wants) and `Depth`.

use super::{DepthSource, MarketDataError};
use crate::adapters::kraken::public::{self, VENUE};
use crate::adapters::kraken::{KrakenError, KrakenPairs};
use actors::trading::types::OrderBook;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const PAIRS_REFRESH: Duration = Duration::from_secs(3600);

pub struct KrakenDepth {
    client: reqwest::Client,
    base_url: String,
    pairs: Mutex<Option<(Arc<KrakenPairs>, Instant)>>,
}

impl KrakenDepth {
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            pairs: Mutex::new(None),
        }
    }

    async fn pairs(&self) -> Result<Arc<KrakenPairs>, MarketDataError> {
        let mut cached = self.pairs.lock().await;
        if let Some((pairs, at)) = cached.as_ref()
            && at.elapsed() < PAIRS_REFRESH
        {
            return Ok(Arc::clone(pairs));
        }
        match public::asset_pairs(&self.client, &self.base_url).await {
            Ok(pairs) => {
                let pairs = Arc::new(pairs);
                *cached = Some((Arc::clone(&pairs), Instant::now()));
                Ok(pairs)
            }
            // A failed refresh keeps the names we have: they rarely change.
            Err(e) => match cached.as_ref() {
                Some((pairs, _)) => Ok(Arc::clone(pairs)),
                None => Err(MarketDataError::Unavailable(format!("AssetPairs: {e}"))),
            },
        }
    }
}

#[async_trait]
impl DepthSource for KrakenDepth {
    fn venue(&self) -> &'static str {
        VENUE
    }

    async fn depth(&self, symbol: &str, levels: usize) -> Result<OrderBook, MarketDataError> {
        let pairs = self.pairs().await?;
        let pair = pairs.get(symbol).ok_or_else(|| {
            MarketDataError::UnknownSymbol(format!(
                "no such pair in AssetPairs ({} pairs)",
                pairs.len()
            ))
        })?;
        match public::depth(&self.client, &self.base_url, &pair.altname, symbol, levels).await {
            Ok(book) => Ok(book),
            Err(KrakenError::Rejected(m)) if m.contains("Unknown asset pair") => {
                Err(MarketDataError::UnknownSymbol(m))
            }
            Err(e) => Err(MarketDataError::Unavailable(e.to_string())),
        }
    }
}

//! Paper on real prices: with `[trading.paper] price_source = "binance" | "kraken"`, the paper
//! venues take their books from that venue's public market data instead of the random walk.
//! One `PolledFeed` serves every paper venue; its poller runs on the current runtime.

use crate::adapters::market_data::{
    DepthSource, PollerConfig, binance::BinanceDepth, kraken::KrakenDepth, spawn_poller,
};
use crate::config::{PriceSource, TradingSettings};
use actors::supervise::Readiness;
use actors::trading::paper::PolledFeed;
use actors::trading::runtime::Clock;
use std::sync::Arc;
use std::time::Duration;

/// The real feed for `price_source`, its poller started; `None` for the random walk.
pub fn real_feed(
    settings: &TradingSettings,
    readiness: &Readiness,
    clock: &Clock,
) -> anyhow::Result<Option<Arc<PolledFeed>>> {
    let m = &settings.market_data;
    let client = crate::adapters::http_client::builder()
        .timeout(Duration::from_millis(m.request_timeout_ms.max(1)))
        .user_agent(concat!("ai-service/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let source: Arc<dyn DepthSource> = match settings.paper.price_source {
        PriceSource::RandomWalk => return Ok(None),
        PriceSource::Binance => Arc::new(BinanceDepth::new(client, &m.binance_url)),
        PriceSource::Kraken => Arc::new(KrakenDepth::new(client, &m.kraken_url)),
    };
    let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let feed = Arc::new(PolledFeed::new(
        source.venue(),
        ms(m.stale_after_ms),
        ms(m.idle_after_ms),
    ));
    spawn_poller(
        Arc::clone(&feed),
        source,
        PollerConfig {
            interval: Duration::from_millis(m.poll_interval_ms.max(1)),
            max_backoff: Duration::from_millis(m.max_backoff_ms.max(1)),
            levels: settings.book_depth,
        },
        readiness.clone(),
        Arc::clone(clock),
    );
    Ok(Some(feed))
}

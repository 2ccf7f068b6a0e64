//! The loop that keeps a `PolledFeed` fed: every interval, one depth request per wanted
//! symbol, in turn (no burst against the venue's per-IP limits). A cycle with a failure backs
//! off (doubling, jittered, up to `max_backoff`); a symbol wanted for the first time wakes it
//! at once. After each cycle it reports the feed: `/health/ready` lists `market_data`
//! (optional: a stale feed makes the service `degraded`, it does not take it out of a load
//! balancer) and `market_data_book_age_seconds{venue,symbol}` shows each book's age.

use super::{DepthSource, MarketDataError};
use actors::supervise::{Backoff, Readiness, Status};
use actors::trading::paper::PolledFeed;
use actors::trading::runtime::Clock;
use std::sync::Arc;
use std::time::Duration;

/// Gauge: age of the newest book of a symbol the paper venue reads, in seconds.
pub const MARKET_DATA_BOOK_AGE_SECONDS: &str = "market_data_book_age_seconds";
/// The readiness component's name.
pub const READINESS_NAME: &str = "market_data";

pub fn describe_metrics() {
    metrics::describe_gauge!(
        MARKET_DATA_BOOK_AGE_SECONDS,
        metrics::Unit::Seconds,
        "Age of the newest public book per venue and symbol (paper on real prices); books older than trading.market_data.stale_after_ms are not traded on."
    );
}

#[derive(Debug, Clone, Copy)]
pub struct PollerConfig {
    pub interval: Duration,
    pub max_backoff: Duration,
    /// Levels per side asked for.
    pub levels: usize,
}

/// Starts the poller on the current runtime. It ends when it holds the last reference to the
/// feed (the venues using it are gone).
pub fn spawn_poller(
    feed: Arc<PolledFeed>,
    source: Arc<dyn DepthSource>,
    config: PollerConfig,
    readiness: Readiness,
    clock: Clock,
) {
    readiness.set_optional(
        READINESS_NAME,
        Status::Up,
        Some(format!(
            "{}: idle (no strategy reads a book yet)",
            source.venue()
        )),
    );
    actix_web::rt::spawn(async move {
        let backoff = Backoff::new(config.interval, config.max_backoff);
        let mut failures: u32 = 0;
        while Arc::strong_count(&feed) > 1 {
            let failed = poll_once(&feed, source.as_ref(), config.levels, &clock).await;
            report(&feed, source.venue(), &readiness, clock());
            let wait = if failed {
                failures = failures.saturating_add(1);
                backoff.delay(failures - 1)
            } else {
                failures = 0;
                config.interval
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = feed.new_symbol() => {}
            }
        }
        tracing::debug!(venue = source.venue(), "market data poller ends");
    });
}

/// One cycle; `true` when a request failed (back off).
#[tracing::instrument(skip_all, fields(venue = source.venue()))]
async fn poll_once(
    feed: &PolledFeed,
    source: &dyn DepthSource,
    levels: usize,
    clock: &Clock,
) -> bool {
    let mut failed = false;
    for symbol in feed.wanted(clock()) {
        match source.depth(&symbol, levels).await {
            Ok(book) => feed.update(book, clock()),
            Err(MarketDataError::UnknownSymbol(detail)) => {
                tracing::warn!(%symbol, %detail, "the venue does not list this symbol");
                feed.unknown_symbol(&symbol, &detail);
            }
            Err(MarketDataError::Unavailable(detail)) => {
                tracing::warn!(%symbol, %detail, "market data poll failed");
                feed.failed(&symbol, &detail);
                failed = true;
            }
        }
    }
    failed
}

fn report(feed: &PolledFeed, venue: &'static str, readiness: &Readiness, now_ms: i64) {
    let health = feed.health(now_ms);
    for (symbol, age) in &health.ages {
        if let Some(age) = age {
            // Display only; milliseconds as f64 seconds lose nothing that matters here.
            #[allow(clippy::cast_precision_loss)]
            let secs = *age as f64 / 1000.0;
            metrics::gauge!(MARKET_DATA_BOOK_AGE_SECONDS, "venue" => venue, "symbol" => symbol.clone())
                .set(secs);
        }
    }
    if health.healthy() {
        let detail = if health.ages.is_empty() {
            format!("{venue}: idle (no strategy reads a book)")
        } else {
            format!("{venue}: {} symbol(s) fresh", health.ages.len())
        };
        readiness.set_optional(READINESS_NAME, Status::Up, Some(detail));
    } else {
        readiness.set_optional(
            READINESS_NAME,
            Status::Down,
            Some(health.problems.join("; ")),
        );
    }
}

//! Metric names every real venue connector reports (Binance, Kraken), described once at start.

pub const VENUE_REQUESTS_TOTAL: &str = "venue_requests_total";
pub const VENUE_WEIGHT_USED: &str = "venue_weight_used";
pub const VENUE_CLOCK_OFFSET_MS: &str = "venue_clock_offset_ms";
pub const ORDER_LATENCY_SECONDS: &str = "order_latency_seconds";

pub fn describe() {
    metrics::describe_counter!(
        VENUE_REQUESTS_TOTAL,
        "HTTP requests to a venue, by endpoint and HTTP status (`error` when none came back)."
    );
    metrics::describe_gauge!(
        VENUE_WEIGHT_USED,
        "Request weight used in the venue's current window, as the venue last reported it."
    );
    metrics::describe_gauge!(
        VENUE_CLOCK_OFFSET_MS,
        "Venue server time minus ours (ms), applied to signed requests' timestamps."
    );
    metrics::describe_histogram!(
        ORDER_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Round trip of placing one order at a venue."
    );
}

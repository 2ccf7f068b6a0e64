//! Metric names every real venue connector reports (Binance, Kraken), described once at start.

pub const VENUE_REQUESTS_TOTAL: &str = "venue_requests_total";
pub const VENUE_WEIGHT_USED: &str = "venue_weight_used";
/// Seconds, not the issue's `venue_clock_offset_ms`: Prometheus names carry base units and
/// `promtool check metrics` (a test) rejects abbreviated ones.
pub const VENUE_CLOCK_OFFSET_SECONDS: &str = "venue_clock_offset_seconds";
pub const ORDER_LATENCY_SECONDS: &str = "order_latency_seconds";
pub const VENUE_BALANCE_DRIFT: &str = "venue_balance_drift";
pub const VENUE_BALANCE_MISMATCH_TOTAL: &str = "venue_balance_mismatch_total";

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
        VENUE_CLOCK_OFFSET_SECONDS,
        metrics::Unit::Seconds,
        "Venue server time minus ours, applied to signed requests' timestamps."
    );
    metrics::describe_gauge!(
        VENUE_BALANCE_DRIFT,
        "What a real venue holds of an asset minus what our baseline and fills imply (balance reconciliation)."
    );
    metrics::describe_counter!(
        VENUE_BALANCE_MISMATCH_TOTAL,
        "Times an asset's venue balance went beyond the reconciliation tolerance."
    );
    metrics::describe_histogram!(
        ORDER_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Round trip of placing one order at a venue."
    );
}

//! Metrics shared by every venue client (real exchanges' REST calls, public and signed).

/// Counter: requests to a venue by `venue`, `endpoint` (the API path's last segment, e.g.
/// `Depth`, `AddOrder`, `depth`) and `status`: the HTTP status code, `api_error` for an error
/// inside a 200 body (Kraken), `transport` when no response arrived (refused, timed out).
pub const VENUE_REQUESTS_TOTAL: &str = "venue_requests_total";

pub fn describe() {
    metrics::describe_counter!(
        VENUE_REQUESTS_TOTAL,
        "Requests to real venues by venue, endpoint and status (HTTP code, api_error, transport)."
    );
}

pub fn record(venue: &'static str, endpoint: &'static str, status: &str) {
    metrics::counter!(
        VENUE_REQUESTS_TOTAL,
        "venue" => venue,
        "endpoint" => endpoint,
        "status" => status.to_owned()
    )
    .increment(1);
}

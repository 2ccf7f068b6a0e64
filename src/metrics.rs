//! Prometheus metrics: the recorder, HELP texts, process metrics and the HTTP middleware.
//!
//! The recorder is process-global (the `metrics` facade allows one), so it is installed once
//! and shared by every app built in the process, which is also what tests do.

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
pub const BUILD_INFO: &str = "ai_service_build_info";
pub const READY: &str = "ai_service_ready";
pub const LOG_LINES_DROPPED_TOTAL: &str = "log_lines_dropped_total";

/// Latency buckets in seconds: 1 ms … 10 s, dense where an API on a NAS lives.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

struct Metrics {
    handle: PrometheusHandle,
    process: Mutex<metrics_process::Collector>,
}

static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();

/// Installs the recorder (first call only) and describes every metric the service emits.
/// Returns `false` when another recorder was installed first (then `/metrics` is empty).
pub fn init() -> bool {
    METRICS
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in bucketed() {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
                    .ok()?;
            }
            let handle = builder.install_recorder().ok()?;
            describe();
            let process = metrics_process::Collector::default();
            process.describe();
            Some(Metrics {
                handle,
                process: Mutex::new(process),
            })
        })
        .is_some()
}

/// Histograms exported with buckets (`_bucket` series, aggregatable across nodes in PromQL);
/// the exporter renders any other histogram as a summary, which `histogram_quantile` cannot
/// read. The dashboard's and the alerts' `_bucket` queries are checked against this list.
pub fn bucketed() -> [(&'static str, &'static [f64]); 6] {
    [
        (HTTP_REQUEST_DURATION_SECONDS, &LATENCY_BUCKETS),
        (
            actors::trading::runtime::engine::TRADING_TICK_DURATION_SECONDS,
            &LATENCY_BUCKETS,
        ),
        (
            crate::adapters::venue_metrics::ORDER_LATENCY_SECONDS,
            &LATENCY_BUCKETS,
        ),
        (
            actors::finance::categorizer::CATEGORIZATION_LATENCY_SECONDS,
            // 10 µs … 10 ms: one decision is in-memory work (target p99 ≤ 1 ms).
            &[
                0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
                0.01,
            ],
        ),
        // A job runs from milliseconds (a notification) to many minutes (a large import).
        (
            actors::jobs::JOB_DURATION_SECONDS,
            &[
                0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0,
            ],
        ),
        // One provider request: a local model on a NAS can take tens of seconds.
        (
            actors::ai::engine::LLM_REQUEST_DURATION_SECONDS,
            &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0],
        ),
    ]
}

fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by method, matched route pattern and status."
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time from receiving an HTTP request to producing its response head."
    );
    metrics::describe_histogram!(
        crate::db::DB_WRITE_TURN_WAIT_SECONDS,
        metrics::Unit::Seconds,
        "SQLite: time a writer waited for this process's turn to write (one writer at a time)."
    );
    metrics::describe_counter!(
        crate::db::DB_INLINE_READS_TOTAL,
        "SQLite hot reads tried on the request's thread, by outcome: done there, or offloaded to the pool \
         (over the ~1 ms budget, locked, or failed)."
    );
    metrics::describe_counter!(
        crate::db::DB_PIPELINED_READS_TOTAL,
        "Postgres hot reads (pages) tried pipelined on the shared lanes, by outcome: done there, or read \
         through the pool (no lane: connecting failed or resting; or the read failed)."
    );
    metrics::describe_counter!(
        crate::db::DB_INLINE_WRITES_TOTAL,
        "SQLite write transactions tried on the caller's thread, by outcome: done there, or offloaded to the \
         pool with nothing written (locked by another process, over budget, or failed)."
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; the labels carry the running version."
    );
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::describe_counter!(
        LOG_LINES_DROPPED_TOTAL,
        "Log lines dropped because the log writer's queue was full (stderr stalled or slower than the logs)."
    );
    metrics::counter!(LOG_LINES_DROPPED_TOTAL).absolute(0);
    metrics::describe_gauge!(
        READY,
        "1 when every dependency and actor was up at their last check (as /health/ready), else 0."
    );
    actors::supervise::describe_metrics();
    // The KPIs are exported from boot, not from their first event: a scrape right after a
    // start shows 0 rather than nothing (dashboards and `absent()` alerts need the series).
    // Labelled per strategy, `orders_sent_total` and `pnl_estimated` appear when the
    // strategy's engine loads (deploy, or resume at boot).
    actors::trading::runtime::engine::describe_metrics();
    crate::adapters::venue_metrics::describe();
    actors::finance::categorizer::describe_metrics();
    crate::adapters::venue_metrics::describe();
    crate::adapters::market_data::describe_metrics();
    actors::finance::bank_sync::describe_metrics();
    // Every bank provider the service has (one today).
    metrics::counter!(
        actors::finance::bank_sync::TRANSACTIONS_SYNCED_TOTAL,
        "provider" => crate::adapters::simplefin::PROVIDER
    )
    .increment(0);
}

/// The exposition text, with process metrics sampled now.
pub fn render() -> String {
    match METRICS.get() {
        Some(Some(m)) => {
            m.process
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .collect();
            let mut text = m.handle.render();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&llm_cost_family());
            text
        }
        _ => String::new(),
    }
}

/// `llm_cost_usd_total`, exported from boot: a counter with a fractional value, which the
/// `metrics` crate cannot hold (its counters are integers), so the AI engine sums
/// nano-dollars and the family is written here.
fn llm_cost_family() -> String {
    let name = actors::ai::engine::LLM_COST_USD_TOTAL;
    format!(
        "# HELP {name} US dollars spent on model calls since start (from the [ai.prices] table).\n\
         # TYPE {name} counter\n\
         {name} {}\n",
        actors::ai::engine::cost_usd_total()
    )
}

/// Drains histogram buffers periodically so memory stays flat between scrapes.
pub fn spawn_upkeep() {
    if let Some(Some(m)) = METRICS.get() {
        let handle = m.handle.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// Middleware: counts and times every request by its matched route *pattern*
/// (`/api/v1/accounts/{id}`, never the raw path, so ids cannot explode the series count),
/// writes its access line (`telemetry::access`) and returns its request id in `x-request-id`.
/// Runs inside the tracing root span.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let start = Instant::now();
    // Taken before the call: a failed call returns no request, and the request itself must
    // not be cloned while it is routed (actix panics).
    let seen = Seen::of(&req);
    let result = next.call(req).await;
    let elapsed = start.elapsed();
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    let route = seen.route.as_deref().unwrap_or("unmatched");
    HANDLES.with_borrow_mut(|h| {
        h.record(
            normalize_method(seen.method.as_str()),
            route,
            status.as_u16(),
            elapsed,
        );
    });
    let mut id_text = uuid::Uuid::encode_buffer();
    let request_id = seen
        .request_id
        .map_or("", |id| id.hyphenated().encode_lower(&mut id_text));
    crate::telemetry::access::Access {
        method: seen.method.as_str(),
        route,
        target: seen.uri.path_and_query().map_or("", |p| p.as_str()),
        status: status.as_u16(),
        elapsed,
        client_ip: seen.client_ip.as_deref().unwrap_or(""),
        user_agent: seen
            .user_agent
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
        request_id,
    }
    .log();
    let mut result = result;
    if let Ok(res) = &mut result
        && !request_id.is_empty()
        && let Ok(value) = actix_web::http::header::HeaderValue::from_str(request_id)
    {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static(crate::telemetry::REQUEST_ID_HEADER),
            value,
        );
    }
    result
}

/// What the access line and the request metrics need of a request, taken before it is served
/// (reference-counted copies: no text is copied).
struct Seen {
    method: actix_web::http::Method,
    uri: actix_web::http::Uri,
    user_agent: Option<actix_web::http::header::HeaderValue>,
    client_ip: Option<std::rc::Rc<str>>,
    request_id: Option<tracing_actix_web::RequestId>,
    route: Option<std::rc::Rc<str>>,
}

impl Seen {
    fn of(req: &ServiceRequest) -> Self {
        let route = crate::http::route_pattern(req.request());
        let extensions = req.extensions();
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .cloned(),
            client_ip: extensions
                .get::<crate::api::guard::ClientIp>()
                .map(|ip| ip.0.clone()),
            request_id: extensions.get::<tracing_actix_web::RequestId>().copied(),
            route,
        }
    }
}

thread_local! {
    static HANDLES: std::cell::RefCell<RequestHandles> = std::cell::RefCell::default();
}

/// One worker's handles to the request counter and latency histogram, per route, method and
/// status, kept after their first request.
///
/// Why: `counter!`/`histogram!` with labels build a key (owned label strings), hash it and
/// look it up in the recorder's registry on every call: ~4 % of the service's CPU on
/// `/health/live` (perf, 2026-12-04). A handle stays valid for the life of the recorder,
/// which is installed once per process ([`init`]) before any app serves, and as long as the
/// recorder never forgets idle series (no `idle_timeout` in [`init`]: a forgotten series would
/// leave a kept handle counting into nothing). Bounded like the
/// series themselves: routes are patterns (or `unmatched`), methods are normalized.
#[derive(Default)]
struct RequestHandles(std::collections::HashMap<Box<str>, Vec<RouteHandles>>);

struct RouteHandles {
    method: &'static str,
    status: u16,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl RequestHandles {
    fn record(&mut self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        if let Some(kept) = self.0.get_mut(route) {
            RouteHandles::find(kept, method, route, status).record(elapsed);
            return;
        }
        let mut kept = Vec::new();
        RouteHandles::find(&mut kept, method, route, status).record(elapsed);
        self.0.insert(route.into(), kept);
    }
}

impl RouteHandles {
    /// The handles for `method` and `status` among one route's, made on first use.
    fn find<'a>(
        kept: &'a mut Vec<Self>,
        method: &'static str,
        route: &str,
        status: u16,
    ) -> &'a Self {
        match kept
            .iter()
            .position(|h| h.method == method && h.status == status)
        {
            Some(at) => &kept[at],
            None => {
                kept.push(Self::new(method, route, status));
                &kept[kept.len() - 1]
            }
        }
    }

    fn record(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }

    fn new(method: &'static str, route: &str, status: u16) -> Self {
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        Self {
            method,
            status,
            requests: metrics::counter!(HTTP_REQUESTS_TOTAL, &labels),
            duration: metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels[..2]),
        }
    }
}

/// Unknown methods share one label value so a scanner cannot mint series.
fn normalize_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// `/metrics` handler body, shared with the OpenAPI-annotated route. `ready` is the readiness
/// registry's verdict now (the monitors' last checks), exported so an alert can tell "up but not
/// ready for minutes" from "down".
pub fn exposition(ready: bool) -> web::Bytes {
    metrics::gauge!(READY).set(if ready { 1.0 } else { 0.0 });
    metrics::counter!(LOG_LINES_DROPPED_TOTAL).absolute(crate::telemetry::dropped_log_lines());
    web::Bytes::from(render())
}

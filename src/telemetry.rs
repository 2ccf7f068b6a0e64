//! Logging and request tracing.
//!
//! Logs go to stderr (stdout is reserved for command output such as `openapi`), pretty by
//! default or one JSON object per line. Every HTTP request gets a root span from
//! tracing-actix-web carrying a UUIDv7 `request_id`; the same id is returned in the
//! `x-request-id` header and handed to actors as a [`TraceId`], so one request can be followed
//! through every actor message, job and audit row it causes.

use crate::api::guard::ClientIp;
use crate::config::{LogFormat, TelemetrySettings};
use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use actors::TraceId;
use futures::future::{Ready, ready};
use std::io::IsTerminal as _;
use std::sync::OnceLock;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Lines waiting for the log writer at most. Past this, lines are dropped and counted
/// (`log_lines_dropped_total`), so a stalled stderr (a full pipe, a slow log driver) never
/// stalls a request and the queue never grows past a few MB (~500 bytes a line).
const LOG_QUEUE_LINES: usize = 4096;

/// Lines the writer dropped because its queue was full (see [`LOG_QUEUE_LINES`]).
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the log writer's thread; dropping it writes out what is queued. Hold it until the
/// process ends (`cli::run` does).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code, reason = "held for its Drop")] Option<WorkerGuard>);

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `telemetry.log_level`.
/// Safe to call more than once (tests): later calls are no-ops.
///
/// Lines are formatted on the caller's thread and written by a thread of their own through a
/// buffer: at the default `info` every request writes an access-log line, and writing it in
/// the request cost a syscall each (5 % of the CPU of a small read, perf); under load the
/// writer now sends many lines per syscall. Colours only when stderr is a terminal: in a file
/// or a pipe the escape codes were noise (and another 6 %).
pub fn init(settings: &TelemetrySettings) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = log_writer(std::io::BufWriter::new(std::io::stderr()));
    let dropped = writer.error_counter();
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(writer),
            )
            .try_init(),
    };
    match result {
        Ok(()) => {
            let _ = DROPPED.set(dropped);
            LogGuard(Some(guard))
        }
        // Already installed (a second app in the same test process): keep the first.
        Err(_) => LogGuard(None),
    }
}

/// The writer the subscriber formats into: `sink` written by a thread of its own, lines
/// dropped (and counted) rather than waited for once [`LOG_QUEUE_LINES`] are queued.
fn log_writer<W: std::io::Write + Send + 'static>(sink: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("log-writer")
        .finish(sink)
}

/// Log lines dropped so far because the writer's queue was full.
pub fn dropped_log_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// The request id tracing-actix-web put into a request's extensions, as an actor trace id.
pub fn trace_id_in(ext: &Extensions) -> Option<TraceId> {
    ext.get::<RequestId>()
        .map(|id| TraceId::new(id.to_string()))
}

/// Like [`trace_id_in`], falling back to [`TraceId::system`] outside a traced request.
pub fn trace_id_or_system(ext: &Extensions) -> TraceId {
    trace_id_in(ext).unwrap_or_else(TraceId::system)
}

/// The request id of `req`, as an actor trace id.
pub fn trace_id_of(req: &ServiceRequest) -> Option<TraceId> {
    trace_id_in(&req.extensions())
}

/// Extractor: the current request's trace id, to put into actor messages.
#[derive(Debug, Clone)]
pub struct RequestTrace(pub TraceId);

impl FromRequest for RequestTrace {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Ok(Self(trace_id_or_system(&req.extensions()))))
    }
}

/// The root span of every request: tracing-actix-web's default fields, except
/// `http.client_ip`, which is the client as rate limits and the audit log see it
/// (`security.trusted_proxies`) instead of whatever `X-Forwarded-For` a client sends.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = crate::http::route_pattern(request.request());
        let route = route.as_deref().unwrap_or("default");
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let user_agent = request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let client_ip = crate::api::guard::client_ip_of(request);
        // Only what tells requests apart on one node: tracing-actix-web's scheme, host, HTTP
        // version and OpenTelemetry names were the same on every line, and every field is
        // formatted once per request at `info` (the default).
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %request.method().as_str(),
            http.route = %route,
            http.client_ip = %client_ip,
            http.user_agent = %user_agent,
            http.target = %request.uri().path_and_query().map_or("", |p| p.as_str()),
            http.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        );
        // Worked out once per request: the guard, rate limits and the audit log read it here.
        request.extensions_mut().insert(ClientIp(client_ip));
        span
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::mpsc;

    /// stderr stalled (a full pipe): every write blocks until the test lets it go.
    struct Stalled(mpsc::Receiver<()>);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stderr_drops_and_counts_lines_instead_of_blocking_the_logger() {
        let (release, stalled) = mpsc::channel();
        let (mut writer, guard) = log_writer(Stalled(stalled));
        let lines = LOG_QUEUE_LINES * 2;
        // Were the writer to wait for the sink, this loop would never end (the test would
        // hang): the sink answers nothing until `release` below.
        for i in 0..lines {
            writer
                .write_all(format!("line {i}\n").as_bytes())
                .expect("a lossy writer never fails a write");
        }
        let dropped = writer.error_counter().dropped_lines();
        assert!(
            dropped >= lines - LOG_QUEUE_LINES - 1,
            "{dropped} of {lines} lines dropped with {LOG_QUEUE_LINES} queued at most"
        );
        drop(release);
        drop(guard);
    }
}

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
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub mod access;
mod batch;

/// Bytes waiting for the log writer at most (~4000 lines of ~500 bytes). Past this, lines are
/// dropped and counted (`log_lines_dropped_total`), so a stalled stderr (a full pipe, a slow
/// log driver) never stalls a request and the queue never grows past a few MB.
const LOG_QUEUE_BYTES: usize = 2 * 1024 * 1024;

/// Keeps the log writer's thread; dropping it writes out what is queued. Hold it until the
/// process ends (`cli::run` does).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code, reason = "held for its Drop")] Option<batch::BatchGuard>);

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `telemetry.log_level`.
/// Safe to call more than once (tests): later calls are no-ops.
///
/// Lines are formatted on the caller's thread and written in batches by a thread of their
/// own (`telemetry::batch`): at the default `info` every request writes an access-log line,
/// and writing it in the request cost a syscall each (5 % of the CPU of a small read, perf);
/// handing each line to a thread that woke for it cost another 9 %. Colours only when stderr
/// is a terminal: in a file or a pipe the escape codes were noise (and another 6 %).
pub fn init(settings: &TelemetrySettings) -> LogGuard {
    if tracing::dispatcher::has_been_set() {
        // A second app in the same test process: keep the first subscriber, start no writer.
        return LogGuard(None);
    }
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Unbuffered: each batch is already one buffer, written with one call.
    match batch::spawn(std::io::stderr(), LOG_QUEUE_BYTES, "log-writer") {
        Ok((writer, guard)) => {
            if install(settings, filter, writer.clone()) {
                access::install(access::Sink {
                    writer,
                    format: settings.log_format,
                });
                LogGuard(Some(guard))
            } else {
                // Installed by another thread meanwhile: keep that one.
                LogGuard(None)
            }
        }
        // No thread for the writer: lines are written where they are made, as a last resort.
        Err(e) => {
            eprintln!("log writer thread not started ({e}); logging to stderr directly");
            install(settings, filter, std::io::stderr);
            LogGuard(None)
        }
    }
}

/// The global subscriber writing to `writer`; false if one was installed already.
fn install<W>(settings: &TelemetrySettings, filter: EnvFilter, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
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
    result.is_ok()
}

/// Log lines dropped so far because the writer's queue was full.
pub fn dropped_log_lines() -> u64 {
    access::writer().map_or(0, batch::BatchWriter::dropped_lines)
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

/// The root span of every request: only its request id, which every line logged inside the
/// request carries (`HTTP request{request_id=…}:`) and which the request's access line
/// (`telemetry::access`) shares with its method, route, target, status, client IP and user
/// agent.
///
/// Why so little: the fmt layer formats a span's fields into a string when it opens and
/// again when one is recorded; with the six request fields and the status here, that and
/// the access event were ~27 % of the CPU of a small read at the default `info` (perf,
/// 2026-12-04). The client IP is worked out here, once per request, as rate limits and the
/// audit log see it (`security.trusted_proxies`).
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // Worked out once per request: the guard, rate limits, the audit log and the access
        // line read it here.
        let client_ip = crate::api::guard::client_ip_of(request);
        request.extensions_mut().insert(ClientIp(client_ip.into()));
        let request_id = request.extensions().get::<RequestId>().copied();
        match request_id {
            Some(id) => tracing::info_span!(access::SPAN_NAME, request_id = %id),
            None => tracing::info_span!(access::SPAN_NAME),
        }
    }

    /// Nothing to record: the status is on the access line, and an internal error logs its
    /// own cause chain (`ApiError::error_response`).
    fn on_request_end<B: MessageBody>(
        _span: Span,
        _outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
    }
}

//! Logging and request tracing.
//!
//! Logs go to stderr (stdout is reserved for command output such as `openapi`), pretty by
//! default or one JSON object per line. Every HTTP request gets a root span from
//! tracing-actix-web carrying a UUIDv7 `request_id`; the same id is returned in the
//! `x-request-id` header and handed to actors as a [`TraceId`], so one request can be followed
//! through every actor message, job and audit row it causes.

use crate::config::{LogFormat, TelemetrySettings};
use actix_web::dev::{Extensions, ServiceRequest};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use actors::TraceId;
use futures::future::{Ready, ready};
use tracing_actix_web::RequestId;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `telemetry.log_level`.
/// Safe to call more than once (tests): later calls are no-ops.
pub fn init(settings: &TelemetrySettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
    // Already installed (a second app in the same test process): keep the first.
    drop(result);
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

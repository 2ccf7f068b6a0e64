//! Logging and request tracing.
//!
//! Logs go to stderr (stdout is reserved for command output such as `openapi`), pretty by
//! default or one JSON object per line. Every HTTP request gets a root span from
//! tracing-actix-web carrying a UUIDv7 `request_id`; the same id is returned in the
//! `x-request-id` header and handed to actors as a [`TraceId`], so one request can be followed
//! through every actor message, job and audit row it causes.

use crate::config::{LogFormat, TelemetrySettings};
use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use actors::TraceId;
use futures::future::{Ready, ready};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
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

/// The root span of every request: tracing-actix-web's default fields, except
/// `http.client_ip`, which is the client as rate limits and the audit log see it
/// (`security.trusted_proxies`) instead of whatever `X-Forwarded-For` a client sends.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // Before `connection_info()`, which holds the extensions borrowed.
        let route = crate::http::route_pattern(request.request());
        let route = route.as_deref().unwrap_or("default");
        let info = request.connection_info();
        let method = request.method().as_str();
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
        tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.flavor = ?request.version(),
            http.scheme = %info.scheme(),
            http.host = %info.host(),
            http.client_ip = %crate::api::guard::client_ip_of(request),
            http.user_agent = %user_agent,
            http.target = %request.uri().path_and_query().map_or("", |p| p.as_str()),
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

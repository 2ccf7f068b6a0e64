//! Cross-cutting HTTP middleware: security headers, CORS, and the request audit.

use crate::api::AppState;
use crate::api::guard::ClientIp;
use crate::audit::{Entry, Refusal, truncate_target};
use crate::auth::Principal;
use crate::config::SecuritySettings;
use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{HttpMessage, web};

/// Swagger UI needs inline styles and data: images; everything else is same-origin only.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                       img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn security_headers(s: &SecuritySettings) -> DefaultHeaders {
    let mut h = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", CSP))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if s.hsts {
        h = h.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    h
}

/// `None` when no origins are configured: same-origin browsers (Swagger UI) need no CORS,
/// and a CORS layer with no allowed origins would reject their `Origin` header.
pub fn cors(s: &SecuritySettings) -> Option<Cors> {
    if s.cors_origins.is_empty() {
        return None;
    }
    let mut c = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers(["authorization", "content-type", "x-api-key"])
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(600);
    for origin in &s.cors_origins {
        c = c.allowed_origin(origin);
    }
    Some(c)
}

/// Marks a request whose handler wrote its own, more specific audit event.
#[derive(Debug, Clone, Copy)]
pub struct Audited;

/// Every authenticated mutating request gets an audit row (unless its handler wrote a richer
/// one), refused ones included. Anonymous ones are summed per IP and window
/// ([`crate::audit::Audit::anonymous_refusal`]): the port is reachable by anyone.
pub async fn audit_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let res = next.call(req).await?;
    if !mutating {
        return Ok(res);
    }
    let r = res.request();
    if r.extensions().get::<Audited>().is_some() {
        return Ok(res);
    }
    if let Some(state) = r.app_data::<web::Data<AppState>>() {
        let ext = r.extensions();
        let trace = crate::telemetry::trace_id_or_system(&ext);
        let status = res.status();
        let outcome = match status.as_u16() {
            401 | 403 | 429 => "denied",
            s if s >= 500 => "error",
            s if s >= 400 => "rejected",
            _ => "success",
        };
        let action = format!(
            "{} {}",
            r.method(),
            r.match_pattern().unwrap_or_else(|| "unmatched".to_owned())
        );
        let client_ip = ext.get::<ClientIp>().map(|c| c.0.clone());
        match ext.get::<Principal>() {
            Some(p) => state.audit.record(Entry {
                trace_id: &trace,
                principal: p.label(),
                action: &action,
                target: truncate_target(r.path()),
                outcome,
                client_ip,
                detail: Some(format!("status {}", status.as_u16())),
            }),
            None => state.audit.anonymous_refusal(Refusal {
                trace_id: &trace,
                action: &action,
                target: r.path(),
                outcome,
                status: status.as_u16(),
                client_ip,
            }),
        }
    }
    Ok(res)
}

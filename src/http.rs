//! Cross-cutting HTTP middleware: security headers, CORS, the request audit, and the
//! request's route pattern, matched once.

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
use actix_web::{HttpMessage, HttpRequest, web};
use std::rc::Rc;

/// The route pattern a request matched (`/v1/jobs/{id}`), kept in its extensions.
#[derive(Debug, Clone)]
struct MatchedRoute(Option<Rc<str>>);

/// The route pattern of `req` (`None`: no route), matched the first time it is asked for and
/// kept for the rest of the request. Not to be called while the request's extensions are
/// borrowed (it may insert into them).
///
/// Why kept: actix matches the path against the route table's patterns (regexes) on every
/// `match_pattern` call, and the root span, the guard and the metrics each need the pattern:
/// 3.4 % of the service's CPU on the transactions page (perf, 2026-12-04).
pub fn route_pattern(req: &HttpRequest) -> Option<Rc<str>> {
    if let Some(MatchedRoute(route)) = req.extensions().get::<MatchedRoute>() {
        return route.clone();
    }
    let route = match req.app_data::<StaticRoutes>() {
        Some(known) => known.pattern(req),
        None => req.match_pattern().map(Rc::from),
    };
    req.extensions_mut().insert(MatchedRoute(route.clone()));
    route
}

/// The static routes one worker's app has matched: path → pattern, for paths that are
/// themselves a route's pattern (`/v1/financial/transactions`, not `/v1/jobs/0193…`), so the
/// map holds at most one entry per static route.
///
/// Why: `match_pattern` tries the route table's patterns in order, running the regex of
/// every dynamic one registered before the match, on every request: 4.9 % of the service's
/// CPU on the transactions page even once per request (perf, 2026-12-04). The answer for a
/// path is a function of the path and the app's route table only, so keeping it per app
/// (one per worker: `App::app_data` in the app factory) gives the same answer. Paths with
/// parameters and unmatched paths are matched every time (unbounded; not kept).
#[derive(Default)]
pub struct StaticRoutes(std::cell::RefCell<std::collections::HashMap<Box<str>, Rc<str>>>);

impl StaticRoutes {
    fn pattern(&self, req: &HttpRequest) -> Option<Rc<str>> {
        let path = req.path();
        if let Some(route) = self.0.borrow().get(path) {
            return Some(route.clone());
        }
        let route: Rc<str> = req.match_pattern()?.into();
        if *route == *path {
            self.0.borrow_mut().insert(path.into(), route.clone());
        }
        Some(route)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

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
        // Before `extensions()` is borrowed: the pattern may be kept in them.
        let action = format!(
            "{} {}",
            r.method(),
            route_pattern(r).as_deref().unwrap_or("unmatched")
        );
        let ext = r.extensions();
        let trace = crate::telemetry::trace_id_or_system(&ext);
        let status = res.status();
        let outcome = match status.as_u16() {
            401 | 403 | 429 => "denied",
            s if s >= 500 => "error",
            s if s >= 400 => "rejected",
            _ => "success",
        };
        let client_ip = ext.get::<ClientIp>().map(|c| c.0.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, HttpResponse, test};

    /// Kept answers are the ones `match_pattern` gives, whatever the order of the routes
    /// (a dynamic route registered first takes a static-looking path); only static hits kept.
    #[actix_web::test]
    async fn static_routes_answer_as_match_pattern_and_keep_only_static_paths() {
        async fn echo(req: HttpRequest) -> HttpResponse {
            let kept = route_pattern(&req);
            let direct = req.match_pattern();
            let size = req.app_data::<StaticRoutes>().map_or(0, StaticRoutes::len);
            HttpResponse::Ok().body(format!("{kept:?}|{direct:?}|{size}"))
        }
        let app = test::init_service(
            App::new()
                .app_data(StaticRoutes::default())
                .route("/v1/a/{id}", web::get().to(echo))
                .route("/v1/a/stats", web::get().to(echo))
                .route("/v1/jobs", web::get().to(echo))
                .route("/v1/jobs/{id}", web::get().to(echo))
                .default_service(web::to(echo)),
        )
        .await;
        let mut answers = Vec::new();
        for path in [
            "/v1/jobs",
            "/v1/jobs",
            "/v1/a/stats",
            "/v1/jobs/7",
            "/v1/jobs/8",
            "/nope",
        ] {
            let req = test::TestRequest::get().uri(path).to_request();
            let body = test::call_and_read_body(&app, req).await;
            answers.push(String::from_utf8(body.to_vec()).expect("utf-8"));
        }
        assert_eq!(
            answers,
            [
                r#"Some("/v1/jobs")|Some("/v1/jobs")|1"#,
                r#"Some("/v1/jobs")|Some("/v1/jobs")|1"#,
                // `/v1/a/{id}` is first and takes it: not a static hit, not kept.
                r#"Some("/v1/a/{id}")|Some("/v1/a/{id}")|1"#,
                r#"Some("/v1/jobs/{id}")|Some("/v1/jobs/{id}")|1"#,
                r#"Some("/v1/jobs/{id}")|Some("/v1/jobs/{id}")|1"#,
                "None|None|1",
            ]
        );
    }
}

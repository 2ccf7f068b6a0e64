//! The guard middleware: rate limits, authentication and the access table, per request.
//! It answers with problem responses itself (never `Err`), so outer middleware such as the
//! security headers still apply to refusals. The decisions are `auth`'s (policy, limits,
//! credentials); turning them into HTTP answers happens here, at the edge.

use super::AppState;
use super::client_ip::TrustedProxies;
use crate::auth::AuthError;
use crate::auth::policy::{Access, Decision, decide};
use crate::auth::tokens::looks_like_jwt;
use crate::error::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use std::time::Duration;

/// The caller's IP as the service sees it (after `security.trusted_proxies`); rate limits and
/// the audit log use it.
#[derive(Debug, Clone)]
pub struct ClientIp(pub std::rc::Rc<str>);

pub const LOGIN_PATH: &str = "/v1/auth/login";

/// Header names made once: looked up by `&str`, a header outside the standard set is parsed
/// into a new `HeaderName`, an allocation on every request.
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client IP of a request before the guard ran (the request's root span): the same rule,
/// with the proxies from the app state (none outside the app: the TCP peer).
pub fn client_ip_of(req: &ServiceRequest) -> String {
    match req.app_data::<web::Data<AppState>>() {
        Some(state) => client_ip(req, &state.trusted_proxies),
        None => client_ip(req, &TrustedProxies::default()),
    }
}

fn client_ip(req: &ServiceRequest, proxies: &TrustedProxies) -> String {
    let forwarded_for = req
        .headers()
        .get_all(X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok());
    proxies
        .client_ip(req.peer_addr().map(|a| a.ip()), forwarded_for)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

fn retry_after(wait: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after_secs: wait.as_secs().max(1),
    }
}

/// The credential presented, if any: `Authorization: Bearer …` or `X-Api-Key`, borrowed
/// from the request (no copy of a token per request).
fn credential(req: &ServiceRequest) -> Option<&str> {
    let headers = req.headers();
    if let Some(v) = headers.get(X_API_KEY).and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    // The root span found it already (`telemetry::RootSpan`), by the same rule.
    let known = req.extensions().get::<ClientIp>().map(|c| c.0.clone());
    let ip = match known {
        Some(ip) => ip,
        None => {
            let ip: std::rc::Rc<str> = client_ip(&req, &state.trusted_proxies).into();
            req.extensions_mut().insert(ClientIp(ip.clone()));
            ip
        }
    };
    let pattern = crate::http::route_pattern(req.request());
    match check(&req, &state, &ip, pattern.as_deref()).await {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(response) => Ok(req.into_response(response).map_into_right_body()),
    }
}

/// Routes polled by monitors and scrapers. They get their own per-IP bucket, so a health
/// probe polling every second never eats the API's budget (a monitor polling `/health/ready`
/// used to get 429 after ~600 requests and then saw readiness answer 429).
pub const PROBE_PATHS: [&str; 3] = ["/health/live", "/health/ready", "/metrics"];

/// Which bucket a request is charged to:
/// - probes (`PROBE_PATHS`): the probe bucket of their IP, nothing else;
/// - requests that authenticate: their credential's bucket only, so a busy client behind one
///   IP is limited by `per_credential_per_minute`, not by the (smaller) per-IP figure;
/// - everything anonymous, and every credential that fails: the per-IP bucket. An IP that is
///   over its limit gets 429 before its credentials are even looked at.
async fn check(
    req: &ServiceRequest,
    state: &AppState,
    ip: &str,
    pattern: Option<&str>,
) -> Result<(), actix_web::HttpResponse> {
    let refuse = |e: ApiError| e.error_response();
    let wait = |w: Duration| refuse(retry_after(w));
    let per_ip = || state.limits.check_ip(ip);
    if pattern.is_some_and(|p| PROBE_PATHS.contains(&p)) {
        state
            .limits
            .check_probe(ip)
            .map_err(|w| refuse(retry_after(w)))?;
    }
    let access = match decide(req.method().as_str(), pattern) {
        Decision::Allow(a) => a,
        Decision::NoRoute => return per_ip().map_err(wait),
        Decision::MethodNotAllowed => {
            per_ip().map_err(wait)?;
            return Err(crate::api::problems::method_not_allowed(
                req.method(),
                req.path(),
                pattern,
            ));
        }
        Decision::Undeclared => {
            tracing::error!(route = ?pattern, method = %req.method(), "route has no access declaration; refusing");
            return Err(refuse(ApiError::Forbidden(
                "this operation has no access declaration".to_owned(),
            )));
        }
    };
    let needed = match access {
        Access::Public if pattern.is_some_and(|p| PROBE_PATHS.contains(&p)) => return Ok(()),
        Access::Public => {
            per_ip().map_err(wait)?;
            if pattern == Some(LOGIN_PATH) {
                state
                    .limits
                    .check_login(ip)
                    .map_err(|w| refuse(retry_after(w)))?;
            }
            return Ok(());
        }
        Access::Role(needed) => needed,
    };
    let Some(cred) = credential(req) else {
        per_ip().map_err(wait)?;
        return Err(refuse(ApiError::Unauthorized(
            "send `Authorization: Bearer <token>` or `X-Api-Key`".to_owned(),
        )));
    };
    // API keys cost a database lookup before they are known to be good; an IP over its
    // limit (e.g. guessing keys) gets no more lookups until its wait is over. JWTs are
    // checked by signature first, which costs no I/O.
    if !looks_like_jwt(cred)
        && let Some(wait) = state.limits.ip_blocked(ip)
    {
        return Err(refuse(retry_after(wait)));
    }
    let db = state.db.get();
    let principal = match state.auth.authenticate(db.as_ref(), cred).await {
        Ok(p) => p,
        Err(e) => {
            // A failed credential is an anonymous request: it pays from the IP's bucket.
            if matches!(e, AuthError::BadCredential(_)) {
                per_ip().map_err(wait)?;
            }
            return Err(refuse(e.into()));
        }
    };
    state
        .limits
        .check_credential(&principal.limit_key())
        .map_err(|w| refuse(retry_after(w)))?;
    if principal.role < needed {
        return Err(refuse(ApiError::Forbidden(format!(
            "requires role `{}`; this credential has `{}`",
            needed.as_str(),
            principal.role.as_str()
        ))));
    }
    req.extensions_mut().insert(principal);
    Ok(())
}

//! Service-level endpoints: Prometheus metrics and the root redirect.

use super::AppState;
use crate::config::Settings;
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Who may read `/metrics`: it names strategies and shows their PnL.
#[derive(Clone)]
pub enum MetricsAccess {
    /// Bound to loopback and no token configured: only local processes can connect.
    Open,
    /// Scrapers send `Authorization: Bearer <metrics.bearer_token>`.
    Token(SecretString),
    /// Bound beyond loopback without a token: refused (403) rather than shown to anyone who
    /// can reach the port.
    Closed,
}

impl MetricsAccess {
    pub fn from_settings(s: &Settings) -> Self {
        let token = s.metrics.bearer_token.expose().trim();
        if s.metrics.bearer_token.is_set() && !crate::auth::keys::is_placeholder(token) {
            Self::Token(SecretString::from(token.to_owned()))
        } else if crate::auth::keys::is_loopback(&s.server.host) {
            Self::Open
        } else {
            Self::Closed
        }
    }

    fn check(&self, req: &HttpRequest) -> Result<(), ApiError> {
        match self {
            Self::Open => Ok(()),
            Self::Closed => Err(ApiError::Forbidden(
                "metrics are not served beyond loopback without a token; set \
                 APP__METRICS__BEARER_TOKEN and configure the scraper with it"
                    .to_owned(),
            )),
            Self::Token(want) => {
                let got = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split_once(' '))
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, token)| token.trim())
                    .unwrap_or_default();
                let ok: bool = got.as_bytes().ct_eq(want.expose_secret().as_bytes()).into();
                if ok {
                    Ok(())
                } else {
                    Err(ApiError::Unauthorized(
                        "send `Authorization: Bearer <metrics.bearer_token>`".to_owned(),
                    ))
                }
            }
        }
    }
}

/// Prometheus metrics in the text exposition format (process, HTTP, actors, trading).
/// Beyond loopback only with the metrics bearer token (`metrics.bearer_token`).
#[utoipa::path(
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "A metrics token is configured and the request does not carry it"),
        (status = 403, description = "Bound beyond loopback and no metrics token configured"),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.metrics_access.check(&req)?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(crate::metrics::exposition(state.readiness.report().ready)))
}

/// Sends browsers to the interactive API docs.
#[utoipa::path(tag = "meta", security(()), responses((status = 307, description = "Redirect to `/docs/`")))]
#[get("/")]
pub async fn root() -> HttpResponse {
    HttpResponse::TemporaryRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// `/docs` without the slash: Swagger UI lives under `/docs/`.
/// The OpenAPI document as JSON, built and serialized on the first request and shared by
/// every worker. Not at startup: generating it runs the schema code of every route, spread
/// all over the binary's `.text`, and each page it touches stays resident (idle RSS; see
/// docs/decisions.md "Footprint, second pass").
#[derive(Default)]
pub struct SpecJson(std::sync::OnceLock<Option<actix_web::web::Bytes>>);

/// `GET /openapi.json`: the spec Swagger UI renders.
pub async fn openapi_json(spec: actix_web::web::Data<SpecJson>) -> HttpResponse {
    let json = spec.0.get_or_init(|| match super::openapi().to_json() {
        Ok(json) => Some(json.into()),
        Err(e) => {
            tracing::error!(error = %e, "serializing the OpenAPI document failed");
            None
        }
    });
    match json {
        Some(json) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json.clone()),
        None => HttpResponse::InternalServerError().finish(),
    }
}

pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

//! Service-level endpoints: Prometheus metrics and the root redirect.

use actix_web::http::header;
use actix_web::{HttpResponse, get};

/// Prometheus metrics in the text exposition format (process, HTTP, actors).
#[utoipa::path(
    tag = "meta",
    security(()),
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4", body = String))
)]
#[get("/metrics")]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(crate::metrics::exposition())
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
/// The OpenAPI document as JSON, serialized once at startup.
pub struct SpecJson(pub String);

/// `GET /openapi.json`: the spec Swagger UI renders.
pub async fn openapi_json(spec: actix_web::web::Data<SpecJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(spec.0.clone())
}

pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

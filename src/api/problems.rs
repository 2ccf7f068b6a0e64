//! Problem details for responses our handlers did not build: unknown routes, wrong methods,
//! extractor failures. Installed as the app's default error handler and default service.

use crate::error::{ApiError, ErrorCode, PROBLEM_CONTENT_TYPE, Problem, problem_for_status};
use actix_web::ResponseError;
use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, web};

/// Rewrites any 4xx/5xx that is not already a problem (or deliberate JSON) into one, keeping its headers
/// (`Allow`, `Retry-After`, …). Bodies of 5xx are replaced by an opaque problem.
pub fn problemize<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Problems pass through, and so does JSON: only our handlers produce JSON, deliberately
    // (the 503 readiness report is the one such body; it names what is down).
    let already = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(PROBLEM_CONTENT_TYPE.as_bytes()) || v.starts_with(b"application/json")
    });
    if already {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    if let Some(err) = old.error() {
        // The framework's own message (e.g. a bad path segment) is useful in the log.
        tracing::debug!(status = status.as_u16(), error = %err, "framework error response");
    }
    let mut new = problem_for_status(status).into_response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

/// Default service: no route matched. Routes are method-guarded, so a known path with the
/// wrong method also lands here; it gets 405, not 404.
pub async fn not_found(req: HttpRequest) -> actix_web::HttpResponse {
    if req.resource_map().has_resource(req.path()) {
        return method_not_allowed(req.method(), req.path(), req.match_pattern().as_deref());
    }
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}

/// 405 with the `Allow` header RFC 9110 requires: the methods the access table declares for
/// the route `pattern`. Both places that answer 405 (the guard, the default service) use it.
pub fn method_not_allowed(
    method: &Method,
    path: &str,
    pattern: Option<&str>,
) -> actix_web::HttpResponse {
    let allowed: Vec<&str> = pattern.map_or_else(Vec::new, |p| {
        crate::auth::policy::RULES
            .iter()
            .filter(|r| r.path == p)
            .map(|r| r.method)
            .collect()
    });
    let mut res = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!(
            "{method} is not supported on {path}; allowed: {}",
            allowed.join(", ")
        ),
    )
    .into_response();
    if let Ok(value) = header::HeaderValue::from_str(&allowed.join(", ")) {
        res.headers_mut().insert(header::ALLOW, value);
    }
    res
}

/// Path extractor failures name what was wrong. (Query strings are read by
/// [`super::query::ApiQuery`], which names the parameter.)
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("path parameter: {err}")).into()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, test};

    #[actix_web::test]
    async fn the_default_service_answers_405_with_allow() {
        let app = test::init_service(
            App::new()
                .route("/v1/jobs", web::get().to(|| async { "jobs" }))
                .default_service(web::to(not_found)),
        )
        .await;
        let res =
            test::call_service(&app, test::TestRequest::post().uri("/v1/jobs").to_request()).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        let allow = res
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok());
        assert_eq!(allow, Some("GET"));
        let res = test::call_service(
            &app,
            test::TestRequest::get().uri("/v1/nothing").to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.headers().get(header::ALLOW).is_none());
    }
}

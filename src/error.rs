//! API errors as RFC 9457 problem details.
//!
//! [`ErrorCode`] is the stable, machine-readable half of every error body and is part of the
//! public API: codes are only ever added, never renamed. [`ApiError`] is what handlers return;
//! [`problem_for_status`] turns responses produced outside our handlers (unknown route, wrong
//! method, framework extractor errors) into the same shape, so *every* 4xx/5xx is a problem.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Stable error codes. Clients branch on these, never on `title` or `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed in a way no more specific code covers.
    BadRequest,
    /// The body is not valid JSON, or not the JSON shape the endpoint expects.
    MalformedJson,
    /// The body parsed but some fields hold values that are not allowed (see `errors`).
    ValidationFailed,
    /// The request has no valid credentials.
    Unauthorized,
    /// The credentials are valid but lack the role the route requires.
    Forbidden,
    /// No such route or resource.
    NotFound,
    /// The route exists but not for this HTTP method.
    MethodNotAllowed,
    /// The request conflicts with the current state (duplicate, stale version, …).
    Conflict,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The body's content type is not accepted here.
    UnsupportedMediaType,
    /// Too many requests; retry after the time in `Retry-After`.
    RateLimited,
    /// A dependency (database, …) is not available right now; retry later.
    ServiceUnavailable,
    /// The server is at its bound for this kind of work (password hashing); retry after the
    /// time in `Retry-After`.
    Overloaded,
    /// Something failed on our side. The body says nothing more; the log has the cause.
    Internal,
    /// An AI endpoint was called but `ai.provider` is `none`.
    AiNotConfigured,
    /// This month's AI budget (`ai.monthly_budget_usd`) is spent; calls resume next month.
    AiBudgetExhausted,
    /// The AI provider is failing (circuit breaker open, rate limited, down, quota); retry later.
    AiUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::MalformedJson => "malformed_json",
            Self::ValidationFailed => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal",
            Self::AiNotConfigured => "ai_not_configured",
            Self::AiBudgetExhausted => "ai_budget_exhausted",
            Self::AiUnavailable => "ai_unavailable",
        }
    }

    /// The code a bare status maps to when nothing more specific is known.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::ValidationFailed,
            429 => Self::RateLimited,
            503 => Self::ServiceUnavailable,
            400..=499 => Self::BadRequest,
            _ => Self::Internal,
        }
    }
}

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `amount` or `legs[1].price`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, served as `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:ai-service:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "1 field is invalid",
    "code": "validation_failed",
    "errors": [{"field": "amount", "message": "must be a decimal string such as \"12.34\""}]
}))]
pub struct Problem {
    /// `urn:ai-service:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    /// Field-level problems, when the input is to blame.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:ai-service:problem:{}", code.as_str()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
            ))
            .json(self)
    }
}

/// The problem for a status with no better description (used for framework responses).
pub fn problem_for_status(status: StatusCode) -> Problem {
    let code = ErrorCode::for_status(status);
    let detail = match code {
        ErrorCode::NotFound => "no such route or resource".to_owned(),
        ErrorCode::MethodNotAllowed => "this route does not accept that HTTP method".to_owned(),
        ErrorCode::Internal => "internal error; the server log has the details".to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    Problem::new(status, code, detail)
}

/// What handlers return. Each variant maps to one status and code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {detail}")]
    MalformedJson {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("rate limited; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("overloaded: {detail}")]
    Overloaded {
        detail: String,
        retry_after_secs: u64,
    },
    /// The AI core cannot answer (not configured, out of budget, provider failing): 503 with
    /// one of the `ai_*` codes.
    #[error("AI unavailable: {detail}")]
    Ai { code: ErrorCode, detail: String },
    /// Anything unexpected. Its chain is logged; the client sees an opaque 500.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedJson { .. } => ErrorCode::MalformedJson,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Overloaded { .. } => ErrorCode::Overloaded,
            Self::Ai { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let code = self.code();
        match self {
            Self::MalformedJson { detail, errors } => {
                Problem::new(status, code, detail.clone()).with_errors(errors.clone())
            }
            Self::Validation(errors) => {
                let n = errors.len();
                let detail = if n == 1 {
                    "1 field is invalid".to_owned()
                } else {
                    format!("{n} fields are invalid")
                };
                Problem::new(status, code, detail).with_errors(errors.clone())
            }
            Self::BadRequest(d)
            | Self::PayloadTooLarge(d)
            | Self::UnsupportedMediaType(d)
            | Self::NotFound(d)
            | Self::Unauthorized(d)
            | Self::Forbidden(d)
            | Self::Conflict(d)
            | Self::Unavailable(d)
            | Self::Overloaded { detail: d, .. }
            | Self::Ai { detail: d, .. } => Problem::new(status, code, d.clone()),
            Self::RateLimited { retry_after_secs } => Problem::new(
                status,
                code,
                format!("too many requests; retry in {retry_after_secs} s"),
            ),
            Self::Internal(_) => problem_for_status(status),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson { .. } | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) | Self::Overloaded { .. } | Self::Ai { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            // `{:#}` prints the whole context chain on one line.
            tracing::error!(
                error = format!("{cause:#}"),
                "request failed with an internal error"
            );
        }
        let mut res = self.problem().into_response();
        match self {
            Self::RateLimited { retry_after_secs }
            | Self::Overloaded {
                retry_after_secs, ..
            } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Self::Unauthorized(_) => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        res
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Query(sqlx::Error::PoolTimedOut) => {
                Self::Unavailable("the database is busy or unreachable; retry shortly".to_owned())
            }
            // Handlers name what exists when they know; this is the fallback.
            crate::db::DbError::Conflict { .. } => {
                Self::Conflict("it conflicts with something that already exists".to_owned())
            }
            other => Self::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_reveal_nothing() {
        let err = ApiError::Internal(anyhow::anyhow!("password=hunter2 at db.internal:5432"));
        let body = serde_json::to_string(&err.problem()).unwrap_or_default();
        assert!(
            !body.contains("hunter2") && !body.contains("db.internal"),
            "{body}"
        );
        assert!(body.contains("\"code\":\"internal\""));
    }

    #[test]
    fn codes_serialize_as_their_stable_names() {
        for code in [
            ErrorCode::NotFound,
            ErrorCode::MalformedJson,
            ErrorCode::ServiceUnavailable,
        ] {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::from(code.as_str()))
            );
        }
    }
}

//! `ApiJson<T>`: the JSON body extractor every endpoint uses.
//!
//! Unlike `web::Json`, its errors name the offending field (`legs[1].price`) via
//! `serde_path_to_error` and come back as problem details: 400 `malformed_json` when the body
//! is not JSON at all, 422 `validation_failed` when it is JSON of the wrong shape, 413
//! `payload_too_large` naming the limit when it is longer than `server.json_limit_bytes`.

use crate::error::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// The body limit as configured (`server.json_limit_bytes`), for the 413's message: actix's
/// `PayloadConfig`, which enforces it, does not tell its limit.
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// Registers the JSON body limit: enforced by `PayloadConfig` (read by [`ApiJson`]) and named
/// by [`JsonLimit`] in the 413 problem. actix's own `web::Json` gets the same limit and errors
/// that read like [`ApiJson`]'s, should a handler ever take it (the Telegram webhook did, and
/// answered an over-long body with 400 `malformed_json` past actix's default 2 MB).
pub fn body_limit(limit: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::PayloadConfig::new(limit))
            .app_data(JsonLimit(limit))
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(|err, _| json_config_error(err).into()),
            );
    }
}

fn json_config_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => too_large(Some(limit)),
        E::ContentType => ApiError::UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ),
        err => ApiError::MalformedJson {
            detail: format!("the body is not valid JSON: {err}"),
            errors: Vec::new(),
        },
    }
}

/// The 413 problem for a JSON body over `limit` (when known).
pub fn too_large(limit: Option<usize>) -> ApiError {
    ApiError::PayloadTooLarge(match limit {
        Some(n) => {
            format!("the JSON body exceeds the limit of {n} bytes (server.json_limit_bytes)")
        }
        None => "the JSON body exceeds the configured limit (server.json_limit_bytes)".to_owned(),
    })
}

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        // The body limit comes from the app-wide `PayloadConfig` (see [`body_limit`]).
        let body = web::Bytes::from_request(req, payload);
        let limit = req.app_data::<JsonLimit>().map(|l| l.0);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as JSON with `Content-Type: application/json`".to_owned(),
                ));
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    too_large(limit)
                } else {
                    ApiError::BadRequest(format!("could not read the body: {e}"))
                }
            })?;
            parse(&bytes).map(ApiJson)
        })
    }
}

/// Deserializes `bytes`, mapping failures to field-naming API errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body of this API is a JSON object, but serde also fills a struct from an
    // array, field by field (`[null, null]` patched a transaction; found by schemathesis).
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                let field = field_name(&path, &message, "(body)");
                ApiError::Validation(vec![FieldError::new(field, message)])
            }
            _ => ApiError::MalformedJson {
                detail: format!("the body is not valid JSON: {inner}"),
                errors: Vec::new(),
            },
        }
    })
}

/// serde_json appends " at line 1 column 17": useful for syntax errors, noise for fields.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// For "missing field `x`" (and "duplicate field `x`") serde reports the parent's path (for an
/// unknown field the path already ends in it); the client wants the field itself. `whole`
/// names the input itself (`(body)`, `(query)`) when no field is to blame.
pub(crate) fn field_name(path: &str, message: &str, whole: &str) -> String {
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (p, Some(name)) if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        (".", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (".", None) => whole.to_owned(),
        (p, None) => p.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Leg {
        price: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        name: String,
        legs: Vec<Leg>,
    }

    fn field_of(body: &str) -> (String, String) {
        match parse::<Order>(body.as_bytes()) {
            Err(ApiError::Validation(errs)) => (errs[0].field.clone(), errs[0].message.clone()),
            other => (format!("{other:?}"), String::new()),
        }
    }

    #[test]
    fn names_the_nested_field_with_the_wrong_type() {
        let (field, msg) = field_of(r#"{"name":"a","legs":[{"price":1},{"price":"x"}]}"#);
        assert_eq!(field, "legs[1].price");
        assert!(msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn names_missing_and_unknown_fields() {
        assert_eq!(field_of(r#"{"legs":[]}"#).0, "name");
        assert_eq!(
            field_of(r#"{"name":"a","legs":[{"price":1,"qty":2}]}"#).0,
            "legs[0].qty"
        );
        assert_eq!(field_of(r#"{"name":"a","name":"b","legs":[]}"#).0, "name");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for body in ["[null, null]", "[]", "\"x\"", "1", "null"] {
            assert_eq!(field_of(body).0, "body", "{body}");
        }
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert!(matches!(
            parse::<Order>(b"{\"name\":"),
            Err(ApiError::MalformedJson { .. })
        ));
    }
}

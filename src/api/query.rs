//! `ApiQuery<T>`: the query-string extractor every endpoint uses.
//!
//! actix's `web::Query` reports `limit=abc` as "Query deserialize error: invalid digit found in
//! string" without saying which parameter; a client with six filters is left guessing. This one
//! deserializes through `serde_path_to_error`, as [`super::json::ApiJson`] does for bodies, and
//! answers 422 `validation_failed` naming the parameter and the value it got.

use crate::error::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::{Ready, ready};

#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T> ApiQuery<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ApiQuery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(req.query_string()).map(ApiQuery))
    }
}

/// Deserializes a raw (still percent-encoded) query string, mapping failures to one
/// field-naming error.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let field = super::json::field_name(&path, &message, "(query)");
        let message = match value_of(query, &field) {
            Some(value) => format!("{message} (got `{}`)", clip(&value)),
            None => message,
        };
        ApiError::Validation(vec![FieldError::new(field, message)])
    })
}

/// The (decoded) value sent for `name`, if it was sent once: echoed in the error so the client
/// sees what the server read after decoding (`%20`, `+`).
fn value_of(query: &str, name: &str) -> Option<String> {
    let mut values = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Echoed values are cut: a 4 kB parameter should not come back whole in every error.
fn clip(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Q {
        limit: Option<u32>,
        uncategorized: Option<bool>,
        q: Option<String>,
        state: Option<String>,
    }

    fn error_of(query: &str) -> (String, String) {
        match parse::<Q>(query) {
            Err(ApiError::Validation(errs)) => {
                assert_eq!(errs.len(), 1, "{errs:?}");
                (errs[0].field.clone(), errs[0].message.clone())
            }
            other => panic!("{query}: expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_parameter_of_the_wrong_type_and_its_value() {
        let (field, msg) = error_of("q=x&limit=abc");
        assert_eq!(field, "limit");
        assert!(
            msg.contains("invalid digit") && msg.contains("`abc`"),
            "{msg}"
        );
        let (field, msg) = error_of("uncategorized=yes");
        assert_eq!(field, "uncategorized");
        assert!(msg.contains("`yes`"), "{msg}");
        // Negative and overflowing numbers are refused too, not wrapped.
        assert_eq!(error_of("limit=-1").0, "limit");
        assert_eq!(error_of("limit=99999999999").0, "limit");
    }

    #[test]
    fn names_unknown_and_repeated_parameters() {
        let (field, msg) = error_of("sorted=date");
        assert_eq!(field, "sorted");
        assert!(msg.contains("expected one of"), "{msg}");
        let (field, msg) = error_of("limit=1&limit=2");
        assert_eq!(field, "limit");
        assert!(msg.contains("duplicate"), "{msg}");
    }

    #[test]
    fn decodes_values_and_accepts_an_empty_query() {
        let q: Q = parse("q=caf%C3%A9+bar&limit=5").expect("parses");
        assert_eq!(q.q.as_deref(), Some("café bar"));
        assert_eq!(q.limit, Some(5));
        assert_eq!(
            parse::<Q>("").expect("parses"),
            Q {
                limit: None,
                uncategorized: None,
                q: None,
                state: None
            }
        );
    }

    #[test]
    fn echoed_values_are_decoded_and_clipped() {
        let long = "9".repeat(5000);
        let (_, msg) = error_of(&format!("limit={long}"));
        assert!(msg.len() < 200, "{msg}");
        let (_, msg) = error_of("limit=1%202");
        assert!(msg.contains("`1 2`"), "{msg}");
    }
}

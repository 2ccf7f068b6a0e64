//! Answers that carry a chart: rendered on the blocking pool (a render takes milliseconds of
//! CPU, which would stall every request sharing the async worker) and sent as `image/png`.

use crate::charts::{ChartError, PNG_CONTENT_TYPE};
use crate::error::ApiError;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};

pub async fn respond<F>(render: F) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Result<Vec<u8>, ChartError> + Send + 'static,
{
    let bytes = web::block(render)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("chart render task: {e}")))?
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type(PNG_CONTENT_TYPE)
        // The books change under it: a client may keep it, but must ask again before reuse.
        .insert_header(CacheControl(vec![
            CacheDirective::Private,
            CacheDirective::NoCache,
        ]))
        .body(bytes))
}

/// A range for a chart title: `2026-01-01 – 2026-01-31`, `since …`, `until …`, `all time`.
pub fn period(from: Option<&str>, to: Option<&str>) -> String {
    match (from, to) {
        (Some(f), Some(t)) => format!("{f} – {t}"),
        (Some(f), None) => format!("since {f}"),
        (None, Some(t)) => format!("until {t}"),
        (None, None) => "all time".to_owned(),
    }
}

/// What a one-currency chart's title says of its currency: `EUR`, `EUR (also USD, GBP)`, or
/// nothing when there is none.
pub fn currency_note(chosen: Option<&str>, others: &[String]) -> String {
    match chosen {
        None => String::new(),
        Some(c) if others.is_empty() => format!(", {c}"),
        Some(c) => format!(", {c} (also {})", others.join(", ")),
    }
}

/// The OpenAPI body of a chart answer: binary PNG bytes (not the array of integers utoipa
/// would derive from `Vec<u8>`).
pub struct PngImage;

impl utoipa::PartialSchema for PngImage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .content_media_type(crate::charts::PNG_CONTENT_TYPE)
            .description(Some("A PNG image, 800 pixels wide."))
            .into()
    }
}

impl utoipa::ToSchema for PngImage {}

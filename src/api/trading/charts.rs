//! `GET /v1/trading/pnl.png`: cumulative realised PnL over time, replayed from the fills.

use crate::api::ctx::Ctx;
use crate::api::png;
use crate::api::query::ApiQuery;
use crate::charts;
use crate::error::{ApiError, FieldError};
use crate::trading::pnl_history::{self, PnlWindow};
use actix_web::{HttpResponse, get};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PnlChartQuery {
    /// Only this strategy's fills (default: every strategy).
    pub strategy_id: Option<String>,
    /// YYYY-MM-DD (the day's start, UTC) or an RFC 3339 time. The curve starts at zero here.
    pub from: Option<String>,
    /// YYYY-MM-DD (inclusive: to the day's end, UTC) or an RFC 3339 time.
    pub to: Option<String>,
    /// Quote currency (`USDT`, `EUR`…). A chart shows one (PnL is never converted); without
    /// it, the currency with the most fills, the title naming the others.
    pub currency: Option<String>,
}

/// A `from`/`to` bound: a date means the start (or, for `to`, the end) of that UTC day.
fn bound(
    field: &str,
    v: &str,
    end_of_day: bool,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let time = if end_of_day {
            NaiveTime::from_hms_milli_opt(23, 59, 59, 999)
        } else {
            Some(NaiveTime::MIN)
        };
        return time.map(|t| day.and_time(t).and_utc());
    }
    match DateTime::parse_from_rfc3339(v) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "a date as YYYY-MM-DD or an RFC 3339 time",
            ));
            None
        }
    }
}

/// Quote assets are not all ISO 4217 codes (USDT), so only their shape is checked.
fn quote_currency(v: &str, errors: &mut Vec<FieldError>) {
    let ok = (2..=12).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        errors.push(FieldError::new(
            "currency",
            "2-12 capital letters or digits, such as USDT",
        ));
    }
}

/// Cumulative realised PnL (fees included) as a PNG line chart: one point per fill, starting
/// at zero at `from`. No fills in the window draw a chart saying "no data".
#[utoipa::path(tag = "trading", params(PnlChartQuery), responses(
    (status = 200, description = "A PNG image", content_type = "image/png", body = inline(crate::api::png::PngImage)),
    (status = 404, description = "No such strategy", body = crate::error::Problem),
    (status = 422, description = "A query field is invalid", body = crate::error::Problem)))]
#[get("/v1/trading/pnl.png")]
#[tracing::instrument(skip_all, fields(strategy = ?q.strategy_id))]
pub async fn pnl_png(ctx: Ctx, q: ApiQuery<PnlChartQuery>) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let from = q
        .from
        .as_deref()
        .and_then(|v| bound("from", v, false, &mut errors));
    let to =
        q.to.as_deref()
            .and_then(|v| bound("to", v, true, &mut errors));
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        errors.push(FieldError::new("to", "not before `from`"));
    }
    if let Some(c) = &q.currency {
        quote_currency(c, &mut errors);
    }
    crate::api::financial::dto::done(errors)?;
    let who = match &q.strategy_id {
        Some(id) => super::strategies::load(&ctx, id).await?.name,
        None => "all strategies".to_owned(),
    };
    let window = PnlWindow {
        strategy_id: q.strategy_id.clone(),
        from,
        to,
    };
    let mut curves = pnl_history::cumulative_realised(&ctx.db()?, &window, Utc::now()).await?;
    let (currency, others) = match &q.currency {
        Some(c) => (Some(c.clone()), Vec::new()),
        None => charts::choose_currency(
            curves
                .iter()
                .map(|(c, points)| (c.as_str(), i64::try_from(points.len()).unwrap_or(i64::MAX))),
        )
        .map_or((None, Vec::new()), |(c, others)| (Some(c), others)),
    };
    let title = format!(
        "Realised PnL, {who}, {}{}",
        png::period(q.from.as_deref(), q.to.as_deref()),
        png::currency_note(currency.as_deref(), &others)
    );
    let currency = currency.unwrap_or_default();
    let points = curves.remove(&currency).unwrap_or_default();
    png::respond(move || charts::cumulative_pnl_png(&title, &points, &currency)).await
}

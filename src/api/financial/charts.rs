//! `GET /v1/financial/reports/spending.png`: the spending report as a bar chart by category.

use super::dto;
use super::reports::checked_range;
use crate::api::ctx::Ctx;
use crate::api::png;
use crate::api::query::ApiQuery;
use crate::charts;
use crate::error::ApiError;
use crate::finance::spending_totals;
use actix_web::{HttpResponse, get};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SpendingChartQuery {
    /// YYYY-MM-DD, inclusive.
    #[param(format = Date)]
    pub from: Option<String>,
    /// YYYY-MM-DD, inclusive.
    #[param(format = Date)]
    pub to: Option<String>,
    pub account_id: Option<String>,
    /// ISO 4217 code. A chart shows one currency (amounts are never converted); without it,
    /// the currency with the most transactions in the range, the title naming the others.
    pub currency: Option<String>,
}

/// Spending by category as a PNG bar chart (transfers excluded, largest first, the tail
/// summed as "Other"). No spending in the range draws a chart saying "no data".
#[utoipa::path(tag = "financial", params(SpendingChartQuery), responses(
    (status = 200, description = "A PNG image", content_type = "image/png", body = inline(crate::api::png::PngImage)),
    (status = 422, description = "A query field is invalid", body = crate::error::Problem)))]
#[get("/v1/financial/reports/spending.png")]
#[tracing::instrument(skip_all)]
pub async fn spending_png(
    ctx: Ctx,
    q: ApiQuery<SpendingChartQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let range = checked_range(&q.from, &q.to, &q.account_id, &mut errors);
    if let Some(c) = &q.currency {
        dto::currency("currency", c, &mut errors);
    }
    dto::done(errors)?;
    let rows = spending_totals::by_category(&ctx.db()?, &range).await?;
    let (currency, others) = match &q.currency {
        Some(c) => (Some(c.clone()), Vec::new()),
        None => charts::choose_currency(rows.iter().map(|r| (r.currency.as_str(), r.count)))
            .map_or((None, Vec::new()), |(c, others)| (Some(c), others)),
    };
    let title = format!(
        "Spending by category, {}{}",
        png::period(q.from.as_deref(), q.to.as_deref()),
        png::currency_note(currency.as_deref(), &others)
    );
    let currency = currency.unwrap_or_default();
    let bars: Vec<_> = rows
        .into_iter()
        .filter(|r| r.currency == currency)
        .map(|r| (r.name, r.spent))
        .collect();
    png::respond(move || charts::spending_by_category_png(&title, &bars, &currency)).await
}

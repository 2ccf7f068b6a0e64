//! `/v1/financial/reports/*` and `/v1/financial/categorization/*`. Sums are exact (integer
//! ten-thousandths in SQL) and stay in each transaction's currency: when currencies mix, the
//! response says so (`mixed_currencies`) and groups by currency, without FX conversion.

use super::dto::{self, JobAccepted};
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::error::{ApiError, FieldError};
use crate::finance::jobs::{AutoCategorize, CategorizePayload};
use crate::finance::reports::{self, Range};
use crate::finance::sql::from_e4;
use crate::finance::{accounts, categories};
use crate::on_db;
use actix_web::{HttpResponse, get, post, web};
use actors::jobs::JobSpec;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::{IntoParams, ToSchema};

const FX_NOTE: &str =
    "amounts are in each transaction's own currency; currencies are not converted";

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// YYYY-MM-DD, inclusive.
    #[param(format = Date)]
    pub from: Option<String>,
    /// YYYY-MM-DD, inclusive.
    #[param(format = Date)]
    pub to: Option<String>,
    pub account_id: Option<String>,
    /// Rows of the top-counterparties report: 1-100, default 10 (checked everywhere).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn range(q: &ReportQuery) -> Result<Range, ApiError> {
    let mut errors = Vec::new();
    for (f, v) in [("from", &q.from), ("to", &q.to)] {
        if let Some(v) = v {
            dto::date(f, v, &mut errors);
        }
    }
    // Only top-counterparties uses it, but every report documents it: check it everywhere.
    if q.limit.is_some_and(|l| !(1..=100).contains(&l)) {
        errors.push(FieldError::new("limit", "between 1 and 100"));
    }
    dto::done(errors)?;
    Ok(Range {
        from: q.from.clone(),
        to: q.to.clone(),
        account_id: q.account_id.clone(),
    })
}

/// A sum in ten-thousandths, at its currency's scale (see `present::money`).
fn money(e4: i64, currency: &str) -> String {
    crate::api::present::money(from_e4(e4), currency)
}

#[derive(Serialize, ToSchema)]
pub struct SpendingRow {
    /// YYYY-MM.
    pub month: String,
    pub category_id: Option<String>,
    /// `null` = uncategorized.
    pub category: Option<String>,
    pub currency: String,
    /// Money out, as a positive decimal.
    pub spent: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct SpendingReport {
    pub currencies: Vec<String>,
    pub mixed_currencies: bool,
    pub note: Option<String>,
    pub rows: Vec<SpendingRow>,
}

/// Spending by category per month (transfers excluded).
#[utoipa::path(tag = "financial", params(ReportQuery), responses((status = 200, description = "Spending", body = SpendingReport)))]
#[get("/v1/financial/reports/spending")]
#[tracing::instrument(skip_all)]
pub async fn spending(
    ctx: Ctx,
    q: web::Query<ReportQuery>,
) -> Result<web::Json<SpendingReport>, ApiError> {
    let r = range(&q)?;
    let db = ctx.db()?;
    let names: BTreeMap<String, String> = categories::list(&db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let rows = reports::spending(&db, &r).await?;
    let currencies: BTreeSet<String> = rows.iter().map(|r| r.2.clone()).collect();
    let mixed = currencies.len() > 1;
    Ok(web::Json(SpendingReport {
        mixed_currencies: mixed,
        note: mixed.then(|| FX_NOTE.to_owned()),
        currencies: currencies.into_iter().collect(),
        rows: rows
            .into_iter()
            .map(|(month, category_id, currency, sum, count)| SpendingRow {
                category: category_id.as_ref().and_then(|c| names.get(c).cloned()),
                month,
                category_id,
                spent: money(-sum, &currency),
                currency,
                count,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CashflowRow {
    pub month: String,
    pub currency: String,
    pub income: String,
    /// Money out, as a positive decimal.
    pub expense: String,
    pub net: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CashflowReport {
    pub currencies: Vec<String>,
    pub mixed_currencies: bool,
    pub note: Option<String>,
    pub rows: Vec<CashflowRow>,
}

/// Income vs expense per month (transfers excluded).
#[utoipa::path(tag = "financial", params(ReportQuery), responses((status = 200, description = "Cash flow", body = CashflowReport)))]
#[get("/v1/financial/reports/cashflow")]
#[tracing::instrument(skip_all)]
pub async fn cashflow(
    ctx: Ctx,
    q: web::Query<ReportQuery>,
) -> Result<web::Json<CashflowReport>, ApiError> {
    let r = range(&q)?;
    let rows = reports::cashflow(&ctx.db()?, &r).await?;
    let currencies: BTreeSet<String> = rows.iter().map(|r| r.1.clone()).collect();
    let mixed = currencies.len() > 1;
    Ok(web::Json(CashflowReport {
        mixed_currencies: mixed,
        note: mixed.then(|| FX_NOTE.to_owned()),
        currencies: currencies.into_iter().collect(),
        rows: rows
            .into_iter()
            .map(|(month, currency, income, expense, count)| CashflowRow {
                month,
                income: money(income, &currency),
                expense: money(-expense, &currency),
                net: money(income + expense, &currency),
                currency,
                count,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BalancePoint {
    /// YYYY-MM: the balance at the end of that month (months without movement omitted).
    pub month: String,
    pub balance: String,
}

#[derive(Serialize, ToSchema)]
pub struct BalanceReport {
    pub account_id: String,
    pub currency: String,
    /// Balance just before `from` (the opening balance without `from`).
    pub starting_balance: String,
    pub points: Vec<BalancePoint>,
}

/// An account's balance at the end of each month (booked transactions).
#[utoipa::path(tag = "financial", params(ReportQuery), responses((status = 200, description = "Balance over time", body = BalanceReport), (status = 422, description = "account_id missing", body = crate::error::Problem)))]
#[get("/v1/financial/reports/balance")]
#[tracing::instrument(skip_all)]
pub async fn balance(
    ctx: Ctx,
    q: web::Query<ReportQuery>,
) -> Result<web::Json<BalanceReport>, ApiError> {
    let r = range(&q)?;
    let Some(account_id) = &r.account_id else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "account_id",
            "required",
        )]));
    };
    let db = ctx.db()?;
    let account = accounts::get(&db, account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account {account_id}")))?;
    let (before, months) = reports::monthly_movement(&db, &account.id, &r).await?;
    let mut running = account.opening_e4 + before;
    let start = running;
    let points = months
        .into_iter()
        .map(|(month, sum)| {
            running += sum;
            BalancePoint {
                month,
                balance: money(running, &account.currency),
            }
        })
        .collect();
    Ok(web::Json(BalanceReport {
        account_id: account.id,
        starting_balance: money(start, &account.currency),
        currency: account.currency,
        points,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CounterpartyRow {
    /// The counterparty, or the description when none is known.
    pub counterparty: String,
    pub currency: String,
    pub count: i64,
    /// Money out, as a positive decimal.
    pub spent: String,
}

#[derive(Serialize, ToSchema)]
pub struct CounterpartyReport {
    pub mixed_currencies: bool,
    pub note: Option<String>,
    pub rows: Vec<CounterpartyRow>,
}

/// Where the money goes: counterparties by amount spent.
#[utoipa::path(tag = "financial", params(ReportQuery), responses((status = 200, description = "Top counterparties", body = CounterpartyReport)))]
#[get("/v1/financial/reports/top-counterparties")]
#[tracing::instrument(skip_all)]
pub async fn top_counterparties(
    ctx: Ctx,
    q: web::Query<ReportQuery>,
) -> Result<web::Json<CounterpartyReport>, ApiError> {
    let r = range(&q)?;
    let limit = q.limit.unwrap_or(10);
    let rows = reports::top_counterparties(&ctx.db()?, &r, i64::from(limit)).await?;
    let mixed = rows.iter().map(|r| &r.1).collect::<BTreeSet<_>>().len() > 1;
    Ok(web::Json(CounterpartyReport {
        mixed_currencies: mixed,
        note: mixed.then(|| FX_NOTE.to_owned()),
        rows: rows
            .into_iter()
            .map(|(counterparty, currency, count, sum)| CounterpartyRow {
                counterparty,
                spent: money(-sum, &currency),
                currency,
                count,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillInput {
    /// YYYY-MM-DD, inclusive.
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

/// Re-run automatic categorization over a date range (a job with progress). User-chosen and
/// locked categories are never touched.
#[utoipa::path(tag = "financial", request_body = BackfillInput, responses((status = 202, description = "Job enqueued", body = JobAccepted), (status = 422, description = "Bad range", body = crate::error::Problem)))]
#[post("/v1/financial/categorization/backfill")]
#[tracing::instrument(skip_all)]
pub async fn backfill(ctx: Ctx, body: ApiJson<BackfillInput>) -> Result<HttpResponse, ApiError> {
    let i = body.into_inner();
    let mut errors = Vec::new();
    let from = dto::date("from", &i.from, &mut errors);
    let to = dto::date("to", &i.to, &mut errors);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errors.push(FieldError::new("to", "must not be before `from`"));
    }
    dto::done(errors)?;
    let mut spec = JobSpec::of::<AutoCategorize>(
        &CategorizePayload::Range {
            from: i.from.clone(),
            to: i.to.clone(),
            account_id: i.account_id.clone(),
        },
        ctx.trace_id.clone(),
    );
    // The same backfill asked twice within a few seconds (a double click) is one job.
    spec.idempotency_key = Some(format!(
        "backfill:{}:{}:{}",
        i.from,
        i.to,
        i.account_id.as_deref().unwrap_or("*"),
    ));
    spec.idempotency_window = std::time::Duration::from_secs(5);
    let (job_id, created) = ctx.state.jobs.enqueue(&spec).await?;
    ctx.audit(
        ctx.who(),
        "categorization.backfill",
        format!("{}..{}", i.from, i.to),
        "accepted",
        Some(format!("job {job_id}")),
    );
    Ok(HttpResponse::Accepted().json(JobAccepted {
        job_id,
        deduplicated: !created,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TierStats {
    /// `rule`, `model` or `llm`.
    pub tier: String,
    /// Transactions this tier categorized.
    pub categorized: i64,
    /// Share of all transactions (0-1).
    pub coverage: f64,
    /// The user later chose the same category.
    pub confirmed: i64,
    /// The user later chose a different category (or cleared it).
    pub corrected: i64,
    /// 1 − corrected / categorized: unreviewed decisions count as right.
    pub accuracy: Option<f64>,
    /// confirmed / (confirmed + corrected): only what a user looked at.
    pub reviewed_accuracy: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct CategorizationStats {
    pub transactions: i64,
    pub categorized: i64,
    pub uncategorized: i64,
    /// By `categorized_by` now: user, rule, model, llm.
    pub by_source: BTreeMap<String, i64>,
    pub tiers: Vec<TierStats>,
}

/// Coverage and accuracy of each categorization tier, measured against user corrections.
#[utoipa::path(tag = "financial", responses((status = 200, description = "Stats", body = CategorizationStats)))]
#[get("/v1/financial/categorization/stats")]
#[tracing::instrument(skip_all)]
pub async fn stats(ctx: Ctx) -> Result<web::Json<CategorizationStats>, ApiError> {
    let db = ctx.db()?;
    let by_source: Vec<(Option<String>, i64)> = on_db!(&db, |p| sqlx::query_as(
        "SELECT categorized_by, COUNT(*) FROM fin_transactions GROUP BY categorized_by"
    )
    .fetch_all(p)
    .await)
    .map_err(crate::db::DbError::from)?;
    let tiers: Vec<(String, i64, i64, i64)> = on_db!(&db, |p| sqlx::query_as(
        "SELECT auto_tier, COUNT(*), \
         CAST(SUM(CASE WHEN categorized_by = 'user' AND category_id = auto_category_id THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN categorized_by = 'user' AND (category_id IS NULL OR category_id <> auto_category_id) THEN 1 \
                       WHEN categorized_by IS NULL THEN 1 ELSE 0 END) AS BIGINT) \
         FROM fin_transactions WHERE auto_tier IS NOT NULL GROUP BY auto_tier ORDER BY auto_tier"
    )
    .fetch_all(p)
    .await)
    .map_err(crate::db::DbError::from)?;
    let total: i64 = by_source.iter().map(|(_, n)| n).sum();
    let uncategorized = by_source
        .iter()
        .find(|(s, _)| s.is_none())
        .map_or(0, |(_, n)| *n);
    #[allow(clippy::cast_precision_loss)]
    let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
    Ok(web::Json(CategorizationStats {
        transactions: total,
        categorized: total - uncategorized,
        uncategorized,
        by_source: by_source
            .into_iter()
            .filter_map(|(s, n)| s.map(|s| (s, n)))
            .collect(),
        tiers: tiers
            .into_iter()
            .map(|(tier, n, confirmed, corrected)| TierStats {
                tier,
                categorized: n,
                coverage: ratio(n, total).unwrap_or(0.0),
                confirmed,
                corrected,
                accuracy: ratio(n - corrected, n),
                reviewed_accuracy: ratio(confirmed, confirmed + corrected),
            })
            .collect(),
    }))
}

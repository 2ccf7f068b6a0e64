//! `/v1/financial/categorization/*`: backfill (re-run automatic categorization over a date
//! range, as a job) and per-tier coverage and accuracy.

use super::dto::{self, JobAccepted};
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::error::{ApiError, FieldError};
use crate::finance::jobs::{AutoCategorize, CategorizePayload};
use actix_web::{HttpResponse, get, post, web};
use actors::jobs::JobSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

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

/// The LLM tier's choices and what the user did with them. The tier either *applies* a
/// category (confidence ≥ `finance.llm_threshold`: `auto_tier = llm`) or leaves a
/// *suggestion* (below it: `suggested_category_id`, the transaction stays uncategorized).
#[derive(Serialize, ToSchema)]
pub struct LlmTierStats {
    /// Transactions the LLM decided on (applied or suggested) / all transactions (0-1).
    pub coverage: f64,
    /// Applied categories still in place: unchanged, or confirmed by the user.
    pub applied_kept: i64,
    /// Applied categories the user changed to another category or cleared.
    pub applied_changed: i64,
    /// Suggestions on transactions still uncategorized (no decision yet).
    pub suggestions_open: i64,
    /// Suggestions the user took: they chose the suggested category.
    pub suggestions_accepted: i64,
    /// Suggestions the user passed over: they chose another category.
    pub suggestions_rejected: i64,
    /// (applied_kept + suggestions_accepted) / (applied_kept + applied_changed +
    /// suggestions_accepted + suggestions_rejected): the share of the LLM's choices that
    /// stand. Unreviewed applied categories count as kept; open suggestions do not count.
    /// Null before any choice could be judged.
    pub acceptance_rate: Option<f64>,
    /// suggestions_accepted / (suggestions_accepted + suggestions_rejected): only what a
    /// user decided. Null before the first decision.
    pub suggestion_acceptance_rate: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct CategorizationStats {
    pub transactions: i64,
    pub categorized: i64,
    pub uncategorized: i64,
    /// By `categorized_by` now: user, rule, model, llm.
    pub by_source: BTreeMap<String, i64>,
    pub tiers: Vec<TierStats>,
    pub llm: LlmTierStats,
}

/// One pass over the rows the LLM tier touched (see [`LlmTierStats`]). A transaction the
/// user categorized carries both `auto_tier = llm` and a suggestion only if the tier
/// applied a category after suggesting one; it then counts as applied.
const LLM_SQL: &str = "SELECT     CAST(COALESCE(SUM(CASE WHEN auto_tier = 'llm' OR suggested_category_id IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT),     CAST(COALESCE(SUM(CASE WHEN auto_tier = 'llm' AND category_id = auto_category_id THEN 1 ELSE 0 END), 0) AS BIGINT),     CAST(COALESCE(SUM(CASE WHEN auto_tier = 'llm' AND (category_id IS NULL OR category_id <> auto_category_id) THEN 1 ELSE 0 END), 0) AS BIGINT),     CAST(COALESCE(SUM(CASE WHEN (auto_tier IS NULL OR auto_tier <> 'llm') AND suggested_category_id IS NOT NULL AND category_id IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT),     CAST(COALESCE(SUM(CASE WHEN (auto_tier IS NULL OR auto_tier <> 'llm') AND categorized_by = 'user' AND category_id = suggested_category_id THEN 1 ELSE 0 END), 0) AS BIGINT),     CAST(COALESCE(SUM(CASE WHEN (auto_tier IS NULL OR auto_tier <> 'llm') AND categorized_by = 'user' AND suggested_category_id IS NOT NULL AND category_id <> suggested_category_id THEN 1 ELSE 0 END), 0) AS BIGINT)     FROM fin_transactions WHERE auto_tier = 'llm' OR suggested_category_id IS NOT NULL";

/// Coverage and accuracy of each categorization tier, measured against user corrections,
/// and the LLM tier's acceptance rate (applied categories kept, suggestions taken).
#[utoipa::path(tag = "financial", responses((status = 200, description = "Stats", body = CategorizationStats)))]
#[get("/v1/financial/categorization/stats")]
#[tracing::instrument(skip_all)]
pub async fn stats(ctx: Ctx) -> Result<web::Json<CategorizationStats>, ApiError> {
    let db = ctx.db()?;
    let by_source: Vec<(Option<String>, i64)> = db
        .fetch_all("SELECT categorized_by, COUNT(*) FROM fin_transactions GROUP BY categorized_by")
        .await?;
    let tiers: Vec<(String, i64, i64, i64)> = db
        .fetch_all(
        "SELECT auto_tier, COUNT(*), \
         CAST(SUM(CASE WHEN categorized_by = 'user' AND category_id = auto_category_id THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN categorized_by = 'user' AND (category_id IS NULL OR category_id <> auto_category_id) THEN 1 \
                       WHEN categorized_by IS NULL THEN 1 ELSE 0 END) AS BIGINT) \
         FROM fin_transactions WHERE auto_tier IS NOT NULL GROUP BY auto_tier ORDER BY auto_tier",
        )
        .await?;
    let (decided, kept, changed, open, accepted, rejected): (i64, i64, i64, i64, i64, i64) =
        db.fetch_one(LLM_SQL).await?;
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
        llm: LlmTierStats {
            coverage: ratio(decided, total).unwrap_or(0.0),
            applied_kept: kept,
            applied_changed: changed,
            suggestions_open: open,
            suggestions_accepted: accepted,
            suggestions_rejected: rejected,
            acceptance_rate: ratio(kept + accepted, kept + changed + accepted + rejected),
            suggestion_acceptance_rate: ratio(accepted, accepted + rejected),
        },
    }))
}

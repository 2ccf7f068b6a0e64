//! `/v1/ai`: ask your money (a tool loop over read-only queries), usage per month, prompts.
//! With `ai.provider = "none"` asking and the prompts answer 503 `ai_not_configured`; usage
//! is a read of stored rows and works without a provider (past months' calls stay visible).

use super::ctx::Ctx;
use crate::ai::prompts::PromptInfo;
use crate::ai::store::{self, UsageLine};
use crate::api::query::ApiQuery;
use crate::error::{ApiError, ErrorCode, FieldError};
use actix_web::{get, post, web};
use actors::ai::actor::{Ask, GetStatus};
use actors::ai::engine::{AskStatus, CallError};
use actors::ai::{LlmError, Usage};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const MAX_QUESTION: usize = 1000;

fn ai(ctx: &Ctx) -> Result<&crate::ai::Ai, ApiError> {
    ctx.state.ai.as_ref().ok_or_else(|| ApiError::Ai {
        code: ErrorCode::AiNotConfigured,
        detail:
            "no AI provider is configured: set ai.provider (and ai.model) to use the AI endpoints"
                .to_owned(),
    })
}

/// HTTP mapping of the engine's errors (only here, at the edge).
fn call_error(e: CallError) -> ApiError {
    match e {
        CallError::Budget(b) => ApiError::Ai {
            code: ErrorCode::AiBudgetExhausted,
            detail: format!("this month's AI budget of {} USD is spent", b.limit),
        },
        CallError::BreakerOpen(p) => ApiError::Ai {
            code: ErrorCode::AiUnavailable,
            detail: format!("the {p} provider is failing (circuit breaker open); retry later"),
        },
        CallError::Store(e) => ApiError::Unavailable(format!("AI call records unavailable: {e}")),
        CallError::Provider(e) => {
            tracing::warn!(error = %e, "AI provider call failed");
            let detail = match e {
                LlmError::Quota(_) => "the AI provider refused: quota or billing limit reached",
                LlmError::Auth(_) => "the AI provider rejected the API key",
                LlmError::RateLimited { .. } | LlmError::Overloaded { .. } => {
                    "the AI provider is rate limiting or overloaded; retry later"
                }
                _ => "the AI provider did not answer usably; retry later",
            };
            ApiError::Ai {
                code: ErrorCode::AiUnavailable,
                detail: detail.to_owned(),
            }
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// 1-1000 characters, e.g. "how much did I spend on restaurants in October vs September?"
    pub question: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolCallInfo {
    pub name: String,
    pub arguments: serde_json::Value,
    /// A short summary of what the tool returned, or why it was refused.
    pub result: String,
    /// Unknown tools, mutations and invalid arguments are refused, never run.
    pub refused: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl From<Usage> for TokenUsage {
    fn from(u: Usage) -> Self {
        Self {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "answer": "You spent 182.40 EUR on restaurants in October and 240.10 EUR in September.",
    "status": "answered",
    "tool_calls": [{"name": "spending_by_category", "arguments": {"from": "2026-09-01", "to": "2026-10-31", "account_id": null},
                    "result": "4 month/category rows", "refused": false}],
    "usage": {"input_tokens": 1830, "output_tokens": 61},
    "cached": false
}))]
pub struct AskResponse {
    pub answer: String,
    /// `answered`, `refused` (the model declined) or `abstained` (no answer grounded in
    /// your data within the step limit).
    pub status: String,
    pub tool_calls: Vec<ToolCallInfo>,
    pub usage: TokenUsage,
    /// Served from the answer cache (no model call, no cost).
    pub cached: bool,
}

/// Ask a question about your money. The model may only call read-only tools (reports,
/// transaction search, accounts, strategies, PnL, jobs); every figure in the answer comes
/// from their results. IBANs, card numbers, e-mails, phones and account numbers are redacted
/// before anything leaves the process.
#[utoipa::path(
    tag = "ai",
    request_body = AskRequest,
    responses(
        (status = 200, description = "The answer and the tool calls behind it", body = AskResponse),
        (status = 422, description = "Empty or too long question"),
        (status = 503, description = "`ai_not_configured`, `ai_budget_exhausted` or `ai_unavailable`"),
    )
)]
#[post("/v1/ai/ask")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn ask(
    ctx: Ctx,
    body: web::Json<AskRequest>,
) -> Result<web::Json<AskResponse>, ApiError> {
    let ai = ai(&ctx)?;
    let question = body.into_inner().question;
    let chars = question.trim().chars().count();
    if chars == 0 || chars > MAX_QUESTION {
        return Err(ApiError::Validation(vec![FieldError::new(
            "question",
            format!("1 to {MAX_QUESTION} characters"),
        )]));
    }
    let outcome = ai
        .actor
        .send(Ask {
            question,
            trace_id: ctx.trace_id.clone(),
        })
        .await
        .map_err(|e| ApiError::Unavailable(format!("the AI actor is restarting: {e}")))?
        .map_err(call_error)?;
    Ok(web::Json(AskResponse {
        answer: outcome.answer,
        status: match outcome.status {
            AskStatus::Answered => "answered",
            AskStatus::Refused => "refused",
            AskStatus::Abstained => "abstained",
        }
        .to_owned(),
        tool_calls: outcome
            .tool_calls
            .into_iter()
            .map(|t| ToolCallInfo {
                name: t.name,
                arguments: t.arguments,
                result: t.result,
                refused: t.refused,
            })
            .collect(),
        usage: outcome.usage.into(),
        cached: outcome.cached,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `YYYY-MM`; default the current month (UTC).
    pub month: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    pub month: String,
    /// The provider configured now (`none` without one); each line names its own.
    pub provider: String,
    /// The model configured now (empty without a provider).
    pub model: String,
    /// `closed`, `open` or `half_open`; null without a provider.
    pub breaker: Option<String>,
    #[schema(value_type = String, example = "10")]
    pub budget_usd: Option<Decimal>,
    #[schema(value_type = String, example = "0.0123")]
    pub spent_usd: Decimal,
    /// This month's remaining budget as the engine sees it now (reservations included).
    #[schema(value_type = Option<String>, example = "9.9877")]
    pub remaining_usd: Option<Decimal>,
    /// By purpose and model.
    pub lines: Vec<UsageLine>,
}

/// AI calls of one month summed by purpose and model: calls, cache hits, tokens, cost.
/// Works without a provider configured (the stored calls of earlier months stay readable).
#[utoipa::path(
    tag = "ai",
    params(UsageQuery),
    responses(
        (status = 200, description = "Usage of the month", body = UsageReport),
        (status = 422, description = "Bad month"),
    )
)]
#[get("/v1/ai/usage")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn usage(ctx: Ctx, q: ApiQuery<UsageQuery>) -> Result<web::Json<UsageReport>, ApiError> {
    let current = actors::ai::engine::current_month();
    let month = q.into_inner().month.unwrap_or_else(|| current.clone());
    if chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_err()
        || month.len() != 7
    {
        return Err(ApiError::Validation(vec![FieldError::new(
            "month",
            "YYYY-MM, e.g. 2026-10",
        )]));
    }
    let db = ctx.db()?;
    let lines = store::usage(&db, &month).await?;
    let spent_usd: Decimal = lines.iter().map(|l| l.cost_usd).sum();
    let budget = ctx.state.ai_budget;
    let from_rows = budget.map(|b| (b - spent_usd).max(Decimal::ZERO));
    let Some(ai) = ctx.state.ai.as_ref() else {
        return Ok(web::Json(UsageReport {
            remaining_usd: from_rows,
            month,
            provider: "none".to_owned(),
            model: String::new(),
            breaker: None,
            budget_usd: budget,
            spent_usd,
            lines,
        }));
    };
    let status = ai
        .actor
        .send(GetStatus)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the AI actor is restarting: {e}")))?;
    Ok(web::Json(UsageReport {
        remaining_usd: if month == current {
            status.budget_remaining_usd
        } else {
            from_rows
        },
        month,
        provider: ai.provider.to_owned(),
        model: ai.model.clone(),
        breaker: Some(status.breaker.to_owned()),
        budget_usd: budget,
        spent_usd,
        lines,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromptList {
    pub items: Vec<PromptInfo>,
}

/// The prompt templates in use, with their versions and whether a file overrides them.
#[utoipa::path(
    tag = "ai",
    responses(
        (status = 200, description = "Templates", body = PromptList),
        (status = 503, description = "`ai_not_configured`"),
    )
)]
#[get("/v1/ai/prompts")]
pub async fn prompts(ctx: Ctx) -> Result<web::Json<PromptList>, ApiError> {
    let ai = ai(&ctx)?;
    Ok(web::Json(PromptList {
        items: ai.prompts.as_ref().clone(),
    }))
}

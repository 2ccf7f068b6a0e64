//! `POST /v1/trading/{deploy,stop,pause,resume}`: each enqueues a durable job that the
//! trading manager performs. Idempotent per strategy, target state and state version: asking
//! twice before the first is done returns the same job.

use super::dto::{CommandAccepted, CommandInput};
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::error::ApiError;
use actix_web::{HttpResponse, post};
use actors::jobs::BackoffPolicy;
use actors::trading::fsm::{self, Command};
use actors::trading::runtime::jobs::{self, CommandPayload};

/// A lifecycle command accepted: its durable job.
pub struct Requested {
    pub job_id: String,
    pub created: bool,
    pub strategy: crate::trading::rows::StrategyRow,
}

/// Writes the durable job for `command` on a strategy (REST and Telegram both come here):
/// refused at once when the state machine would refuse it, idempotent per strategy, target
/// state and state version.
pub async fn request(
    state: &crate::api::AppState,
    row: crate::trading::rows::StrategyRow,
    command: Command,
    who: String,
    reason: Option<String>,
    trace_id: actors::TraceId,
) -> Result<Requested, ApiError> {
    let current = row.state().map_err(|e| ApiError::Internal(e.into()))?;
    if current != command.target() {
        // Refuse at once what the state machine would refuse later.
        fsm::transition(current, command).map_err(|e| ApiError::Conflict(e.to_string()))?;
    }
    let payload = CommandPayload {
        strategy_id: row.id.clone(),
        reason: Some(reason.unwrap_or_else(|| format!("{} requested by {who}", command.as_str()))),
        principal: Some(who),
    };
    let mut spec = jobs::spec_for(command, &payload, trace_id)
        .ok_or_else(|| ApiError::Conflict("fault is not a user command".to_owned()))?;
    spec.idempotency_key = Some(format!(
        "strategy:{}:{}:v{}",
        row.id,
        command.target().as_str(),
        row.state_version
    ));
    spec.max_attempts = 5;
    spec.backoff = BackoffPolicy::Exponential {
        base_ms: 500,
        max_ms: 30_000,
    };
    let (job_id, created) = state.jobs.enqueue(&spec).await?;
    Ok(Requested {
        job_id,
        created,
        strategy: row,
    })
}

async fn enqueue(
    ctx: &Ctx,
    input: CommandInput,
    command: Command,
) -> Result<HttpResponse, ApiError> {
    let row = super::strategies::load(ctx, &input.strategy_id).await?;
    let r = request(
        &ctx.state,
        row,
        command,
        ctx.who(),
        input.reason.clone(),
        ctx.trace_id.clone(),
    )
    .await?;
    ctx.audit(
        ctx.who(),
        &format!("strategy.{}.request", command.as_str()),
        format!("strategy:{}", r.strategy.name),
        "accepted",
        Some(format!("job {}", r.job_id)),
    );
    Ok(HttpResponse::Accepted().json(CommandAccepted {
        job_id: r.job_id,
        strategy_id: r.strategy.id,
        command: command.as_str().to_owned(),
        deduplicated: !r.created,
    }))
}

/// Deploy a strategy (idle, stopped or faulted → live).
#[utoipa::path(tag = "trading", request_body = CommandInput, responses((status = 202, description = "Job enqueued", body = CommandAccepted), (status = 404, description = "No such strategy", body = crate::error::Problem), (status = 409, description = "Not allowed from the current state", body = crate::error::Problem)))]
#[post("/v1/trading/deploy")]
#[tracing::instrument(skip_all)]
pub async fn deploy(ctx: Ctx, body: ApiJson<CommandInput>) -> Result<HttpResponse, ApiError> {
    enqueue(&ctx, body.into_inner(), Command::Deploy).await
}

/// Stop a strategy (cancels its open orders; positions stay).
#[utoipa::path(tag = "trading", request_body = CommandInput, responses((status = 202, description = "Job enqueued", body = CommandAccepted), (status = 404, description = "No such strategy", body = crate::error::Problem), (status = 409, description = "Not allowed from the current state", body = crate::error::Problem)))]
#[post("/v1/trading/stop")]
#[tracing::instrument(skip_all)]
pub async fn stop(ctx: Ctx, body: ApiJson<CommandInput>) -> Result<HttpResponse, ApiError> {
    enqueue(&ctx, body.into_inner(), Command::Stop).await
}

/// Pause a live strategy (no new entries; it may still reduce positions).
#[utoipa::path(tag = "trading", request_body = CommandInput, responses((status = 202, description = "Job enqueued", body = CommandAccepted), (status = 404, description = "No such strategy", body = crate::error::Problem), (status = 409, description = "Not allowed from the current state", body = crate::error::Problem)))]
#[post("/v1/trading/pause")]
#[tracing::instrument(skip_all)]
pub async fn pause(ctx: Ctx, body: ApiJson<CommandInput>) -> Result<HttpResponse, ApiError> {
    enqueue(&ctx, body.into_inner(), Command::Pause).await
}

/// Resume a paused strategy.
#[utoipa::path(tag = "trading", request_body = CommandInput, responses((status = 202, description = "Job enqueued", body = CommandAccepted), (status = 404, description = "No such strategy", body = crate::error::Problem), (status = 409, description = "Not allowed from the current state", body = crate::error::Problem)))]
#[post("/v1/trading/resume")]
#[tracing::instrument(skip_all)]
pub async fn resume(ctx: Ctx, body: ApiJson<CommandInput>) -> Result<HttpResponse, ApiError> {
    enqueue(&ctx, body.into_inner(), Command::Resume).await
}

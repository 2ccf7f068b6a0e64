//! `/v1/jobs`: inspect, retry and cancel durable jobs.

use super::ctx::Ctx;
use crate::api::present::{time, time_opt};
use crate::api::query::ApiQuery;
use crate::error::{ApiError, FieldError};
use crate::jobs::store::{self, JobRow};
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct Job {
    pub id: String,
    pub queue: String,
    pub name: String,
    pub payload: serde_json::Value,
    /// `waiting`, `delayed`, `active`, `completed`, `dead`, `cancelled`.
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not before.
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub run_at: DateTime<Utc>,
    /// 0-100.
    pub progress: i64,
    pub progress_message: Option<String>,
    pub result: Option<serde_json::Value>,
    pub last_error: Option<String>,
    /// The request id that caused the job.
    pub trace_id: String,
    pub idempotency_key: Option<String>,
    pub lease_owner: Option<String>,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::present::rfc3339_opt")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<JobRow> for Job {
    fn from(r: JobRow) -> Self {
        Self {
            payload: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
            result: r
                .result
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            id: r.id,
            queue: r.queue,
            name: r.name,
            state: r.state,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: time(r.run_at),
            progress: r.progress,
            progress_message: r.progress_message,
            last_error: r.last_error,
            trace_id: r.trace_id,
            idempotency_key: r.idempotency_key,
            lease_owner: r.lease_owner,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
            finished_at: time_opt(r.finished_at),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    pub queue: Option<String>,
    #[param(inline, value_type = Option<crate::api::schema::JobState>)]
    pub state: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JobPage {
    pub items: Vec<Job>,
    pub next_cursor: Option<String>,
}

pub(crate) const STATES: [&str; 7] = [
    "waiting",
    "delayed",
    "active",
    "completed",
    "failed",
    "dead",
    "cancelled",
];

/// List jobs, newest first.
#[utoipa::path(tag = "jobs", params(JobQuery), responses((status = 200, description = "A page of jobs", body = JobPage)))]
#[get("/v1/jobs")]
pub async fn list_jobs(ctx: Ctx, q: ApiQuery<JobQuery>) -> Result<web::Json<JobPage>, ApiError> {
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50);
    let mut errors = Vec::new();
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "must be 1 to 500"));
    }
    if q.state.as_deref().is_some_and(|s| !STATES.contains(&s)) {
        errors.push(FieldError::new(
            "state",
            format!("one of {}", STATES.join(", ")),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let db = ctx.db()?;
    let rows = store::list(
        &db,
        q.queue.as_deref(),
        q.state.as_deref(),
        q.cursor.as_deref(),
        limit + 1,
    )
    .await?;
    let more = rows.len() > limit as usize;
    let items: Vec<Job> = rows
        .into_iter()
        .take(limit as usize)
        .map(Job::from)
        .collect();
    let next_cursor = if more {
        items.last().map(|j| j.id.clone())
    } else {
        None
    };
    Ok(web::Json(JobPage { items, next_cursor }))
}

/// One job: state, progress, attempts, error.
#[utoipa::path(tag = "jobs", params(("id" = String, Path)), responses((status = 200, description = "The job", body = Job), (status = 404, description = "No such job")))]
#[get("/v1/jobs/{id}")]
pub async fn get_job(ctx: Ctx, id: web::Path<String>) -> Result<web::Json<Job>, ApiError> {
    let db = ctx.db()?;
    let row = store::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
    Ok(web::Json(row.into()))
}

/// Run a dead or cancelled job again, with a fresh attempt budget.
#[utoipa::path(tag = "jobs", params(("id" = String, Path)), responses((status = 200, description = "Queued again", body = Job), (status = 404, description = "No such job"), (status = 409, description = "Not in a retryable state")))]
#[post("/v1/jobs/{id}/retry")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn retry_job(ctx: Ctx, id: web::Path<String>) -> Result<web::Json<Job>, ApiError> {
    let db = ctx.db()?;
    let row = store::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
    if !store::retry(&db, &id).await? {
        return Err(ApiError::Conflict(format!(
            "job is {}; only dead or cancelled jobs can be retried",
            row.state
        )));
    }
    ctx.state.jobs.wake(&row.queue);
    ctx.audit(ctx.who(), "job.retry", format!("job:{id}"), "success", None);
    let row = store::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
    Ok(web::Json(row.into()))
}

/// Cancel a job that has not started yet.
#[utoipa::path(tag = "jobs", params(("id" = String, Path)), responses((status = 204, description = "Cancelled"), (status = 404, description = "No such job"), (status = 409, description = "Already running or finished")))]
#[delete("/v1/jobs/{id}")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn cancel_job(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let db = ctx.db()?;
    let row = store::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
    if !store::cancel(&db, &id).await? {
        return Err(ApiError::Conflict(format!(
            "job is {}; only waiting or delayed jobs can be cancelled",
            row.state
        )));
    }
    ctx.audit(
        ctx.who(),
        "job.cancel",
        format!("job:{id}"),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

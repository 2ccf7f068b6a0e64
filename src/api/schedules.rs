//! `/v1/schedules`: cron schedules that enqueue jobs.

use super::ctx::Ctx;
use super::json::ApiJson;
use crate::api::present::time;
use crate::error::{ApiError, FieldError};
use crate::schedules::{self, ScheduleRow, validate_cron};
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Schedule {
    pub id: String,
    pub name: String,
    /// Six fields, seconds first, UTC: `0 30 2 * * *` = 02:30:00 daily.
    pub cron: String,
    pub queue: String,
    pub job_name: String,
    pub payload: serde_json::Value,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ScheduleRow> for Schedule {
    fn from(r: ScheduleRow) -> Self {
        Self {
            payload: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
            id: r.id,
            name: r.name,
            cron: r.cron,
            queue: r.queue,
            job_name: r.job_name,
            enabled: r.enabled,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub name: String,
    pub cron: String,
    pub queue: String,
    pub job_name: String,
    #[serde(default)]
    pub payload: serde_json::Value,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn validate(i: &ScheduleInput, jobs: &crate::jobs::JobQueue) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let slug = |v: &str| {
        (1..=64).contains(&v.len())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
    };
    for (field, v) in [
        ("name", &i.name),
        ("queue", &i.queue),
        ("job_name", &i.job_name),
    ] {
        if !slug(v) {
            errors.push(FieldError::new(
                field,
                "1-64 characters: letters, digits, `.`, `_`, `-`, `:`",
            ));
        }
    }
    if let Err(e) = validate_cron(&i.cron) {
        errors.push(FieldError::new("cron", e));
    }
    // The job must be one this service runs, with a payload it accepts: otherwise every
    // tick would enqueue a job that dies.
    match jobs.validate(&i.queue, &i.job_name, &i.payload) {
        Ok(()) => {}
        Err(e @ actors::jobs::UnknownJob::Kind { .. }) => {
            errors.push(FieldError::new("job_name", e.to_string()));
        }
        Err(e @ actors::jobs::UnknownJob::Payload { .. }) => {
            errors.push(FieldError::new("payload", e.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

async fn save(
    ctx: &Ctx,
    id: String,
    input: ScheduleInput,
    created_at: Option<i64>,
) -> Result<Schedule, ApiError> {
    let mut input = input;
    if input.payload.is_null() {
        // No payload is an empty one (`sync_all` takes `{}`).
        input.payload = serde_json::json!({});
    }
    validate(&input, &ctx.state.jobs)?;
    let db = ctx.db()?;
    let now = chrono::Utc::now().timestamp_millis();
    let row = ScheduleRow {
        id,
        name: input.name,
        cron: input.cron,
        queue: input.queue,
        job_name: input.job_name,
        payload: input.payload.to_string(),
        enabled: input.enabled,
        created_at: created_at.unwrap_or(now),
        updated_at: now,
    };
    match schedules::upsert(&db, &row).await {
        Err(crate::db::DbError::Conflict { .. }) => {
            return Err(ApiError::Conflict(format!(
                "a schedule named `{}` exists",
                row.name
            )));
        }
        other => other?,
    }
    ctx.state.schedules.reload().await?;
    ctx.audit(
        ctx.who(),
        "schedule.save",
        format!("schedule:{}", row.name),
        "success",
        Some(format!("cron `{}`", row.cron)),
    );
    Ok(row.into())
}

/// List schedules.
#[utoipa::path(tag = "jobs", responses((status = 200, description = "Schedules", body = [Schedule])))]
#[get("/v1/schedules")]
pub async fn list_schedules(ctx: Ctx) -> Result<web::Json<Vec<Schedule>>, ApiError> {
    let db = ctx.db()?;
    Ok(web::Json(
        schedules::list(&db)
            .await?
            .into_iter()
            .map(Schedule::from)
            .collect(),
    ))
}

/// Create a schedule.
#[utoipa::path(tag = "jobs", request_body = ScheduleInput, responses((status = 201, description = "Created", body = Schedule)))]
#[post("/v1/schedules")]
pub async fn create_schedule(
    ctx: Ctx,
    body: ApiJson<ScheduleInput>,
) -> Result<HttpResponse, ApiError> {
    let s = save(
        &ctx,
        uuid::Uuid::now_v7().to_string(),
        body.into_inner(),
        None,
    )
    .await?;
    Ok(HttpResponse::Created().json(s))
}

/// Replace a schedule.
#[utoipa::path(tag = "jobs", request_body = ScheduleInput, params(("id" = String, Path)), responses((status = 200, description = "Updated", body = Schedule), (status = 404, description = "No such schedule")))]
#[put("/v1/schedules/{id}")]
pub async fn update_schedule(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<ScheduleInput>,
) -> Result<web::Json<Schedule>, ApiError> {
    let db = ctx.db()?;
    let existing = schedules::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no schedule {id}")))?;
    Ok(web::Json(
        save(
            &ctx,
            existing.id,
            body.into_inner(),
            Some(existing.created_at),
        )
        .await?,
    ))
}

/// Delete a schedule.
#[utoipa::path(tag = "jobs", params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such schedule")))]
#[delete("/v1/schedules/{id}")]
pub async fn delete_schedule(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let db = ctx.db()?;
    if !schedules::delete(&db, &id).await? {
        return Err(ApiError::NotFound(format!("no schedule {id}")));
    }
    ctx.state.schedules.reload().await?;
    ctx.audit(
        ctx.who(),
        "schedule.delete",
        format!("schedule:{id}"),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

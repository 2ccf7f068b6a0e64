//! `GET /v1/audit`: the audit trail, newest first, filtered and paged by cursor.

use super::ctx::Ctx;
use crate::api::query::ApiQuery;
use crate::db::audit::{EventFilter, list};
use crate::error::{ApiError, FieldError};
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `user:<name>`, `key:<prefix>`, `anonymous`, `system`.
    pub principal: Option<String>,
    /// e.g. `auth.login`, `POST /v1/api-keys`.
    pub action: Option<String>,
    /// `success`, `failure`, `denied`, `rejected`, `error`.
    pub outcome: Option<String>,
    /// The `x-request-id` of the request that caused the events.
    pub trace_id: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Events before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub trace_id: String,
    pub principal: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub detail: Option<String>,
    /// How many requests this event stands for: 1, or the count of a per-IP, per-minute
    /// summary of anonymous refused requests (action `anonymous.refused`).
    pub occurrences: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Read the audit trail.
#[utoipa::path(tag = "admin", params(AuditQuery), responses((status = 200, description = "A page of events", body = AuditPage)))]
#[get("/v1/audit")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn list_events(
    ctx: Ctx,
    q: ApiQuery<AuditQuery>,
) -> Result<web::Json<AuditPage>, ApiError> {
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "limit",
            "must be 1 to 500",
        )]));
    }
    let db = ctx.db()?;
    let rows = list(
        &db,
        &EventFilter {
            principal: q.principal,
            action: q.action,
            outcome: q.outcome,
            trace_id: q.trace_id,
            since: q.since,
            until: q.until,
            before: q.cursor,
            limit: limit + 1,
        },
    )
    .await?;
    let more = rows.len() > limit as usize;
    let items: Vec<_> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditEventView {
            id: r.id,
            at: r.at,
            trace_id: r.trace_id,
            principal: r.principal,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            client_ip: r.client_ip,
            detail: r.detail,
            occurrences: r.occurrences,
        })
        .collect();
    let next_cursor = if more {
        items.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(web::Json(AuditPage { items, next_cursor }))
}

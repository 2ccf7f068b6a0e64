//! `/v1/admin/backups`: take a backup now (the `maintenance/backup` job) and list those in
//! `backup.dir`. Restoring stays a command (`ai-service restore`): it replaces the database
//! under a stopped service, which no request can do safely.

use super::ctx::Ctx;
use crate::api::financial::dto::JobAccepted;
use crate::error::ApiError;
use crate::maintenance::{Backup, NoPayload};
use actix_web::{HttpResponse, get, post, web};
use actors::jobs::JobSpec;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct BackupInfo {
    /// The archive's file name in `backup.dir` (its manifest is `<stem>.manifest.json`).
    pub file: String,
    pub created_at: DateTime<Utc>,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest migration applied in the backup.
    pub schema_version: i64,
    /// The ai-service version that wrote it.
    pub app_version: String,
    pub bytes: u64,
    /// sha256 of the archive (`sha256sum FILE` prints the same).
    pub sha256: String,
    /// Rows in all tables at the time of the backup.
    pub rows: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BackupList {
    /// Newest first.
    pub items: Vec<BackupInfo>,
}

/// Back the database up now: a `maintenance/backup` job (then retention), as the daily
/// schedule does. The job's result names the file.
#[utoipa::path(tag = "admin", responses((status = 202, description = "Job enqueued", body = JobAccepted)))]
#[post("/v1/admin/backups")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn create_backup(ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let mut spec = JobSpec::of::<Backup>(&NoPayload {}, ctx.trace_id.clone());
    // A double click returns the first job.
    spec.idempotency_key = Some("backup:now".to_owned());
    spec.idempotency_window = std::time::Duration::from_secs(2);
    spec.max_attempts = 3;
    let (job_id, created) = ctx.state.jobs.enqueue(&spec).await?;
    ctx.audit(
        ctx.who(),
        "backup.request",
        "database".to_owned(),
        "accepted",
        Some(format!("job {job_id}")),
    );
    Ok(HttpResponse::Accepted().json(JobAccepted {
        job_id,
        deduplicated: !created,
    }))
}

/// The backups in `backup.dir`, newest first.
#[utoipa::path(tag = "admin", responses((status = 200, description = "Backups", body = BackupList)))]
#[get("/v1/admin/backups")]
#[tracing::instrument(skip_all)]
pub async fn list_backups(ctx: Ctx) -> Result<web::Json<BackupList>, ApiError> {
    let manifests = crate::db::backup::list(&ctx.state.backup_dir)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let items = manifests
        .into_iter()
        .rev()
        .map(|m| BackupInfo {
            rows: m.tables.values().sum(),
            file: m.file,
            created_at: m.created_at,
            backend: m.backend,
            schema_version: m.schema_version,
            app_version: m.app_version,
            bytes: m.bytes,
            sha256: m.sha256,
        })
        .collect();
    Ok(web::Json(BackupList { items }))
}

//! The `maintenance` queue: `backup` (one backup of the database into `backup.dir`, then
//! retention). The built-in schedule (`[backup]`) enqueues it daily; `POST /v1/admin/backups`
//! or a `/v1/schedules` entry can too. As a durable job it shows in `/v1/jobs`, retries, and a
//! failed one raises the dead-job alert.

use crate::config::{BackupSettings, DatabaseSettings};
use crate::db::DbHandle;
use crate::schedules::ScheduleRow;
use actors::jobs::{Claimed, JobError, JobHandler, JobKind, JobRegistry, Progress};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

pub const QUEUE: &str = "maintenance";

/// `backup`: payload `{}`. Where backups go is configuration, not the caller's choice.
pub struct Backup;
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoPayload {}
impl JobKind for Backup {
    const QUEUE: &'static str = QUEUE;
    const NAME: &'static str = "backup";
    type Payload = NoPayload;
}

pub struct MaintenanceJobs {
    pub db: DbHandle,
    pub database: DatabaseSettings,
    pub backup: BackupSettings,
}

pub fn register(registry: &mut JobRegistry, handler: Arc<dyn JobHandler>) {
    registry.register::<Backup>(handler);
}

/// The `[backup]` schedule as a row the schedule runner fires like a stored one (not listed
/// in `/v1/schedules`: the configuration owns it).
pub fn builtin_schedules(settings: &BackupSettings) -> Vec<ScheduleRow> {
    if !settings.enabled {
        return Vec::new();
    }
    vec![ScheduleRow {
        id: "builtin-backup".to_owned(),
        name: "backup".to_owned(),
        cron: settings.cron.clone(),
        queue: QUEUE.to_owned(),
        job_name: Backup::NAME.to_owned(),
        payload: "{}".to_owned(),
        enabled: true,
        created_at: 0,
        updated_at: 0,
    }]
}

#[async_trait]
impl JobHandler for MaintenanceJobs {
    #[tracing::instrument(skip_all, fields(job = %job.id))]
    async fn run(&self, job: &Claimed, progress: &Progress) -> Result<Value, JobError> {
        job.payload_as::<Backup>()?;
        let db = self
            .db
            .port()
            .map_err(|e| JobError::Retryable(e.to_string()))?;
        progress.report(10, Some("backing up")).await;
        let created = crate::db::backup::create(&db, &self.database, &self.backup.dir)
            .await
            .map_err(|e| match e {
                // Installing pg_dump is the operator's move; retrying within minutes is not.
                crate::db::backup::BackupError::ToolMissing { .. } => {
                    JobError::Permanent(e.to_string())
                }
                other => JobError::Retryable(other.to_string()),
            })?;
        progress.report(90, Some("pruning old backups")).await;
        // The backup exists: a pruning failure is reported, not retried (a retry would back up
        // again).
        let (pruned, prune_error) = match crate::db::backup::prune(
            &self.backup.dir,
            self.backup.keep_daily,
            self.backup.keep_weekly,
        )
        .await
        {
            Ok(p) => (p, None),
            Err(e) => {
                tracing::warn!(error = %e, "pruning old backups failed");
                (Vec::new(), Some(e.to_string()))
            }
        };
        Ok(json!({
            "file": created.manifest.file,
            "bytes": created.manifest.bytes,
            "sha256": created.manifest.sha256,
            "schema_version": created.manifest.schema_version,
            "rows": created.manifest.tables.values().sum::<i64>(),
            "pruned": pruned,
            "prune_error": prune_error,
        }))
    }
}

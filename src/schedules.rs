//! Repeatable jobs: cron schedules stored in the database and driven by tokio-cron-scheduler.
//!
//! A tick never runs work itself: it enqueues a job through the idempotent path with the key
//! `schedule:<id>:<tick second>`, so two processes (or a restart inside one tick) enqueue once.

use crate::db::{Arg, Db, DbError, DbHandle, Record, Sql};
use crate::jobs::JobQueue;
use actors::TraceId;
use actors::jobs::{BackoffPolicy, JobSpec};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: String,
    pub name: String,
    /// Six fields, seconds first: `0 30 2 * * *` = 02:30:00 UTC daily.
    pub cron: String,
    pub queue: String,
    pub job_name: String,
    pub payload: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for ScheduleRow {
    const COLUMNS: &'static str =
        "id, name, cron, queue, job_name, payload, enabled, created_at, updated_at";

    fn args(&self) -> Vec<Arg<'_>> {
        vec![
            (&self.id).into(),
            (&self.name).into(),
            (&self.cron).into(),
            (&self.queue).into(),
            (&self.job_name).into(),
            (&self.payload).into(),
            self.enabled.into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

const COLUMNS: &str = ScheduleRow::COLUMNS;

/// `Err(reason)` when the expression is not a valid 6-field cron.
pub fn validate_cron(cron: &str) -> Result<(), String> {
    if cron.split_whitespace().count() != 6 {
        return Err("six fields, seconds first, e.g. `0 30 2 * * *`".to_owned());
    }
    Job::new_async(cron, |_, _| Box::pin(async {}))
        .map(drop)
        .map_err(|e| format!("invalid cron expression: {e}"))
}

pub async fn list(db: &Db) -> Result<Vec<ScheduleRow>, DbError> {
    db.fetch_all(format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))
        .await
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ScheduleRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM schedules WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

/// Insert (when `row.id` is new) or replace.
pub async fn upsert(db: &Db, row: &ScheduleRow) -> Result<(), DbError> {
    let mut sql = Sql::insert("schedules", row);
    sql.push(
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, cron = excluded.cron, queue = excluded.queue, \
         job_name = excluded.job_name, payload = excluded.payload, enabled = excluded.enabled, \
         updated_at = excluded.updated_at",
    );
    db.execute(sql).await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = db
        .execute(Sql::new("DELETE FROM schedules WHERE id = $1").bind(id))
        .await?;
    Ok(n > 0)
}

/// Owns the cron scheduler; `reload` makes it match the table.
pub struct ScheduleRunner {
    scheduler: Mutex<Option<JobScheduler>>,
    db: DbHandle,
    jobs: JobQueue,
    /// Schedules from the configuration (the daily backup), fired like stored ones.
    builtin: Vec<ScheduleRow>,
}

impl ScheduleRunner {
    pub fn new(db: DbHandle, jobs: JobQueue, builtin: Vec<ScheduleRow>) -> Arc<Self> {
        Arc::new(Self {
            scheduler: Mutex::new(None),
            db,
            jobs,
            builtin,
        })
    }

    /// Replaces all cron jobs with the enabled schedules from the database.
    pub async fn reload(&self) -> anyhow::Result<usize> {
        let Some(db) = self.db.get() else {
            return Ok(0);
        };
        let mut rows = list(&db).await?;
        rows.extend(self.builtin.iter().cloned());
        let mut guard = self.scheduler.lock().await;
        if let Some(mut old) = guard.take() {
            let _ = old.shutdown().await;
        }
        let sched = JobScheduler::new().await?;
        let mut n = 0;
        for row in rows.into_iter().filter(|r| r.enabled) {
            let jobs = self.jobs.clone();
            let row = Arc::new(row);
            let (cron, name, for_job) = (row.cron.clone(), row.name.clone(), Arc::clone(&row));
            let job = Job::new_async(cron.as_str(), move |_, _| {
                let (jobs, row) = (jobs.clone(), Arc::clone(&for_job));
                Box::pin(async move { fire(&jobs, &row).await })
            });
            match job {
                Ok(job) => {
                    sched.add(job).await?;
                    n += 1;
                }
                Err(e) => {
                    tracing::error!(schedule = %name, error = %e, "schedule has an invalid cron; skipped")
                }
            }
        }
        sched.start().await?;
        *guard = Some(sched);
        Ok(n)
    }

    pub async fn shutdown(&self) {
        if let Some(mut s) = self.scheduler.lock().await.take() {
            let _ = s.shutdown().await;
        }
    }
}

async fn fire(jobs: &JobQueue, row: &ScheduleRow) {
    let tick = chrono::Utc::now().timestamp();
    let mut spec = JobSpec::new(
        &row.queue,
        &row.job_name,
        serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null),
        TraceId::new(format!("schedule:{}:{tick}", row.name)),
    );
    spec.idempotency_key = Some(format!("schedule:{}:{tick}", row.id));
    spec.idempotency_window = Duration::from_secs(24 * 3600);
    spec.max_attempts = 3;
    spec.backoff = BackoffPolicy::Exponential {
        base_ms: 5_000,
        max_ms: 300_000,
    };
    match jobs.enqueue(&spec).await {
        Ok((id, true)) => tracing::info!(schedule = %row.name, job = %id, "schedule fired"),
        Ok((_, false)) => {
            tracing::debug!(schedule = %row.name, "tick already enqueued by another process")
        }
        Err(e) => tracing::error!(schedule = %row.name, error = %e, "schedule could not enqueue"),
    }
}

//! The job model and the ports around it.

use crate::TraceId;
use crate::ports::DependencyError;
use async_trait::async_trait;
use std::time::Duration;

/// How long to wait before attempt `n + 1` after attempt `n` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffPolicy {
    Fixed {
        delay_ms: u64,
    },
    /// `base * 2^(attempt-1)`, capped, with up to half of it as random jitter.
    Exponential {
        base_ms: u64,
        max_ms: u64,
    },
}

impl BackoffPolicy {
    pub fn delay(self, attempt: u32) -> Duration {
        match self {
            Self::Fixed { delay_ms } => Duration::from_millis(delay_ms),
            Self::Exponential { base_ms, max_ms } => {
                let exp = base_ms
                    .saturating_mul(1u64 << attempt.saturating_sub(1).min(30))
                    .min(max_ms);
                let jitter = if exp >= 2 {
                    rand::random_range(0..=exp / 2)
                } else {
                    0
                };
                Duration::from_millis(exp - jitter)
            }
        }
    }
}

/// What to enqueue.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub queue: String,
    pub name: String,
    pub payload: serde_json::Value,
    pub max_attempts: u32,
    pub backoff: BackoffPolicy,
    /// Not before this time (Unix ms); `None` = now.
    pub run_at_ms: Option<i64>,
    /// Same key in the same queue within `idempotency_window` returns the existing job.
    pub idempotency_key: Option<String>,
    pub idempotency_window: Duration,
    pub trace_id: TraceId,
}

impl JobSpec {
    pub fn new(queue: &str, name: &str, payload: serde_json::Value, trace_id: TraceId) -> Self {
        Self {
            queue: queue.to_owned(),
            name: name.to_owned(),
            payload,
            max_attempts: 5,
            backoff: BackoffPolicy::Exponential {
                base_ms: 1_000,
                max_ms: 300_000,
            },
            run_at_ms: None,
            idempotency_key: None,
            idempotency_window: Duration::from_secs(24 * 3600),
            trace_id,
        }
    }
}

/// A job held under a lease by one dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: String,
    pub queue: String,
    pub name: String,
    pub payload: serde_json::Value,
    /// 1 for the first run.
    pub attempt: u32,
    pub max_attempts: u32,
    pub backoff: BackoffPolicy,
    /// Fencing token: acks, nacks and heartbeats must present it.
    pub lease_id: String,
    pub trace_id: TraceId,
}

/// How an attempt ended, as reported to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed {
        result: serde_json::Value,
    },
    /// Retry at the given time (Unix ms).
    Retry {
        error: String,
        at_ms: i64,
    },
    /// No attempts left (or not retryable): the job is dead.
    Dead {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt.
    #[error("{0}")]
    Retryable(String),
    /// Retrying cannot help (bad payload, unknown job name): dead at once.
    #[error("{0}")]
    Permanent(String),
}

/// One attempt's outcome on its way to the store, fenced by the lease it ran under.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub job_id: String,
    pub lease_id: String,
    pub outcome: Outcome,
}

/// The queue backend (the seam): SQL now, Redis later.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Returns the job id and whether it was newly created (`false` = deduplicated).
    async fn enqueue(&self, spec: &JobSpec) -> Result<(String, bool), DependencyError>;
    /// Claims up to `limit` due jobs of `queue` in one step, each under its own fresh lease id
    /// (its fencing token); a job is never handed to two claimers.
    async fn claim(
        &self,
        queue: &str,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, DependencyError>;
    /// Records the outcome if `lease_id` still holds the job; `false` = fenced off.
    async fn finish(
        &self,
        job_id: &str,
        lease_id: &str,
        outcome: &Outcome,
    ) -> Result<bool, DependencyError>;
    /// Records several outcomes at once (the dispatcher flushes completions together), each
    /// fenced by its own lease like [`JobStore::finish`]; one flag per item, in order
    /// (`false` = fenced off). An error means none may have been recorded: their leases
    /// expire and the jobs run again (at-least-once).
    async fn finish_many(&self, batch: &[Finished]) -> Result<Vec<bool>, DependencyError> {
        let mut applied = Vec::with_capacity(batch.len());
        for f in batch {
            applied.push(self.finish(&f.job_id, &f.lease_id, &f.outcome).await?);
        }
        Ok(applied)
    }
    /// Records `batch` like [`JobStore::finish_many`] and claims up to `limit` due jobs of
    /// `queue` like [`JobStore::claim`] (the slots the outcomes free), in one round trip where
    /// the store can: the dispatcher's "complete and fetch the next" step. An error means the
    /// outcomes may not be recorded (as for `finish_many`) and nothing was claimed; a claim
    /// that fails after the outcomes were stored is logged and yields no jobs (the next poll
    /// claims them).
    async fn finish_and_claim(
        &self,
        batch: &[Finished],
        queue: &str,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<(Vec<bool>, Vec<Claimed>), DependencyError> {
        let applied = self.finish_many(batch).await?;
        if limit == 0 {
            return Ok((applied, Vec::new()));
        }
        match self.claim(queue, owner, lease, limit).await {
            Ok(claimed) => Ok((applied, claimed)),
            Err(e) => {
                tracing::warn!(%queue, error = %e, "claiming jobs after a flush failed");
                Ok((applied, Vec::new()))
            }
        }
    }
    /// Extends a running job's lease (heartbeat) and records progress; `false` = lost.
    async fn extend(
        &self,
        job_id: &str,
        lease_id: &str,
        lease: Duration,
    ) -> Result<bool, DependencyError>;
    /// Records progress (0-100) of a running job; `false` = the lease is gone.
    async fn progress(
        &self,
        job_id: &str,
        lease_id: &str,
        percent: u8,
        message: Option<&str>,
    ) -> Result<bool, DependencyError>;
    /// Returns jobs whose lease expired to the queue (or to `dead` without attempts left).
    async fn requeue_expired(&self) -> Result<u64, DependencyError>;
    /// Jobs waiting or delayed in `queue`.
    async fn waiting(&self, queue: &str) -> Result<u64, DependencyError>;
}

/// Lets a running handler report how far it got (shown by `GET /v1/jobs/{id}`).
#[derive(Clone)]
pub struct Progress {
    store: std::sync::Arc<dyn JobStore>,
    job_id: String,
    lease_id: String,
}

impl Progress {
    pub fn new(store: std::sync::Arc<dyn JobStore>, job: &Claimed) -> Self {
        Self {
            store,
            job_id: job.id.clone(),
            lease_id: job.lease_id.clone(),
        }
    }

    /// Best effort: a failed progress write is logged, never fails the job.
    pub async fn report(&self, percent: u8, message: Option<&str>) {
        if let Err(e) = self
            .store
            .progress(&self.job_id, &self.lease_id, percent.min(100), message)
            .await
        {
            tracing::warn!(error = %e, "job progress not recorded");
        }
    }
}

/// Runs jobs of one or more names.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn run(&self, job: &Claimed, progress: &Progress) -> Result<serde_json::Value, JobError>;
}

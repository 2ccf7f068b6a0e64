//! `MemoryJobStore`: the `JobStore` port in memory, with the SQL store's states and fencing.

use super::unavailable;
use crate::jobs::{Claimed, JobSpec, JobStore, Outcome};
use crate::ports::DependencyError;
use async_trait::async_trait;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Where a job is, as the `jobs` table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Waiting,
    /// Waiting for its `run_at` (a retry's backoff, or enqueued for later).
    Delayed,
    /// Claimed under a lease.
    Active,
    Completed,
    Dead,
}

/// One job as stored.
#[derive(Debug, Clone)]
pub struct StoredJob {
    pub id: String,
    pub spec: JobSpec,
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    pub run_at_ms: i64,
    pub lease_id: Option<String>,
    pub lease_expires_ms: i64,
    pub last_error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub progress: Option<(u8, Option<String>)>,
    /// Until when its idempotency key deduplicates enqueues.
    idempotent_until_ms: i64,
}

#[derive(Default)]
struct State {
    jobs: Vec<StoredJob>,
    next_id: u64,
    down: bool,
}

/// Jobs in memory: enqueue with idempotency keys, claim due jobs under a lease, finish only
/// with the lease's id, requeue expired leases.
#[derive(Default)]
pub struct MemoryJobStore {
    state: Mutex<State>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

impl MemoryJobStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn up(&self) -> Result<MutexGuard<'_, State>, DependencyError> {
        let state = self.lock();
        if state.down {
            return Err(unavailable());
        }
        Ok(state)
    }

    /// Every call fails while `down` (a database outage).
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    pub fn job(&self, id: &str) -> Option<StoredJob> {
        self.lock().jobs.iter().find(|j| j.id == id).cloned()
    }

    pub fn jobs(&self) -> Vec<StoredJob> {
        self.lock().jobs.clone()
    }

    /// Makes every active lease expire now (as if its worker had died).
    pub fn expire_leases(&self) {
        for job in &mut self.lock().jobs {
            if job.state == JobState::Active {
                job.lease_expires_ms = 0;
            }
        }
    }

    /// Makes every delayed job due now (skips a retry's backoff).
    pub fn make_due(&self) {
        for job in &mut self.lock().jobs {
            if job.state == JobState::Delayed {
                job.run_at_ms = 0;
            }
        }
    }
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn enqueue(&self, spec: &JobSpec) -> Result<(String, bool), DependencyError> {
        let mut state = self.up()?;
        let now = now_ms();
        if let Some(key) = &spec.idempotency_key
            && let Some(existing) = state.jobs.iter().find(|j| {
                j.spec.queue == spec.queue
                    && j.spec.idempotency_key.as_ref() == Some(key)
                    && j.idempotent_until_ms > now
            })
        {
            return Ok((existing.id.clone(), false));
        }
        state.next_id += 1;
        let id = format!("job-{}", state.next_id);
        let run_at_ms = spec.run_at_ms.unwrap_or(now).max(now);
        state.jobs.push(StoredJob {
            id: id.clone(),
            spec: spec.clone(),
            state: if run_at_ms > now {
                JobState::Delayed
            } else {
                JobState::Waiting
            },
            attempts: 0,
            run_at_ms,
            lease_id: None,
            lease_expires_ms: 0,
            last_error: None,
            result: None,
            progress: None,
            idempotent_until_ms: now + ms(spec.idempotency_window),
        });
        Ok((id, true))
    }

    async fn claim(
        &self,
        queue: &str,
        _owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, DependencyError> {
        let mut state = self.up()?;
        let now = now_ms();
        state.next_id += 1;
        let lease_prefix = format!("lease-{}", state.next_id);
        let mut due: Vec<&mut StoredJob> = state
            .jobs
            .iter_mut()
            .filter(|j| {
                j.spec.queue == queue
                    && matches!(j.state, JobState::Waiting | JobState::Delayed)
                    && j.run_at_ms <= now
            })
            .collect();
        due.sort_by_key(|j| j.run_at_ms);
        Ok(due
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|j| {
                // One fencing token per job, as the SQL store hands out.
                let lease_id = format!("{lease_prefix}:{}", j.id);
                j.state = JobState::Active;
                j.attempts += 1;
                j.lease_id = Some(lease_id.clone());
                j.lease_expires_ms = now + ms(lease);
                Claimed {
                    id: j.id.clone(),
                    queue: j.spec.queue.clone(),
                    name: j.spec.name.clone(),
                    payload: j.spec.payload.clone(),
                    attempt: j.attempts,
                    max_attempts: j.spec.max_attempts,
                    backoff: j.spec.backoff,
                    lease_id,
                    trace_id: j.spec.trace_id.clone(),
                }
            })
            .collect())
    }

    async fn finish(
        &self,
        job_id: &str,
        lease_id: &str,
        outcome: &Outcome,
    ) -> Result<bool, DependencyError> {
        let mut state = self.up()?;
        let Some(job) = state.jobs.iter_mut().find(|j| {
            j.id == job_id && j.state == JobState::Active && j.lease_id.as_deref() == Some(lease_id)
        }) else {
            return Ok(false);
        };
        job.lease_id = None;
        match outcome {
            Outcome::Completed { result } => {
                job.state = JobState::Completed;
                job.result = Some(result.clone());
                job.last_error = None;
            }
            Outcome::Retry { error, at_ms } => {
                job.state = JobState::Delayed;
                job.last_error = Some(error.clone());
                job.run_at_ms = *at_ms;
            }
            Outcome::Dead { error } => {
                job.state = JobState::Dead;
                job.last_error = Some(error.clone());
            }
        }
        Ok(true)
    }

    async fn extend(
        &self,
        job_id: &str,
        lease_id: &str,
        lease: Duration,
    ) -> Result<bool, DependencyError> {
        let mut state = self.up()?;
        let now = now_ms();
        Ok(state
            .jobs
            .iter_mut()
            .find(|j| {
                j.id == job_id
                    && j.state == JobState::Active
                    && j.lease_id.as_deref() == Some(lease_id)
            })
            .map(|j| j.lease_expires_ms = now + ms(lease))
            .is_some())
    }

    async fn progress(
        &self,
        job_id: &str,
        lease_id: &str,
        percent: u8,
        message: Option<&str>,
    ) -> Result<bool, DependencyError> {
        let mut state = self.up()?;
        Ok(state
            .jobs
            .iter_mut()
            .find(|j| {
                j.id == job_id
                    && j.state == JobState::Active
                    && j.lease_id.as_deref() == Some(lease_id)
            })
            .map(|j| j.progress = Some((percent, message.map(str::to_owned))))
            .is_some())
    }

    async fn requeue_expired(&self) -> Result<u64, DependencyError> {
        let mut state = self.up()?;
        let now = now_ms();
        let mut n = 0;
        for job in &mut state.jobs {
            if job.state == JobState::Active && job.lease_expires_ms < now {
                job.state = if job.attempts >= job.spec.max_attempts {
                    JobState::Dead
                } else {
                    JobState::Waiting
                };
                job.lease_id = None;
                job.last_error = Some("lease expired: the worker stopped answering".to_owned());
                n += 1;
            }
        }
        Ok(n)
    }

    async fn waiting(&self, queue: &str) -> Result<u64, DependencyError> {
        Ok(self
            .up()?
            .jobs
            .iter()
            .filter(|j| {
                j.spec.queue == queue && matches!(j.state, JobState::Waiting | JobState::Delayed)
            })
            .count() as u64)
    }
}

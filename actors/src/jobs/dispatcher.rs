//! `Dispatcher`: one per queue. Claims due jobs in batches, runs them, heartbeats, and flushes
//! their outcomes together, each fenced by its job's lease.

use super::model::{Claimed, Finished, JobError, JobHandler, JobStore, Outcome, Progress};
use crate::events::{EventBus, JobFailed};
use actix::fut::{ActorFutureExt, WrapFuture};
use actix::{Actor, AsyncContext, Context, Handler, Message};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Most outcomes written by one flush (one statement's worth of rows).
const FLUSH_MAX: usize = 512;
/// A flush that failed is tried once more after this pause (a Postgres deadlock with
/// `requeue_expired`, a dropped connection) before its jobs are left to their leases.
const FLUSH_RETRY_AFTER: Duration = Duration::from_millis(100);

// ---- messages -------------------------------------------------------------------------

/// Something was enqueued: look for work now instead of at the next poll.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Wake;

// ---- state ----------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub queue: String,
    /// Jobs of this queue running at once in this process.
    pub concurrency: u32,
    /// A job not heartbeated for this long is considered abandoned.
    pub lease: Duration,
    /// Fallback poll (delayed jobs coming due, other processes enqueuing).
    pub poll_interval: Duration,
    /// Identifies this process in lease rows.
    pub owner: String,
}

/// An attempt that ended and waits for the next flush, with what its outcome needs after.
struct Done {
    job: Claimed,
    outcome: Outcome,
}

pub struct Dispatcher {
    store: Arc<dyn JobStore>,
    handlers: Arc<HashMap<String, Arc<dyn JobHandler>>>,
    config: DispatcherConfig,
    events: Option<EventBus>,
    /// Jobs claimed and not yet flushed: a slot is free only once its outcome is stored, so
    /// the concurrency limit also bounds the outcomes waiting in memory.
    active: u32,
    /// Slots asked for by claims in flight (a claim of its own, or one riding on a flush):
    /// `active + reserved` never exceeds the concurrency, however the two overlap.
    reserved: u32,
    claiming: bool,
    /// A wake-up arrived while claiming: claim again right after.
    again: bool,
    /// Outcomes waiting for the flush in flight (group commit: they go out together next).
    done: Vec<Done>,
    flushing: bool,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn JobStore>,
        handlers: HashMap<String, Arc<dyn JobHandler>>,
        config: DispatcherConfig,
    ) -> Self {
        Self {
            store,
            handlers: Arc::new(handlers),
            config,
            events: None,
            active: 0,
            reserved: 0,
            claiming: false,
            again: false,
            done: Vec::new(),
            flushing: false,
        }
    }

    /// Publish `JobFailed` on the bus for every failed attempt.
    pub fn with_events(mut self, bus: EventBus) -> Self {
        self.events = Some(bus);
        self
    }

    /// Slots neither running nor asked for by a claim in flight.
    fn free(&self) -> u32 {
        self.config
            .concurrency
            .saturating_sub(self.active.saturating_add(self.reserved))
    }

    /// One statement claims every free slot's worth of due jobs. While it is in flight, more
    /// slots free up and the next claim takes them all, so busy queues claim in big batches.
    /// (A busy queue mostly claims with its flushes instead: see [`Self::flush`].)
    fn claim(&mut self, ctx: &mut Context<Self>) {
        let free = self.free();
        if self.claiming || free == 0 {
            // Served when the claim in flight returns or a flush frees slots (a wake-up
            // must not wait for the next poll).
            self.again = true;
            return;
        }
        self.claiming = true;
        self.again = false;
        self.reserved += free;
        let store = Arc::clone(&self.store);
        let (queue, owner, lease) = (
            self.config.queue.clone(),
            self.config.owner.clone(),
            self.config.lease,
        );
        let fut = async move { store.claim(&queue, &owner, lease, free).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            act.claiming = false;
            act.reserved = act.reserved.saturating_sub(free);
            match res {
                Ok(jobs) => {
                    let got = jobs.len();
                    for job in jobs {
                        act.start(job, ctx);
                    }
                    if act.again || (got > 0 && act.free() > 0) {
                        act.claim(ctx);
                    }
                }
                Err(e) => {
                    tracing::warn!(queue = %act.config.queue, error = %e, "claiming jobs failed")
                }
            }
        }));
    }

    fn start(&mut self, job: Claimed, ctx: &mut Context<Self>) {
        self.active += 1;
        let store = Arc::clone(&self.store);
        let handler = self.handlers.get(&job.name).cloned();
        let lease = self.config.lease;
        let span = tracing::info_span!("job", id = %job.id, name = %job.name, attempt = job.attempt, trace_id = %job.trace_id);
        let fut = run_job(store, handler, job, lease).instrument(span);
        ctx.spawn(fut.into_actor(self).map(|done, act, ctx| {
            act.done.push(done);
            act.flush(ctx);
        }));
    }

    /// Writes the outcomes that are waiting, in one call to the store, which also claims the
    /// slots they free (complete and fetch the next in one round trip, as BullMQ's
    /// `moveToFinished` does: a busy queue then needs one statement per batch, not two).
    /// Outcomes arriving while it runs wait for the next one. A crash before the write loses
    /// only the record, not the job: its lease expires and it runs again (handlers are
    /// idempotent).
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.done.is_empty() {
            return;
        }
        self.flushing = true;
        let take = self.done.len().min(FLUSH_MAX);
        let batch: Vec<Done> = self.done.drain(..take).collect();
        let freed = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        // The slots this flush frees plus any free now; none while a claim of its own is in
        // flight (it will claim again when it returns if there is more, see `again`).
        let want = if self.claiming {
            0
        } else {
            self.free().saturating_add(freed)
        };
        self.reserved += want;
        let (queue, owner, lease) = (
            self.config.queue.clone(),
            self.config.owner.clone(),
            self.config.lease,
        );
        let items: Vec<Finished> = batch
            .iter()
            .map(|d| Finished {
                job_id: d.job.id.clone(),
                lease_id: d.job.lease_id.clone(),
                outcome: d.outcome.clone(),
            })
            .collect();
        let store = Arc::clone(&self.store);
        let fut = async move {
            match store
                .finish_and_claim(&items, &queue, &owner, lease, want)
                .await
            {
                Ok(done) => Ok(done),
                Err(e) => {
                    tracing::warn!(error = %e, jobs = items.len(), "recording job outcomes failed; trying once more");
                    tokio::time::sleep(FLUSH_RETRY_AFTER).await;
                    store
                        .finish_many(&items)
                        .await
                        .map(|applied| (applied, Vec::new()))
                }
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            act.flushing = false;
            act.reserved = act.reserved.saturating_sub(want);
            act.active = act.active.saturating_sub(freed);
            let (res, claimed) = match res {
                Ok((applied, claimed)) => (Ok(applied), claimed),
                Err(e) => (Err(e), Vec::new()),
            };
            // Claim on our own unless this flush's claim came back short (the queue is
            // drained: the poll and wake-ups take over): it took no slots, it failed, or every
            // slot it asked for came back full (there may be more).
            let more = want == 0 || res.is_err() || claimed.len() >= want as usize;
            for job in claimed {
                act.start(job, ctx);
            }
            act.recorded(batch, res);
            act.flush(ctx);
            if more || act.again {
                act.claim(ctx);
            }
        }));
    }

    /// After a flush: events for the failures that were recorded, a count of the fenced ones.
    fn recorded(&self, batch: Vec<Done>, res: Result<Vec<bool>, crate::ports::DependencyError>) {
        let applied = match res {
            Ok(applied) => applied,
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), queue = %self.config.queue,
                    "could not record job outcomes; their leases will expire and they rerun");
                return;
            }
        };
        for (done, applied) in batch.into_iter().zip(applied) {
            let job = done.job;
            if !applied {
                metrics::counter!(super::JOBS_FENCED_TOTAL, "queue" => job.queue.clone(), "name" => job.name.clone())
                    .increment(1);
                tracing::warn!(job = %job.id, attempt = job.attempt,
                    "outcome rejected: the lease had expired and the job moved on");
                continue;
            }
            let (error, dead) = match done.outcome {
                Outcome::Completed { .. } => continue,
                Outcome::Retry { error, .. } => (error, false),
                Outcome::Dead { error } => (error, true),
            };
            if let Some(bus) = &self.events {
                bus.publish(JobFailed {
                    job_id: job.id,
                    queue: job.queue,
                    name: job.name,
                    error,
                    dead,
                    trace_id: job.trace_id,
                });
            }
        }
    }
}

/// Runs one attempt (in its own task, so a panicking handler cannot take the dispatcher
/// down), heartbeats the lease meanwhile, and decides the outcome; the dispatcher records it
/// with the next flush.
async fn run_job(
    store: Arc<dyn JobStore>,
    handler: Option<Arc<dyn JobHandler>>,
    job: Claimed,
    lease: Duration,
) -> Done {
    let started = Instant::now();
    let labels = [("queue", job.queue.clone()), ("name", job.name.clone())];
    let task = {
        let job = job.clone();
        let progress = Progress::new(Arc::clone(&store), &job);
        actix::spawn(async move {
            match handler {
                Some(h) => h.run(&job, &progress).await,
                None => Err(JobError::Permanent(format!(
                    "no handler for job `{}`",
                    job.name
                ))),
            }
        })
    };
    tokio::pin!(task);
    let mut heartbeat = tokio::time::interval(lease / 3);
    heartbeat.tick().await;
    let result = loop {
        tokio::select! {
            r = &mut task => break r.unwrap_or_else(|_| Err(JobError::Retryable("the handler panicked".to_owned()))),
            _ = heartbeat.tick() => {
                if !store.extend(&job.id, &job.lease_id, lease).await.unwrap_or(false) {
                    tracing::warn!("lease lost while running; the outcome will be fenced off");
                }
            }
        }
    };
    metrics::histogram!(super::JOB_DURATION_SECONDS, &labels)
        .record(started.elapsed().as_secs_f64());
    let outcome = match result {
        Ok(result) => {
            metrics::counter!(super::JOBS_COMPLETED_TOTAL, &labels).increment(1);
            Outcome::Completed { result }
        }
        Err(e) => {
            metrics::counter!(super::JOBS_FAILED_TOTAL, &labels).increment(1);
            match e {
                JobError::Retryable(error) if job.attempt < job.max_attempts => {
                    let delay = job.backoff.delay(job.attempt);
                    let at_ms = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "job failed; will retry");
                    Outcome::Retry { error, at_ms }
                }
                JobError::Retryable(error) | JobError::Permanent(error) => {
                    tracing::error!(%error, "job failed for good; now dead");
                    metrics::counter!(super::JOBS_DEAD_TOTAL, &labels).increment(1);
                    Outcome::Dead { error }
                }
            }
        }
    };
    Done { job, outcome }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

// ---- actor ----------------------------------------------------------------------------

impl Actor for Dispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        super::describe_metrics();
        // Registered at 0 for every job this queue runs: alerts use `increase()`, which cannot
        // see the first dead job of a series that is born at 1.
        for name in self.handlers.keys() {
            metrics::counter!(super::JOBS_DEAD_TOTAL, "queue" => self.config.queue.clone(), "name" => name.clone())
                .increment(0);
        }
        ctx.run_interval(self.config.poll_interval, |act, ctx| act.claim(ctx));
        // Abandoned leases (a killed process) go back to the queue, at start and periodically.
        let requeue = |act: &mut Self, ctx: &mut Context<Self>| {
            let store = Arc::clone(&act.store);
            let queue = act.config.queue.clone();
            ctx.spawn(
                async move {
                    match store.requeue_expired().await {
                        Ok(n) if n > 0 => {
                            tracing::warn!(jobs = n, "re-queued jobs whose lease expired")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "re-queueing expired jobs failed"),
                    }
                    if let Ok(n) = store.waiting(&queue).await {
                        metrics::gauge!(super::JOBS_WAITING, "queue" => queue).set(n as f64);
                    }
                }
                .into_actor(act),
            );
        };
        requeue(self, ctx);
        ctx.run_interval(self.config.lease.min(Duration::from_secs(30)), requeue);
        self.claim(ctx);
    }
}

// ---- handlers -------------------------------------------------------------------------

impl Handler<Wake> for Dispatcher {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        self.claim(ctx);
    }
}

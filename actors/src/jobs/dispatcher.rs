//! `Dispatcher`: one per queue. Claims due jobs, runs them, heartbeats, acks with fencing.

use super::model::{Claimed, JobError, JobHandler, JobStore, Outcome, Progress};
use crate::events::{EventBus, JobFailed};
use actix::fut::{ActorFutureExt, WrapFuture};
use actix::{Actor, AsyncContext, Context, Handler, Message};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

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

pub struct Dispatcher {
    store: Arc<dyn JobStore>,
    handlers: Arc<HashMap<String, Arc<dyn JobHandler>>>,
    config: DispatcherConfig,
    events: Option<EventBus>,
    active: u32,
    claiming: bool,
    /// A wake-up arrived while claiming: claim again right after.
    again: bool,
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
            claiming: false,
            again: false,
        }
    }

    /// Publish `JobFailed` on the bus for every failed attempt.
    pub fn with_events(mut self, bus: EventBus) -> Self {
        self.events = Some(bus);
        self
    }

    fn claim(&mut self, ctx: &mut Context<Self>) {
        if self.claiming {
            self.again = true;
            return;
        }
        let free = self.config.concurrency.saturating_sub(self.active);
        if free == 0 {
            return;
        }
        self.claiming = true;
        self.again = false;
        let store = Arc::clone(&self.store);
        let (queue, owner, lease) = (
            self.config.queue.clone(),
            self.config.owner.clone(),
            self.config.lease,
        );
        let fut = async move { store.claim(&queue, &owner, lease, free).await };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.claiming = false;
            match res {
                Ok(jobs) => {
                    let got = jobs.len();
                    for job in jobs {
                        act.start(job, ctx);
                    }
                    if act.again || (got > 0 && act.active < act.config.concurrency) {
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
        let fut = run_job(store, handler, job, lease, self.events.clone()).instrument(span);
        ctx.spawn(fut.into_actor(self).map(|(), act, ctx| {
            act.active = act.active.saturating_sub(1);
            act.claim(ctx);
        }));
    }
}

/// Runs one attempt (in its own task, so a panicking handler cannot take the dispatcher
/// down), heartbeats the lease meanwhile, and reports the outcome with the fencing token.
async fn run_job(
    store: Arc<dyn JobStore>,
    handler: Option<Arc<dyn JobHandler>>,
    job: Claimed,
    lease: Duration,
    events: Option<EventBus>,
) {
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
    let failed = match &outcome {
        Outcome::Retry { error, .. } => Some((error.clone(), false)),
        Outcome::Dead { error } => Some((error.clone(), true)),
        Outcome::Completed { .. } => None,
    };
    match store.finish(&job.id, &job.lease_id, &outcome).await {
        Ok(true) => {
            if let (Some((error, dead)), Some(bus)) = (failed, events) {
                bus.publish(JobFailed {
                    job_id: job.id.clone(),
                    queue: job.queue.clone(),
                    name: job.name.clone(),
                    error,
                    dead,
                    trace_id: job.trace_id.clone(),
                });
            }
        }
        Ok(false) => tracing::warn!("outcome rejected: the lease had expired and the job moved on"),
        Err(e) => {
            tracing::error!(error = %e, "could not record the job outcome; the lease will expire and it reruns")
        }
    }
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

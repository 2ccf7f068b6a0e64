//! Durable jobs: the queue port ([`JobStore`]), job handlers, and the [`Dispatcher`] actor.
//!
//! Every accepted job is first written by the store; the dispatcher claims due jobs under a
//! lease, runs them through the handler registered for their name, heartbeats the lease while
//! they run, and acks or nacks with the lease id as a fencing token (a late ack from an expired
//! lease changes nothing). The SQL store lives in the root crate; a Redis store later is one
//! more implementation of the same trait.

mod dispatcher;
mod kind;
mod model;

pub use dispatcher::{Dispatcher, DispatcherConfig, Wake};
pub use kind::{JobKind, JobRegistry, UnknownJob};
pub use model::{
    BackoffPolicy, Claimed, Finished, JobError, JobHandler, JobSpec, JobStore, Outcome, Progress,
};

pub const JOBS_ENQUEUED_TOTAL: &str = "jobs_enqueued_total";
pub const JOBS_COMPLETED_TOTAL: &str = "jobs_completed_total";
pub const JOBS_FAILED_TOTAL: &str = "jobs_failed_total";
pub const JOB_DURATION_SECONDS: &str = "job_duration_seconds";
pub const JOBS_WAITING: &str = "jobs_waiting";
pub const JOBS_DEAD_TOTAL: &str = "jobs_dead_total";
pub const JOBS_FENCED_TOTAL: &str = "jobs_fenced_total";

pub fn describe_metrics() {
    metrics::describe_counter!(
        JOBS_ENQUEUED_TOTAL,
        "Jobs accepted into a queue (deduplicated enqueues excluded)."
    );
    metrics::describe_counter!(JOBS_COMPLETED_TOTAL, "Jobs that finished successfully.");
    metrics::describe_counter!(
        JOBS_FAILED_TOTAL,
        "Job attempts that failed (retried or dead)."
    );
    metrics::describe_counter!(
        JOBS_DEAD_TOTAL,
        "Jobs that failed for good (attempts exhausted or a permanent error): they wait for a person."
    );
    metrics::describe_counter!(
        JOBS_FENCED_TOTAL,
        "Job outcomes not recorded because the attempt's lease had expired and the job moved on."
    );
    metrics::describe_histogram!(
        JOB_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Run time of one job attempt."
    );
    metrics::describe_gauge!(
        JOBS_WAITING,
        "Jobs waiting or delayed in a queue, sampled by its dispatcher."
    );
}

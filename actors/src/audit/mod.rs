//! The audit trail's writer: requests record events without waiting on storage.
//!
//! Recording is a `try_tell` into this actor's mailbox; the actor batches events and writes
//! them through the [`AuditSink`] port. A failed write is logged, counted in
//! `audit_write_failures_total` and retried with the next batch; the buffer is bounded, and
//! events dropped because of that are counted in `audit_events_dropped_total`.

mod writer;

pub use writer::{AuditEvent, AuditSink, AuditWriter, Flush, Record};

pub const AUDIT_EVENTS_TOTAL: &str = "audit_events_total";
pub const AUDIT_WRITE_FAILURES_TOTAL: &str = "audit_write_failures_total";
pub const AUDIT_EVENTS_DROPPED_TOTAL: &str = "audit_events_dropped_total";

pub fn describe_metrics() {
    metrics::describe_counter!(AUDIT_EVENTS_TOTAL, "Audit events written to storage.");
    metrics::describe_counter!(
        AUDIT_WRITE_FAILURES_TOTAL,
        "Failed attempts to write a batch of audit events."
    );
    metrics::describe_counter!(
        AUDIT_EVENTS_DROPPED_TOTAL,
        "Audit events lost: the buffer was full or the writer was not running."
    );
}

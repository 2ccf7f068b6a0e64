//! A small supervision layer on actix.
//!
//! actix's own `Supervisor` restarts an actor only after `ctx.stop()`; a panic in a handler
//! kills the actor's task and nothing restarts it. Here every child runs under a watcher task
//! that learns of *any* end of the actor (stop or panic) through a guard held by the actor's
//! context, restarts it with exponential backoff, counts `actor_restarts_total{actor}` and
//! keeps its readiness entry current. Callers hold an [`ActorRef`], which always points at the
//! live incarnation, so a restart is invisible to them apart from the messages the dead
//! incarnation had queued (durable work lives in the job store, not in mailboxes).
//!
//! Children stop in reverse start order on [`Supervisor::shutdown`].

mod actor_ref;
mod backoff;
mod readiness;
mod supervisor;

pub use actor_ref::{ActorRef, SendError};
pub use backoff::Backoff;
pub use readiness::{Check, ComponentKind, Readiness, ReadinessReport, Status};
pub use supervisor::{ChildContext, Supervisor, SupervisorConfig};

/// Metric names owned by this layer, described once by [`describe_metrics`].
pub const ACTOR_RESTARTS_TOTAL: &str = "actor_restarts_total";
pub const ACTOR_MESSAGES_TOTAL: &str = "actor_messages_total";
pub const ACTOR_MAILBOX_DEPTH: &str = "actor_mailbox_depth";

/// Registers HELP texts so the Prometheus exposition is complete (promtool wants them).
pub fn describe_metrics() {
    metrics::describe_counter!(
        ACTOR_RESTARTS_TOTAL,
        "Times a supervised actor ended unexpectedly (error stop or panic) and was restarted."
    );
    metrics::describe_counter!(
        ACTOR_MESSAGES_TOTAL,
        "Messages sent to a supervised actor through its ActorRef."
    );
    metrics::describe_gauge!(
        ACTOR_MAILBOX_DEPTH,
        "Requests sent to a supervised actor and not answered yet (queued or in progress)."
    );
}

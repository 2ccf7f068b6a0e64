//! The in-process typed event bus, and the outbox relay that feeds it durable events.
//!
//! Subscribers pick events by type; each type has its own bounded broadcast channel, so a slow
//! subscriber never blocks a publisher: it skips ahead, and what it missed is counted in
//! `events_lagged_total{type}`. Events a notifier must not lose are not published directly:
//! they are written to the outbox in the transaction of the change that caused them, and the
//! [`OutboxRelay`] publishes them afterwards (at least once).

mod bus;
mod relay;
mod types;

pub use bus::{Event, EventBus, Subscription};
pub use relay::{EventSink, OutboxRelay, OutboxRow, OutboxStore, RelayNow};
pub use types::{
    ALL_EVENT_TYPES, ArbitrageOpportunityFound, CategoryUpdated, JobFailed, StrategyStateChanged,
    TradeExecuted, TransactionSynced, VenueBalanceMismatch, register_all,
};

pub const EVENTS_PUBLISHED_TOTAL: &str = "events_published_total";
pub const EVENTS_LAGGED_TOTAL: &str = "events_lagged_total";
pub const OUTBOX_UNPUBLISHABLE_TOTAL: &str = "outbox_unpublishable_total";

pub fn describe_metrics() {
    metrics::describe_counter!(
        EVENTS_PUBLISHED_TOTAL,
        "Domain events published on the in-process bus, by type."
    );
    metrics::describe_counter!(
        EVENTS_LAGGED_TOTAL,
        "Events a slow subscriber missed because its buffer overflowed, by type."
    );
    metrics::describe_counter!(
        OUTBOX_UNPUBLISHABLE_TOTAL,
        "Outbox rows no sink could publish (unknown type, undecodable payload), by type. They stay pending and are retried later."
    );
}

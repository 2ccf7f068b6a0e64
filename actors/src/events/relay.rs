//! `OutboxRelay`: publishes committed outbox rows on the bus, then marks them published.
//! A crash between commit and publish loses nothing: the row is still unpublished at the
//! next start. Delivery is at least once; subscribers that act must tolerate a repeat.

use super::EventBus;
use crate::ports::DependencyError;
use actix::fut::{ActorFutureExt, WrapFuture};
use actix::{Actor, AsyncContext, Context, Handler, Message};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

// ---- messages -------------------------------------------------------------------------

/// Publish pending rows now (sent after a commit that staged events).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RelayNow;

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
}

/// Where relayed events go. The in-process [`EventBus`] is one; a cross-node backend (Redis
/// streams) is another implementation, added as its own module.
pub trait EventSink: Send + Sync + 'static {
    fn publish_json(&self, event_type: &str, payload: &serde_json::Value) -> Result<(), String>;
}

impl EventSink for EventBus {
    fn publish_json(&self, event_type: &str, payload: &serde_json::Value) -> Result<(), String> {
        EventBus::publish_json(self, event_type, payload)
    }
}

#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Oldest unpublished rows first.
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxRow>, DependencyError>;
    async fn mark_published(&self, ids: &[String]) -> Result<(), DependencyError>;
    /// Keeps a row pending with the reason it could not be published; `pending` skips it
    /// until `retry_after` has passed (a newer version may know its type by then).
    async fn mark_failed(
        &self,
        id: &str,
        error: &str,
        retry_after: Duration,
    ) -> Result<(), DependencyError>;
}

/// How long an unpublishable outbox row waits before it is tried again.
pub const UNPUBLISHABLE_RETRY: Duration = Duration::from_secs(600);

// ---- state ----------------------------------------------------------------------------

pub struct OutboxRelay {
    store: Arc<dyn OutboxStore>,
    sinks: Vec<Arc<dyn EventSink>>,
    interval: Duration,
    busy: bool,
    again: bool,
}

impl OutboxRelay {
    /// Relays to the in-process bus.
    pub fn new(store: Arc<dyn OutboxStore>, bus: EventBus, interval: Duration) -> Self {
        Self::with_sinks(store, vec![Arc::new(bus)], interval)
    }

    pub fn with_sinks(
        store: Arc<dyn OutboxStore>,
        sinks: Vec<Arc<dyn EventSink>>,
        interval: Duration,
    ) -> Self {
        Self {
            store,
            sinks,
            interval,
            busy: false,
            again: false,
        }
    }

    fn relay(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            self.again = true;
            return;
        }
        self.busy = true;
        self.again = false;
        let (store, sinks) = (Arc::clone(&self.store), self.sinks.clone());
        let fut = async move {
            let rows = store.pending(100).await?;
            let full = rows.len() == 100;
            let mut done = Vec::with_capacity(rows.len());
            for row in rows {
                let mut failed = None;
                for sink in &sinks {
                    if let Err(e) = sink.publish_json(&row.event_type, &row.payload) {
                        failed = Some(e);
                    }
                }
                match failed {
                    None => done.push(row.id),
                    Some(e) => {
                        // An unknown or undecodable row must not block the ones after it, nor
                        // be marked published (that lost it): it stays pending, counted.
                        metrics::counter!(super::OUTBOX_UNPUBLISHABLE_TOTAL, "type" => row.event_type.clone()).increment(1);
                        tracing::error!(id = %row.id, event = %row.event_type, error = %e, "outbox row could not be published; kept pending, retried later");
                        store.mark_failed(&row.id, &e, UNPUBLISHABLE_RETRY).await?;
                    }
                }
            }
            store.mark_published(&done).await?;
            Ok::<bool, DependencyError>(full)
        };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.busy = false;
            match res {
                Ok(more) if more || act.again => act.relay(ctx),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox relay failed; will retry"),
            }
        }));
    }
}

// ---- actor ----------------------------------------------------------------------------

impl Actor for OutboxRelay {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.relay(ctx);
        ctx.run_interval(self.interval, |act, ctx| act.relay(ctx));
    }
}

// ---- handlers -------------------------------------------------------------------------

impl Handler<RelayNow> for OutboxRelay {
    type Result = ();

    fn handle(&mut self, _: RelayNow, ctx: &mut Self::Context) {
        self.relay(ctx);
    }
}

//! `EventBus`: one bounded broadcast channel per event type.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::broadcast;

/// A domain event: named (for the outbox and metrics), cloneable, serialisable.
pub trait Event: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {
    const TYPE: &'static str;
}

type JsonPublisher = Arc<dyn Fn(&EventBus, &serde_json::Value) -> Result<(), String> + Send + Sync>;

#[derive(Default)]
struct Inner {
    channels: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    /// Event type name → "decode this JSON and publish it typed" (the outbox relay's path).
    by_name: HashMap<&'static str, JsonPublisher>,
}

/// Cheap to clone; all clones share the channels.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<RwLock<Inner>>,
    capacity: usize,
}

impl EventBus {
    /// `capacity`: how many events of one type a subscriber may fall behind before it skips.
    pub fn new(capacity: usize) -> Self {
        super::describe_metrics();
        Self {
            inner: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    fn sender<E: Event>(&self) -> broadcast::Sender<E> {
        if let Some(tx) = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .channels
            .get(&TypeId::of::<E>())
            .and_then(|c| c.downcast_ref::<broadcast::Sender<E>>())
        {
            return tx.clone();
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let capacity = self.capacity;
        let tx = inner
            .channels
            .entry(TypeId::of::<E>())
            .or_insert_with(|| Box::new(broadcast::channel::<E>(capacity).0))
            .downcast_ref::<broadcast::Sender<E>>()
            .cloned();
        inner.by_name.entry(E::TYPE).or_insert_with(|| {
            Arc::new(|bus: &EventBus, v: &serde_json::Value| {
                let e: E = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
                bus.publish(e);
                Ok(())
            })
        });
        tx.unwrap_or_else(|| broadcast::channel::<E>(1).0)
    }

    /// Makes `E` known by name (for outbox rows) before anyone subscribes or publishes.
    pub fn register<E: Event>(&self) {
        let _ = self.sender::<E>();
    }

    /// Never blocks. Returns how many subscribers received it.
    pub fn publish<E: Event>(&self, event: E) -> usize {
        metrics::counter!(super::EVENTS_PUBLISHED_TOTAL, "type" => E::TYPE).increment(1);
        self.sender::<E>().send(event).unwrap_or(0)
    }

    /// Whether `type_name` has a publisher (was registered or used).
    pub fn knows(&self, type_name: &str) -> bool {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_name
            .contains_key(type_name)
    }

    /// Publishes an event given by type name and JSON (outbox rows).
    pub fn publish_json(&self, type_name: &str, payload: &serde_json::Value) -> Result<(), String> {
        let publisher = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_name
            .get(type_name)
            .cloned();
        match publisher {
            Some(p) => p(self, payload),
            None => Err(format!("unknown event type `{type_name}`")),
        }
    }

    pub fn subscribe<E: Event>(&self) -> Subscription<E> {
        Subscription {
            rx: self.sender::<E>().subscribe(),
        }
    }
}

pub struct Subscription<E: Event> {
    rx: broadcast::Receiver<E>,
}

impl<E: Event> Subscription<E> {
    /// The next event; `None` when the bus is gone. Missed events are counted, not fatal.
    pub async fn recv(&mut self) -> Option<E> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    metrics::counter!(super::EVENTS_LAGGED_TOTAL, "type" => E::TYPE).increment(n);
                    tracing::warn!(
                        event = E::TYPE,
                        missed = n,
                        "slow subscriber skipped events"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

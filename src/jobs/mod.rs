//! Durable jobs on the database: the SQL [`JobStore`](actors::jobs::JobStore) and the
//! [`JobQueue`] facade that enqueues and wakes the queue's dispatcher at once.

pub mod store;

use actors::jobs::{Dispatcher, JobSpec, JobStore, Wake};
use actors::supervise::ActorRef;
use std::collections::HashMap;
use std::sync::Arc;

pub use store::SqlJobStore;

#[derive(Clone)]
pub struct JobQueue {
    store: Arc<SqlJobStore>,
    dispatchers: Arc<HashMap<String, ActorRef<Dispatcher>>>,
}

impl JobQueue {
    pub fn new(
        store: Arc<SqlJobStore>,
        dispatchers: HashMap<String, ActorRef<Dispatcher>>,
    ) -> Self {
        Self {
            store,
            dispatchers: Arc::new(dispatchers),
        }
    }

    /// Nudges a queue's dispatcher (after a retry through the API).
    pub fn wake(&self, queue: &str) {
        if let Some(d) = self.dispatchers.get(queue) {
            let _ = d.try_tell(Wake);
        }
    }

    /// Writes the job, then wakes its queue's dispatcher (no polling delay on one node).
    pub async fn enqueue(&self, spec: &JobSpec) -> anyhow::Result<(String, bool)> {
        let (id, created) = self.store.enqueue(spec).await?;
        if created && let Some(d) = self.dispatchers.get(&spec.queue) {
            // A full mailbox is fine: the next poll picks the job up.
            let _ = d.try_tell(Wake);
        }
        Ok((id, created))
    }
}

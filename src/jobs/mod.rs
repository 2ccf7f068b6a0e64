//! Durable jobs on the database: the SQL [`JobStore`](actors::jobs::JobStore) and the
//! [`JobQueue`] facade that enqueues and wakes the queue's dispatcher at once.

pub mod owner;
pub mod store;

use actors::jobs::{Dispatcher, JobRegistry, JobSpec, JobStore, UnknownJob, Wake};
use actors::supervise::ActorRef;
use std::collections::HashMap;
use std::sync::Arc;

pub use store::SqlJobStore;

#[derive(Clone)]
pub struct JobQueue {
    store: Arc<SqlJobStore>,
    dispatchers: Arc<HashMap<String, ActorRef<Dispatcher>>>,
    registry: Arc<JobRegistry>,
}

impl JobQueue {
    pub fn new(
        store: Arc<SqlJobStore>,
        dispatchers: HashMap<String, ActorRef<Dispatcher>>,
        registry: Arc<JobRegistry>,
    ) -> Self {
        Self {
            store,
            dispatchers: Arc::new(dispatchers),
            registry,
        }
    }

    /// Whether a job of `queue`/`name` with `payload` would run (schedules check this before
    /// they are saved, instead of firing jobs that die).
    pub fn validate(
        &self,
        queue: &str,
        name: &str,
        payload: &serde_json::Value,
    ) -> Result<(), UnknownJob> {
        self.registry.validate(queue, name, payload)
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

/// Stops the notification listener. It must be stopped while the runtime still runs: sqlx's
/// listener returns its connection from `Drop` by spawning a task.
pub struct ListenHandle {
    stop: tokio::sync::oneshot::Sender<()>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl ListenHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// On Postgres, wakes this process's dispatchers when any process enqueues (LISTEN/NOTIFY),
/// so several processes sharing a database need no polling delay either. Reconnects on error.
pub fn listen(db: crate::db::DbHandle, jobs: JobQueue) -> ListenHandle {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = actix_web::rt::spawn(async move {
        loop {
            let Some(crate::db::Db::Postgres(pool)) = db.get() else {
                if db.get().is_some() {
                    return; // SQLite: one process, in-process wake-ups suffice.
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    _ = &mut stopped => return,
                }
            };
            tokio::select! {
                res = listen_once(&pool, &jobs) => {
                    if let Err(e) = res {
                        tracing::warn!(error = %e, "job notifications interrupted; reconnecting");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                        _ = &mut stopped => return,
                    }
                }
                _ = &mut stopped => return,
            }
        }
    });
    ListenHandle { stop, task }
}

async fn listen_once(pool: &sqlx::PgPool, jobs: &JobQueue) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(store::CHANNEL).await?;
    loop {
        let n = listener.recv().await?;
        jobs.wake(n.payload());
    }
}

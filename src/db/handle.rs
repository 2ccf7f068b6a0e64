//! [`DbHandle`]: where the pool appears once the database is reachable.
//!
//! The service boots and serves HTTP even while the database is missing (it reports
//! not-ready), so code that needs the database asks the handle rather than holding a pool
//! from boot.

use super::Db;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct DbHandle {
    tx: watch::Sender<Option<Db>>,
    /// Why the service must stop: the database cannot be used by this binary (a schema newer
    /// than it knows, an edited migration). Set once; nothing clears it.
    fatal: watch::Sender<Option<String>>,
}

impl Default for DbHandle {
    fn default() -> Self {
        Self {
            tx: watch::Sender::new(None),
            fatal: watch::Sender::new(None),
        }
    }
}

impl DbHandle {
    /// A handle that already holds a pool (tools and tests that connect up front).
    pub fn connected(db: Db) -> Self {
        Self {
            tx: watch::Sender::new(Some(db)),
            fatal: watch::Sender::new(None),
        }
    }

    /// The pool, if connected and migrated.
    pub fn get(&self) -> Option<Db> {
        self.tx.borrow().clone()
    }

    pub(super) fn set(&self, db: Db) {
        self.tx.send_replace(Some(db));
    }

    /// The pool, for a port implementation: a `DependencyError` (retry later) while the
    /// database is not connected.
    pub fn port(&self) -> Result<Db, actors::ports::DependencyError> {
        self.get()
            .ok_or_else(|| actors::ports::DependencyError("database not connected".to_owned()))
    }

    /// Waits up to `timeout` for the pool. `None` if it did not appear in time or the
    /// database turned out [fatal](Self::fatal).
    pub async fn wait(&self, timeout: Duration) -> Option<Db> {
        let mut rx = self.tx.subscribe();
        let mut fatal = self.fatal.subscribe();
        let appeared = tokio::time::timeout(timeout, async {
            tokio::select! {
                db = rx.wait_for(Option::is_some) => db.ok().and_then(|db| db.clone()),
                _ = fatal.wait_for(Option::is_some) => None,
            }
        })
        .await;
        appeared.ok().flatten()
    }

    /// Records why this binary cannot use the database; the service stops with it.
    pub(super) fn set_fatal(&self, reason: String) {
        self.fatal.send_if_modified(|slot| {
            let first = slot.is_none();
            if first {
                *slot = Some(reason);
            }
            first
        });
    }

    /// The reason the service must stop, once known.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.borrow().clone()
    }

    /// Resolves with the reason when the database turns out unusable by this binary.
    pub async fn fatal_reason(&self) -> String {
        let mut rx = self.fatal.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The sender lives as long as this handle: never reached; wait forever.
            Err(_) => std::future::pending().await,
        }
    }

    /// Removes the pool and closes it (shutdown).
    pub async fn close(&self) {
        if let Some(db) = self.tx.send_replace(None) {
            db.close().await;
        }
    }
}

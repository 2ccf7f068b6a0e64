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
}

impl Default for DbHandle {
    fn default() -> Self {
        Self {
            tx: watch::Sender::new(None),
        }
    }
}

impl DbHandle {
    /// A handle that already holds a pool (tools and tests that connect up front).
    pub fn connected(db: Db) -> Self {
        Self {
            tx: watch::Sender::new(Some(db)),
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

    /// Waits up to `timeout` for the pool. `None` if it did not appear in time.
    pub async fn wait(&self, timeout: Duration) -> Option<Db> {
        let mut rx = self.tx.subscribe();
        let appeared = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        match appeared {
            Ok(Ok(db)) => db.clone(),
            _ => None,
        }
    }

    /// Removes the pool and closes it (shutdown).
    pub async fn close(&self) {
        if let Some(db) = self.tx.send_replace(None) {
            db.close().await;
        }
    }
}

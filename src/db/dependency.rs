//! The database as a [`Dependency`] port: connect + migrate once, then ping.

use super::{Db, DbHandle};
use crate::config::DatabaseSettings;
use actors::ports::{Dependency, DependencyError};
use async_trait::async_trait;

pub struct DbDependency {
    settings: DatabaseSettings,
    handle: DbHandle,
}

impl DbDependency {
    pub fn new(settings: DatabaseSettings, handle: DbHandle) -> Self {
        Self { settings, handle }
    }
}

/// sqlx's messages name the failure, never the URL or password, so they are safe to show.
fn public(e: &super::DbError) -> DependencyError {
    DependencyError(e.to_string())
}

#[async_trait]
impl Dependency for DbDependency {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn connect(&self) -> Result<(), DependencyError> {
        if self.handle.get().is_some() {
            return Ok(());
        }
        let db = Db::connect(&self.settings).await.map_err(|e| public(&e))?;
        if let Err(e) = db.migrate().await {
            db.close().await;
            if e.is_fatal() {
                // Retrying cannot help: the service stops with this message (startup.rs).
                self.handle.set_fatal(e.to_string());
            }
            return Err(public(&e));
        }
        self.handle.set(db);
        Ok(())
    }

    async fn check(&self) -> Result<(), DependencyError> {
        match self.handle.get() {
            Some(db) => db.ping().await.map_err(|e| public(&e)),
            None => Err(DependencyError("not connected".to_owned())),
        }
    }
}

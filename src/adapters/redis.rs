//! Redis as a [`Dependency`]: only used when `redis.url` is set (cross-node fan-out later).
//!
//! `ConnectionManager` reconnects by itself; the monitor only has to create it once and
//! then PING it. Blocking reads (stream consumers, later) need their own connection.

use crate::config::RedisSettings;
use actors::ports::{Dependency, DependencyError};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::sync::watch;

pub struct RedisDependency {
    settings: RedisSettings,
    manager: watch::Sender<Option<ConnectionManager>>,
}

impl RedisDependency {
    pub fn new(settings: RedisSettings) -> Self {
        Self {
            settings,
            manager: watch::Sender::new(None),
        }
    }

    /// The shared connection, once established.
    pub fn connection(&self) -> Option<ConnectionManager> {
        self.manager.borrow().clone()
    }
}

fn public(e: &redis::RedisError) -> DependencyError {
    // Redis errors can echo the URL in some cases; keep only the category and the reason.
    DependencyError(format!(
        "{:?}: {}",
        e.kind(),
        e.detail().unwrap_or("connection failed")
    ))
}

#[async_trait]
impl Dependency for RedisDependency {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn connect(&self) -> Result<(), DependencyError> {
        if self.connection().is_some() {
            return Ok(());
        }
        let client = redis::Client::open(self.settings.url.expose())
            .map_err(|e| DependencyError(format!("invalid redis.url: {:?}", e.kind())))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(self.settings.health_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(self.settings.health_timeout_ms)));
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| public(&e))?;
        self.manager.send_replace(Some(manager));
        Ok(())
    }

    async fn check(&self) -> Result<(), DependencyError> {
        let Some(mut conn) = self.connection() else {
            return Err(DependencyError("not connected".to_owned()));
        };
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| public(&e))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(DependencyError(format!("unexpected PING reply {pong:?}")))
        }
    }
}

//! Postgres connections for hot bounded reads (a page of jobs, of transactions), lent without
//! sqlx's pool.
//!
//! sqlx 0.8's pool pings every connection when it comes back (`return_to_pool`: a `Sync` and
//! a wait for `ReadyForQuery`), so each pooled read holds its connection for two round trips,
//! and under load the pool's eight connections, not Postgres, were the limit: `/v1/jobs`
//! answered 8.4k req/s while pgbench ran the same query at 87k q/s with as many clients
//! (`bench/http.sh`, docs/decisions.md "Hot reads off the pool"). Here a read holds a
//! connection for its one round trip.
//!
//! What the ping protected against is handled instead: a connection whose read did not finish
//! cleanly (an error, or the future dropped mid-read) is closed, never lent again; a
//! connection that died while idle (Postgres restarted) fails the one read that next uses it
//! and is closed, as with the pool (`test_before_acquire(false)`, see `pool.rs`). At most
//! `database.max_connections` such connections exist, beside the pool's own.

use super::sql::Sql;
use super::{DbError, DbRow};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::time::Duration;

pub struct PgReads {
    options: PgConnectOptions,
    /// One permit per connection that may exist; waiting for one is waiting for a reader.
    turns: tokio::sync::Semaphore,
    idle: std::sync::Mutex<Vec<PgConnection>>,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for PgReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgReads")
            .field("readers", &self.turns.available_permits())
            .finish_non_exhaustive()
    }
}

impl PgReads {
    pub fn new(options: PgConnectOptions, readers: u32, acquire_timeout: Duration) -> Self {
        Self {
            options,
            turns: tokio::sync::Semaphore::new(readers as usize),
            idle: std::sync::Mutex::new(Vec::new()),
            acquire_timeout,
        }
    }

    /// Every row of `sql` on a reader connection.
    #[tracing::instrument(skip_all)]
    pub async fn fetch_all<T: DbRow>(&self, sql: &Sql<'_>) -> Result<Vec<T>, DbError> {
        let turn = tokio::time::timeout(self.acquire_timeout, self.turns.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(DbError::Query(sqlx::Error::PoolTimedOut))?;
        let conn = match self.pop() {
            Some(conn) => conn,
            None => PgConnection::connect_with(&self.options).await?,
        };
        let mut lease = Lease {
            conn: Some(conn),
            reads: self,
        };
        let rows = super::query::fetch_all_on(lease.get(), sql).await?;
        lease.give_back();
        drop(turn);
        Ok(rows)
    }

    /// Closes idle readers (the database is closing).
    pub fn close(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn pop(&self) -> Option<PgConnection> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }
}

/// A lent reader: back to the idle list only through [`Lease::give_back`] (the read finished);
/// otherwise closed when dropped.
struct Lease<'a> {
    conn: Option<PgConnection>,
    reads: &'a PgReads,
}

impl Lease<'_> {
    fn get(&mut self) -> &mut PgConnection {
        // Taken out only by `give_back`, which consumes the lease.
        self.conn
            .as_mut()
            .expect("a lease holds its connection until given back")
    }

    fn give_back(mut self) {
        if let Some(conn) = self.conn.take() {
            self.reads
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

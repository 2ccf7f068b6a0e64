//! The read model: small, hot, rarely written tables (categories, API keys) served from
//! memory, so the reads that every request or screen makes cost no database round trip.
//!
//! Why: a profile of `GET /v1/financial/categories` under load spent most of its time in task
//! switches between the tokio workers and sqlx's SQLite worker threads, not in SQL or JSON.
//!
//! Correctness: a write is visible to the next read, in every process.
//! - In this process, each write function in `db`/`finance` that changes a cached table calls
//!   [`ReadModel::changed`] right after its commit. That bumps a generation and drops the
//!   cache; a read that began before the bump does not store what it read (it may predate the
//!   write), so no stale entry survives a write.
//! - Across processes sharing a Postgres database, the same writes send
//!   `pg_notify('ai_service_readmodel', table)` inside their transaction (delivered at commit)
//!   and each process's listener (`listen.rs`) calls `changed`. While that listener is not
//!   connected the cache is bypassed (reads go to the database), so a notification lost
//!   during a reconnect cannot leave a stale entry behind.
//! - SQLite is one process per file: in-process invalidation suffices.

mod listen;

pub use listen::{ListenHandle, listen};

use crate::db::api_keys::{self, ApiKeyRow};
use crate::db::{Db, DbError, Sql, Tx};
use crate::finance::categories::{self, CategoryRow};
use actix_web::web::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The Postgres channel the writes notify on.
pub const CHANNEL: &str = "ai_service_readmodel";

/// API keys beyond this are dropped all at once: the cache stays small whatever is presented.
const MAX_KEYS: usize = 1_000;

/// A cached table, named in the notification's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Categories,
    ApiKeys,
}

impl Table {
    fn as_str(self) -> &'static str {
        match self {
            Self::Categories => "categories",
            Self::ApiKeys => "api_keys",
        }
    }
}

/// On Postgres, tells every process's read model that `table` changed when `tx` commits.
/// Writers call it inside the transaction that writes (nothing to do on SQLite).
pub async fn notify(tx: &mut Tx, table: Table) -> Result<(), DbError> {
    if tx.is_postgres() {
        tx.execute(
            Sql::new("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(table.as_str()),
        )
        .await?;
    }
    Ok(())
}

#[derive(Default)]
struct Cached {
    categories: Option<Arc<Vec<CategoryRow>>>,
    /// The categories as the list endpoint sends them (rendered once per change: building
    /// the JSON of 20 rows per request cost more than everything else the handler does).
    categories_body: Option<Bytes>,
    /// By prefix; known keys only (a miss asks the database every time, so creating a key
    /// needs no invalidation, and guessed prefixes fill nothing).
    api_keys: HashMap<String, ApiKeyRow>,
}

#[derive(Default)]
pub struct ReadModel {
    cached: Mutex<Cached>,
    /// Bumped by every change: a read that started before one does not cache what it read.
    generation: AtomicU64,
    /// Postgres: whether the notification listener is connected (the cache is trusted only
    /// then). Unused on SQLite.
    listening: AtomicBool,
}

impl ReadModel {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// After a write to a cached table (called by the writer after its commit, and by the
    /// listener for other processes' writes). Drops everything: writes are rare.
    pub fn changed(&self) {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        *cached = Cached::default();
    }

    fn set_listening(&self, on: bool) {
        // Either way what is cached may have missed notifications: start over.
        self.changed();
        self.listening.store(on, Ordering::Release);
    }

    fn usable(&self, db: &Db) -> bool {
        match db {
            Db::Sqlite(_) => true,
            Db::Postgres(_) => self.listening.load(Ordering::Acquire),
        }
    }

    fn store(&self, generation: u64, put: impl FnOnce(&mut Cached)) {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock `changed` takes too, so no change slips in between.
        if self.generation.load(Ordering::Acquire) == generation {
            put(&mut cached);
        }
    }

    /// All categories, ordered by name (as `categories::list`).
    #[tracing::instrument(skip_all)]
    pub async fn categories(&self, db: &Db) -> Result<Arc<Vec<CategoryRow>>, DbError> {
        if !self.usable(db) {
            return Ok(Arc::new(categories::list(db).await?));
        }
        if let Some(rows) = &self
            .cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .categories
        {
            return Ok(Arc::clone(rows));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let rows = Arc::new(categories::list(db).await?);
        self.store(generation, |c| c.categories = Some(Arc::clone(&rows)));
        Ok(rows)
    }

    /// The categories rendered by `render` (the list endpoint's body), rendered once per
    /// change of the table. `render` must depend on the rows only.
    #[tracing::instrument(skip_all)]
    pub async fn categories_body(
        &self,
        db: &Db,
        render: impl FnOnce(&[CategoryRow]) -> Bytes,
    ) -> Result<Bytes, DbError> {
        if self.usable(db)
            && let Some(body) = &self
                .cached
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .categories_body
        {
            return Ok(body.clone());
        }
        // Read before the rows: rows read after a change are stored only if no other change
        // came in between (the same rule as `categories`).
        let generation = self.generation.load(Ordering::Acquire);
        let rows = self.categories(db).await?;
        let body = render(&rows);
        if self.usable(db) {
            self.store(generation, |c| c.categories_body = Some(body.clone()));
        }
        Ok(body)
    }

    /// The API key with this prefix (as `api_keys::by_prefix`).
    #[tracing::instrument(skip_all)]
    pub async fn api_key(&self, db: &Db, prefix: &str) -> Result<Option<ApiKeyRow>, DbError> {
        if !self.usable(db) {
            return api_keys::by_prefix(db, prefix).await;
        }
        if let Some(row) = self
            .cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .api_keys
            .get(prefix)
        {
            return Ok(Some(row.clone()));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let row = api_keys::by_prefix(db, prefix).await?;
        if let Some(row) = &row {
            self.store(generation, |c| {
                if c.api_keys.len() >= MAX_KEYS {
                    c.api_keys.clear();
                }
                c.api_keys.insert(prefix.to_owned(), row.clone());
            });
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_predates_a_change_is_not_cached() {
        let rm = ReadModel::default();
        let before = rm.generation.load(Ordering::Acquire);
        rm.changed();
        rm.store(before, |c| c.categories = Some(Arc::new(Vec::new())));
        assert!(rm.cached.lock().expect("lock").categories.is_none());
        let now = rm.generation.load(Ordering::Acquire);
        rm.store(now, |c| c.categories = Some(Arc::new(Vec::new())));
        assert!(rm.cached.lock().expect("lock").categories.is_some());
    }
}

//! [`Tx`]: a write transaction on either backend, and [`on_tx!`](crate::on_tx) to run one
//! query body against it.
//!
//! On SQLite every write transaction starts with `BEGIN IMMEDIATE`: a deferred transaction
//! that reads and then writes asks for the write lock only at its first write, and when
//! another connection committed in between SQLite refuses that upgrade at once
//! (`SQLITE_BUSY`/`SQLITE_BUSY_SNAPSHOT`, codes 5/517) without consulting `busy_timeout`.
//! Measured before this: 3 of 8 concurrent deploys and 41 of 200 concurrent uploads answered
//! 500 "database is locked". Taking the lock up front makes writers queue on `busy_timeout`
//! instead. Postgres keeps its plain `BEGIN` (row locks, no upgrade problem).

use super::inline::Inline;
use super::{Db, DbError, Sql};

/// An open write transaction. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    /// The transaction and this process's turn to write (see `pool::WriteGate`), released
    /// after the commit or rollback.
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>, super::WriteTurn),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection (`&mut SqliteConnection`
/// or `&mut PgConnection`), so a query is written once for both backends. Reborrow with
/// `&mut *$conn` to use it more than once. For `src/db` only.
#[doc(hidden)]
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t, _) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

impl Db {
    /// Begins a transaction that will write: on SQLite it holds the write lock from the
    /// start (waiting up to `busy_timeout` for it), so its reads and writes see one state.
    #[tracing::instrument(skip_all)]
    pub async fn begin_write(&self) -> Result<Tx, DbError> {
        Ok(match self {
            Self::Sqlite(p) => {
                // Our turn first, then SQLite's lock (free by then unless another process
                // holds it).
                let turn = p.gate.enter().await?;
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            Self::Postgres(p) => {
                // sqlx 0.8.6 leaks the transaction when `begin` is dropped while its BEGIN is
                // in flight: its rollback guard acts only once the depth is counted, after
                // BEGIN answered, so the connection went back to the pool inside an open
                // transaction and every later write through it vanished when it closed (test
                // `inline_reads::a_dropped_batch_is_all_or_nothing_and_the_connection_is_clean`,
                // a request cancelled at the wrong moment). Begun in its own task, BEGIN
                // always completes: a caller that has gone drops a whole `Transaction`,
                // which rolls back as usual. One spawn per write transaction.
                let pool = p.pool.clone();
                let begun = tokio::spawn(async move { pool.begin().await })
                    .await
                    .map_err(|_| DbError::Query(sqlx::Error::WorkerCrashed))?;
                Tx::Postgres(begun?)
            }
        })
    }
}

impl Db {
    /// A whole write transaction of `statements`, all or nothing (an error rolls it back).
    ///
    /// On SQLite it first runs on this thread (`inline.rs`: no hand-over at all); when that
    /// offloads (locked by another process, over budget, an error) nothing was written and
    /// it runs here as one hand-over to the connection's thread (`BEGIN IMMEDIATE; …; COMMIT`
    /// as one batch) instead of three (begin, batch, commit): on this VM each hand-over is a
    /// thread wake-up, and those were most of an order's write latency (`bench/trading.sh`,
    /// docs/decisions.md "One hand-over per write transaction"). sqlx does not know about a
    /// transaction begun inside a batch, so the connection must never go back to the pool
    /// with it open: after an error it is rolled back here, and if that fails, or the future is
    /// dropped mid-batch, the connection is closed instead of returned (closing rolls back).
    #[tracing::instrument(skip_all, fields(statements = statements.len()))]
    pub async fn write_batch(&self, statements: Vec<Sql<'_>>) -> Result<(), DbError> {
        let Self::Sqlite(p) = self else {
            let mut tx = self.begin_write().await?;
            tx.execute_all(statements).await?;
            return tx.commit().await;
        };
        let _turn = p.gate.enter().await?;
        if let Some(inline) = &p.inline
            && let Inline::Done(()) = inline.write_batch(&statements)
        {
            return Ok(());
        }
        let mut batch = Sql::new("BEGIN IMMEDIATE");
        for sql in statements {
            batch.then(sql);
        }
        batch.then(Sql::new("COMMIT"));
        let mut conn = OpenBatch(Some(p.pool.acquire().await?));
        let ran = super::query::execute_on(conn.get(), &batch).await;
        if let Err(e) = ran {
            if sqlx::query("ROLLBACK").execute(conn.get()).await.is_ok() {
                conn.release();
            }
            return Err(e);
        }
        conn.release();
        Ok(())
    }
}

/// A pooled SQLite connection running a batch that began a transaction: unless
/// [`OpenBatch::release`]d it is closed, not returned, so no transaction outlives the batch.
struct OpenBatch(Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>);

impl OpenBatch {
    fn get(&mut self) -> &mut sqlx::SqliteConnection {
        // Only `release` and `drop` take the connection out, and both consume the guard.
        self.0
            .as_deref_mut()
            .expect("the batch's connection is held until released")
    }

    /// Back to the pool: the transaction ended (committed or rolled back).
    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for OpenBatch {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Detached, then dropped: sqlx closes it, and SQLite rolls back what was open.
            drop(conn.detach());
        }
    }
}

impl Tx {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    pub async fn commit(self) -> Result<(), DbError> {
        match self {
            Self::Sqlite(t, _turn) => t.commit().await?,
            Self::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Rolls back now (dropping the transaction does the same, later).
    pub async fn rollback(self) -> Result<(), DbError> {
        match self {
            Self::Sqlite(t, _turn) => t.rollback().await?,
            Self::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    /// Serialises writers of the same `keys` inside this transaction, so each lock dies with
    /// it: a killed process (its connection gone) or a rollback frees it at once, and a retry
    /// takes it without waiting out a TTL. SQLite needs nothing: the transaction began
    /// `IMMEDIATE`, so it already is the only writer. On Postgres a transaction-scoped
    /// advisory lock per key, taken in key order (a `BTreeSet`: no deadlock between two
    /// writers); waiting for one is waiting, not a failed attempt, and `lock_timeout` bounds
    /// the wait for a writer that hangs.
    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    pub async fn lock_keys(
        &mut self,
        keys: &std::collections::BTreeSet<String>,
    ) -> Result<(), DbError> {
        let Self::Postgres(t) = self else {
            return Ok(());
        };
        sqlx::query("SET LOCAL lock_timeout = '120s'")
            .execute(&mut **t)
            .await?;
        for key in keys {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }
}

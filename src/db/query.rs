//! Running a [`Sql`] on the pool ([`Db`]) or inside a write transaction ([`Tx`]): execute, or
//! fetch rows decoded into a type that reads the same on both backends ([`DbRow`]).
//!
//! Every error leaves through `DbError::from(sqlx::Error)`, so a unique violation becomes
//! `DbError::Conflict` in that one place.
//!
//! The spans here are at `debug`: they wrap every query and carry no fields, and at `info`
//! (the default) opening and closing one per read was ~2 % of the CPU of a small read (perf,
//! 2026-12-04). Their callers keep `info` spans where they have fields worth showing.

use super::inline::Inline;
use super::page_row::PageRow;
use super::sql::{Arg, Sql};
use super::{Db, DbError, Tx};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

/// A row type that decodes from either backend's rows (derive `sqlx::FromRow`, or a tuple).
pub trait DbRow:
    for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> DbRow for T where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

/// Binds every value of `$args` (a `&[Arg]`) to a sqlx query of either backend, as the types
/// the stores always bound (see `sql.rs`).
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(v) => q.bind(v.as_deref()),
                Arg::Int(v) => q.bind(*v),
                Arg::Bool(v) => q.bind(*v),
                Arg::Bytes(v) => q.bind(v.as_deref()),
                Arg::Float(v) => q.bind(*v),
                Arg::Time(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// Runs `sql` on one SQLite connection (a batch of statements runs in one call); rows changed.
pub(super) async fn execute_on(
    conn: &mut sqlx::SqliteConnection,
    sql: &Sql<'_>,
) -> Result<u64, DbError> {
    Ok(bind_args!(sqlx::query(&sql.text), &sql.args)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())?)
}

impl Db {
    /// Runs a statement; the number of rows it changed. On SQLite it takes this process's
    /// turn to write first (a statement run with `execute` is a write).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn execute<'a>(&self, sql: impl Into<Sql<'a>>) -> Result<u64, DbError> {
        let sql = sql.into();
        let _turn = self.write_turn().await?;
        Ok(crate::on_db!(self, |p| bind_args!(
            sqlx::query(&sql.text),
            &sql.args
        )
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fetch_all<'a, T: DbRow>(
        &self,
        sql: impl Into<Sql<'a>>,
    ) -> Result<Vec<T>, DbError> {
        let sql = sql.into();
        Ok(crate::on_db!(self, |p| bind_args!(
            sqlx::query_as::<_, T>(&sql.text),
            &sql.args
        )
        .fetch_all(p)
        .await)?)
    }

    /// [`Db::fetch_all`] for a hot read with a bounded result (a page): on SQLite on this
    /// thread when it is quick (`inline.rs`), else on the pool; on Postgres pipelined with
    /// other hot reads (`pg_pipe.rs`), else on the pool. Only for reads that are quick (an
    /// index range): a slow one would hold up those pipelined behind it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fetch_page<'a, T: DbRow + PageRow>(
        &self,
        sql: impl Into<Sql<'a>>,
    ) -> Result<Vec<T>, DbError> {
        let sql = sql.into();
        match self.try_page(&sql).await {
            Some(rows) => Ok(rows),
            None => self.fetch_all(sql).await,
        }
    }

    /// The rows of `sql` by a quick path, or `None`: read them through the pool. On SQLite
    /// read on this thread when the read is quick (`inline.rs`); on Postgres pipelined with
    /// other hot reads (`pg_pipe.rs`). Only for reads that are quick (an index range), as
    /// [`Db::fetch_page`].
    pub async fn try_page<T: PageRow>(&self, sql: &Sql<'_>) -> Option<Vec<T>> {
        match self {
            Self::Sqlite(s) => match s.inline.as_ref()?.fetch_all(sql) {
                Inline::Done(rows) => Some(rows),
                Inline::Offload => None,
            },
            Self::Postgres(p) => p.pipe.as_ref()?.fetch_all(sql).await,
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fetch_one<'a, T: DbRow>(&self, sql: impl Into<Sql<'a>>) -> Result<T, DbError> {
        let sql = sql.into();
        Ok(crate::on_db!(self, |p| bind_args!(
            sqlx::query_as::<_, T>(&sql.text),
            &sql.args
        )
        .fetch_one(p)
        .await)?)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fetch_optional<'a, T: DbRow>(
        &self,
        sql: impl Into<Sql<'a>>,
    ) -> Result<Option<T>, DbError> {
        let sql = sql.into();
        Ok(crate::on_db!(self, |p| bind_args!(
            sqlx::query_as::<_, T>(&sql.text),
            &sql.args
        )
        .fetch_optional(p)
        .await)?)
    }

    /// The first column of the one row (`COUNT(*)`, `SUM(…)`).
    pub async fn fetch_scalar<'a, T>(&self, sql: impl Into<Sql<'a>>) -> Result<T, DbError>
    where
        (T,): DbRow,
    {
        Ok(self.fetch_one::<(T,)>(sql).await?.0)
    }

    /// The first column of the row, if there is one.
    pub async fn fetch_scalar_optional<'a, T>(
        &self,
        sql: impl Into<Sql<'a>>,
    ) -> Result<Option<T>, DbError>
    where
        (T,): DbRow,
    {
        Ok(self.fetch_optional::<(T,)>(sql).await?.map(|(v,)| v))
    }

    /// Rows one at a time, as the database returns them (large results read in pieces).
    pub fn fetch<'s, T: DbRow + 's>(
        &'s self,
        sql: &'s Sql<'s>,
    ) -> BoxStream<'s, Result<T, DbError>> {
        crate::on_db!(self, |p| bind_args!(
            sqlx::query_as::<_, T>(&sql.text),
            &sql.args
        )
        .fetch(p)
        .map_err(DbError::from)
        .boxed())
    }
}

impl Tx {
    /// Runs a statement; the number of rows it changed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn execute<'a>(&mut self, sql: impl Into<Sql<'a>>) -> Result<u64, DbError> {
        let sql = sql.into();
        Ok(crate::on_tx!(self, |c| bind_args!(
            sqlx::query(&sql.text),
            &sql.args
        )
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// Runs statements in order. On SQLite they go to the connection's worker thread as one
    /// batch ([`Sql::then`]): one round trip (two thread wake-ups, ~0.1-0.2 ms on this VM)
    /// instead of one per statement. Postgres takes one statement per query. An error stops
    /// the rest either way; the caller rolls back.
    #[tracing::instrument(level = "debug", skip_all, fields(statements = statements.len()))]
    pub async fn execute_all<'a>(&mut self, statements: Vec<Sql<'a>>) -> Result<(), DbError> {
        if self.is_postgres() {
            for sql in statements {
                self.execute(sql).await?;
            }
            return Ok(());
        }
        let mut batch = Sql::default();
        for sql in statements {
            batch.then(sql);
        }
        self.execute(batch).await.map(drop)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fetch_all<'a, T: DbRow>(
        &mut self,
        sql: impl Into<Sql<'a>>,
    ) -> Result<Vec<T>, DbError> {
        let sql = sql.into();
        Ok(crate::on_tx!(self, |c| bind_args!(
            sqlx::query_as::<_, T>(&sql.text),
            &sql.args
        )
        .fetch_all(c)
        .await)?)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fetch_one<'a, T: DbRow>(&mut self, sql: impl Into<Sql<'a>>) -> Result<T, DbError> {
        let sql = sql.into();
        Ok(crate::on_tx!(self, |c| bind_args!(
            sqlx::query_as::<_, T>(&sql.text),
            &sql.args
        )
        .fetch_one(c)
        .await)?)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fetch_optional<'a, T: DbRow>(
        &mut self,
        sql: impl Into<Sql<'a>>,
    ) -> Result<Option<T>, DbError> {
        let sql = sql.into();
        Ok(crate::on_tx!(self, |c| bind_args!(
            sqlx::query_as::<_, T>(&sql.text),
            &sql.args
        )
        .fetch_optional(c)
        .await)?)
    }

    /// The first column of the one row.
    pub async fn fetch_scalar<'a, T>(&mut self, sql: impl Into<Sql<'a>>) -> Result<T, DbError>
    where
        (T,): DbRow,
    {
        Ok(self.fetch_one::<(T,)>(sql).await?.0)
    }

    /// The first column of the row, if there is one.
    pub async fn fetch_scalar_optional<'a, T>(
        &mut self,
        sql: impl Into<Sql<'a>>,
    ) -> Result<Option<T>, DbError>
    where
        (T,): DbRow,
    {
        Ok(self.fetch_optional::<(T,)>(sql).await?.map(|(v,)| v))
    }
}

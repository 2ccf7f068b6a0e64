//! Storage: one enum over typed sqlx pools, so each backend keeps its native types
//! (sqlx's `Any` driver cannot decode SQLite booleans or dates; see notes).
//!
//! Layout:
//! - `pool.rs`: [`Db`], connecting (SQLite file + WAL, or Postgres) and pinging.
//! - `checkpoint.rs`: SQLite WAL checkpoints in the background, off the write path.
//! - `migrate.rs`: embedded per-backend migrations, safe under concurrent boots.
//! - `sql.rs`: [`Sql`] (text + values) and [`Record`] (a row type's columns and values, once).
//! - `query.rs`: `execute` / `fetch_*` on [`Db`] and [`Tx`], decoding into [`DbRow`] types.
//! - `inline.rs`: hot bounded SQLite reads and small write transactions on the caller's thread.
//! - `page_row.rs`: [`PageRow`], a hot page's row type, read by rusqlite and tokio-postgres.
//! - `pg_pipe.rs`: hot bounded Postgres reads pipelined on a few shared connections.
//! - `tx.rs`: [`Tx`], write transactions (`BEGIN IMMEDIATE` on SQLite, transaction-scoped
//!   advisory locks on Postgres) and `on_tx!`.
//! - `handle.rs`: [`DbHandle`], the slot that holds the pool once it exists.
//! - `dependency.rs`: the `Dependency` port implementation the monitor actor drives.
//! - `users.rs`, `tokens.rs`, `api_keys.rs`, `audit.rs`, `integrations.rs`: queries.
//!
//! Code outside this folder runs SQL only through `Sql` and the `query.rs` methods; the
//! backend macros `on_db!`/`on_tx!` are for this folder alone.

/// Runs `$body` with `$pool` bound to whichever typed pool `$db` holds, so each query is
/// written once and still decodes with the backend's native types. For `src/db` only.
#[doc(hidden)]
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(sqlite) => {
                let $pool = &sqlite.pool;
                $body
            }
            $crate::db::Db::Postgres(postgres) => {
                let $pool = &postgres.pool;
                $body
            }
        }
    };
}

pub mod api_keys;
pub mod audit;
pub mod backup;
mod checkpoint;
mod dependency;
mod handle;
mod inline;
pub mod integrations;
mod migrate;
mod page_row;
mod pg_pipe;
mod pool;
mod query;
pub mod sql;
pub mod tokens;
mod tx;
pub mod users;

pub use dependency::DbDependency;

/// Any storage error as the ports' `DependencyError` (its message only: no credentials are
/// in sqlx's error texts).
pub fn port_error(e: impl std::fmt::Display) -> actors::ports::DependencyError {
    actors::ports::DependencyError(e.to_string())
}
pub use handle::DbHandle;
pub use inline::{DB_INLINE_READS_TOTAL, DB_INLINE_WRITES_TOTAL};
pub use migrate::{embedded_count, newest_embedded};
pub use page_row::{Columns, PageRow};
pub use pg_pipe::{DB_PIPELINED_READS_TOTAL, PIPE_APPLICATION_NAME};
pub use pool::{DB_WRITE_TURN_WAIT_SECONDS, Db, DbError, PgDb, SqliteDb, WriteTurn};
pub use query::DbRow;
pub use sql::{Arg, Record, Sql};
pub use tx::Tx;

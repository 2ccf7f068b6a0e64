//! Storage: one enum over typed sqlx pools, so each backend keeps its native types
//! (sqlx's `Any` driver cannot decode SQLite booleans or dates; see notes).
//!
//! Layout:
//! - `pool.rs`: [`Db`], connecting (SQLite file + WAL, or Postgres) and pinging.
//! - `migrate.rs`: embedded per-backend migrations, safe under concurrent boots.
//! - `handle.rs`: [`DbHandle`], the slot that holds the pool once it exists.
//! - `dependency.rs`: the `Dependency` port implementation the monitor actor drives.

mod dependency;
mod handle;
mod migrate;
mod pool;

pub use dependency::DbDependency;
pub use handle::DbHandle;
pub use migrate::embedded_count;
pub use pool::{Db, DbError};

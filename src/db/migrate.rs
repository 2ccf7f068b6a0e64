//! Embedded migrations, one folder per backend (`migrations/sqlite`, `migrations/postgres`)
//! because DDL differs in places (ids, timestamps, JSON).
//!
//! Concurrent boots: sqlx takes a Postgres advisory lock around the run. SQLite has no such
//! lock in sqlx, so an exclusive OS file lock on `<db file>.migrate.lock` serialises processes
//! (and pools) migrating the same file; the second one then finds nothing left to apply.

use super::{Db, DbError};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use std::path::PathBuf;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Applies every pending migration. Idempotent and safe to run from several processes.
    #[tracing::instrument(skip_all, fields(backend = ?self.backend()))]
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Self::Postgres(pool) => POSTGRES.run(pool).await.map_err(DbError::Migrate)?,
            Self::Sqlite(pool) => {
                let _lock = match sqlite_lock_path(&pool.connect_options()) {
                    Some(path) => Some(lock_file(path).await?),
                    None => None,
                };
                SQLITE.run(pool).await.map_err(DbError::Migrate)?;
            }
        }
        tracing::info!("database schema is up to date");
        Ok(())
    }

    /// Versions of the applied migrations, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, DbError> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await?,
            Self::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await?,
        })
    }
}

/// The number of migrations built into this binary for `backend`.
pub fn embedded_count(backend: crate::config::Backend) -> usize {
    match backend {
        crate::config::Backend::Sqlite => SQLITE.iter().count(),
        crate::config::Backend::Postgres => POSTGRES.iter().count(),
    }
}

/// `<db file>.migrate.lock`: the OS lock serialising pool creation and migrations of one
/// SQLite file across processes. `None` for in-memory databases (nothing can share them).
pub(super) fn sqlite_lock_path(options: &SqliteConnectOptions) -> Option<PathBuf> {
    let file = options.get_filename();
    let name = file.to_string_lossy();
    if name.is_empty() || name.contains(":memory:") {
        return None;
    }
    Some(PathBuf::from(format!("{name}.migrate.lock")))
}

/// Blocks (off the async threads) until this process holds the exclusive lock.
pub(super) async fn lock_file(path: PathBuf) -> Result<std::fs::File, DbError> {
    let for_error = path.clone();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| DbError::MigrationLock {
        path: for_error.clone(),
        source: std::io::Error::other(e),
    })?
    .map_err(|source| DbError::MigrationLock {
        path: for_error,
        source,
    })
}

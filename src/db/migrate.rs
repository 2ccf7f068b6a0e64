//! Embedded migrations, one folder per backend (`migrations/sqlite`, `migrations/postgres`)
//! because DDL differs in places (ids, timestamps, JSON).
//!
//! Forward-only and checksummed: an applied migration whose file changed, one that failed
//! part-way, or a database migrated by a newer binary (a version this one does not know) are
//! [fatal](DbError::is_fatal): the service refuses to start instead of running on a schema it
//! does not understand. The newer-schema check is ours, before sqlx runs, so it does not rest
//! on sqlx's `ignore_missing` default.
//!
//! Concurrent boots: sqlx takes a Postgres advisory lock around the run. SQLite has no such
//! lock in sqlx, so an exclusive OS file lock on `<db file>.migrate.lock` serialises processes
//! (and pools) migrating the same file; the second one then finds nothing left to apply.

use super::{Db, DbError};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::SqliteConnectOptions;
use std::path::PathBuf;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Applies every pending migration. Idempotent and safe to run from several processes.
    #[tracing::instrument(skip_all, fields(backend = ?self.backend()))]
    pub async fn migrate(&self) -> Result<(), DbError> {
        let binary = newest_embedded(self.backend());
        if let Some(database) = self.schema_version().await?
            && database > binary
        {
            return Err(DbError::SchemaNewer { database, binary });
        }
        let result = match self {
            Self::Postgres(pool) => POSTGRES.run(&pool.pool).await,
            Self::Sqlite(pool) => {
                let _lock = match sqlite_lock_path(&pool.connect_options()) {
                    Some(path) => Some(lock_file(path).await?),
                    None => None,
                };
                SQLITE.run(&pool.pool).await
            }
        };
        match result {
            Ok(()) => {}
            Err(MigrateError::VersionMismatch(version)) => {
                return Err(DbError::MigrationChanged { version });
            }
            Err(MigrateError::VersionMissing(version)) => {
                return Err(DbError::MigrationUnknown { version, binary });
            }
            Err(MigrateError::Dirty(version)) => return Err(DbError::MigrationDirty { version }),
            Err(e) => return Err(DbError::Migrate(e)),
        }
        tracing::info!("database schema is up to date");
        Ok(())
    }

    /// The newest applied migration (the schema version); `None` before the first migration.
    pub async fn schema_version(&self) -> Result<Option<i64>, DbError> {
        let exists = match self {
            Self::Sqlite(p) => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(&p.pool)
            .await
            .map(|n| n > 0)?,
            Self::Postgres(p) => {
                sqlx::query_scalar::<_, bool>("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(&p.pool)
                    .await?
            }
        };
        if !exists {
            return Ok(None);
        }
        Ok(self.applied_migrations().await?.last().copied())
    }

    /// Versions of the applied migrations, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, DbError> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(&p.pool).await?,
            Self::Postgres(p) => sqlx::query_scalar(sql).fetch_all(&p.pool).await?,
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

/// The newest migration built into this binary for `backend` (the schema version it writes).
pub fn newest_embedded(backend: crate::config::Backend) -> i64 {
    let migrator = match backend {
        crate::config::Backend::Sqlite => &SQLITE,
        crate::config::Backend::Postgres => &POSTGRES,
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
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

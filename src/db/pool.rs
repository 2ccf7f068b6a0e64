//! [`Db`]: the connection pool for whichever backend `database.url` names.

use crate::config::{Backend, DatabaseSettings, secs};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub const DB_WRITE_TURN_WAIT_SECONDS: &str = "db_write_turn_wait_seconds";

/// How long a SQLite writer waits for the lock (SQLite's `busy_timeout`, and our
/// [`WriteGate`]) before the write fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database.url: {0}")]
    Url(String),
    #[error("cannot create the database directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error(
        "the database's schema is at migration {database}, newer than this binary knows (its newest is {binary}): \
         a newer ai-service has upgraded this database. Run that version or a newer one, or restore a \
         backup taken before the upgrade; refusing to start so nothing is corrupted"
    )]
    SchemaNewer { database: i64, binary: i64 },
    #[error(
        "migration {version} is applied to this database but this binary does not have it (its newest is \
         {binary}): the database was migrated by another build. Run that build; refusing to start"
    )]
    MigrationUnknown { version: i64, binary: i64 },
    #[error(
        "migration {version} was applied to this database but its file in this binary has changed since: \
         migrations are forward-only, an applied one must never be edited (add a new migration instead); \
         refusing to start"
    )]
    MigrationChanged { version: i64 },
    #[error(
        "migration {version} failed part-way on an earlier start and left the schema half-changed: \
         restore a backup (`ai-service restore`); refusing to start"
    )]
    MigrationDirty { version: i64 },
    #[error("migration lock {path}: {source}")]
    MigrationLock {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A unique constraint refused the write (a name or key that exists). Mapped here, once,
    /// so handlers match `DbError::Conflict` instead of digging in sqlx errors.
    #[error("already exists ({constraint})")]
    Conflict {
        constraint: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database query failed: {0}")]
    Query(#[source] sqlx::Error),
}

impl DbError {
    /// Errors retrying cannot fix: the schema and this binary do not fit together. The
    /// service stops with the message instead of waiting for the database to change.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::SchemaNewer { .. }
                | Self::MigrationUnknown { .. }
                | Self::MigrationChanged { .. }
                | Self::MigrationDirty { .. }
        )
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => Self::Conflict {
                constraint: d.constraint().unwrap_or("unique").to_owned(),
                source: e,
            },
            _ => Self::Query(e),
        }
    }
}

/// A pool for one backend. Cloning is cheap (pools are reference counted).
///
/// Both pools skip sqlx's ping before handing out a connection (`test_before_acquire`):
/// sqlx 0.8 already pings every connection when it comes back (`return_to_pool`), so a
/// query cost three round trips (ping, query, ping); on SQLite each is a hand-off to the
/// connection's worker thread and back, and those task switches were the bulk of a cheap
/// read's cost (see decisions.md, "HTTP reads near the limit"). What is lost: a connection
/// that died while idle in the pool (Postgres restarted) fails the one query that next
/// uses it, instead of being replaced silently; sqlx then drops it.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// The Postgres pool and the lanes for hot reads (`pg_pipe.rs`; `None` when the server is
/// reached over TLS). Derefs to the pool.
#[derive(Debug, Clone)]
pub struct PgDb {
    pub pool: PgPool,
    pub(super) pipe: Option<std::sync::Arc<super::pg_pipe::PgPipe>>,
}

impl std::ops::Deref for PgDb {
    type Target = PgPool;
    fn deref(&self) -> &PgPool {
        &self.pool
    }
}

/// The SQLite pool and its writer gate ([`WriteGate`]). Derefs to the pool.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    pub pool: SqlitePool,
    pub(super) gate: WriteGate,
    /// Hot bounded reads and small write transactions on the caller's thread (`inline.rs`);
    /// `None` in memory.
    pub(super) inline: Option<std::sync::Arc<super::inline::InlineSqlite>>,
    _checkpointer: std::sync::Arc<super::checkpoint::Checkpointer>,
}

impl std::ops::Deref for SqliteDb {
    type Target = SqlitePool;
    fn deref(&self) -> &SqlitePool {
        &self.pool
    }
}

/// SQLite has one writer at a time. Without this gate, two of this process's writers that
/// collide both ask SQLite, and the loser sleeps in SQLite's busy handler (sleeps of 1, 2, 5,
/// 10 … 100 ms, not woken when the lock frees): 100 strategies' writes queued for p99 224 ms
/// that way (docs/decisions.md, "Trading benchmark on a venue"). Here they queue in order on
/// a fair semaphore instead and start the moment the previous writer is done. Other
/// processes (the CLI, a second service) still meet on SQLite's lock and `busy_timeout`.
#[derive(Debug, Clone)]
pub(super) struct WriteGate {
    turn: std::sync::Arc<tokio::sync::Semaphore>,
    /// As long as `busy_timeout`: a writer waits no longer here than it would on SQLite.
    wait: Duration,
}

/// This process's turn to write on SQLite; the next writer starts when it is dropped.
#[derive(Debug)]
pub struct WriteTurn(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl WriteGate {
    fn new() -> Self {
        Self {
            turn: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            wait: BUSY_TIMEOUT,
        }
    }

    /// Waits for this process's turn to write. A writer that holds the turn for longer than
    /// `busy_timeout` makes the next one fail as a pool timeout would (503, retryable),
    /// as SQLite's own lock did before.
    pub(super) async fn enter(&self) -> Result<WriteTurn, DbError> {
        let started = std::time::Instant::now();
        let permit = tokio::time::timeout(self.wait, self.turn.clone().acquire_owned()).await;
        metrics::histogram!(DB_WRITE_TURN_WAIT_SECONDS).record(started.elapsed().as_secs_f64());
        match permit {
            Ok(Ok(permit)) => Ok(WriteTurn(permit)),
            // Timed out, or the semaphore closed (never done): both mean "no turn".
            _ => Err(DbError::Query(sqlx::Error::PoolTimedOut)),
        }
    }
}

impl Db {
    /// This process's turn to write, on SQLite (`None` on Postgres, where writers do not
    /// exclude each other). For writes that do not go through [`Db::begin_write`] or
    /// [`Db::execute`], e.g. `UPDATE … RETURNING` read with `fetch_all`.
    pub async fn write_turn(&self) -> Result<Option<WriteTurn>, DbError> {
        match self {
            Self::Sqlite(s) => s.gate.enter().await.map(Some),
            Self::Postgres(_) => Ok(None),
        }
    }
}

impl Db {
    /// Connects (creating the SQLite file and its directory when missing).
    #[tracing::instrument(skip_all, fields(backend = ?settings.backend()))]
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let url = settings.url.expose();
        let acquire = secs(settings.acquire_timeout_secs);
        match settings.backend() {
            Backend::Sqlite => {
                let options = sqlite_options(url)?;
                ensure_parent_dir(&options).await?;
                // Switching a new file to WAL needs an exclusive lock that SQLite does not wait
                // for; two processes creating the file at once would see "database is locked".
                let _guard = match super::migrate::sqlite_lock_path(&options) {
                    Some(path) => Some(super::migrate::lock_file(path).await?),
                    None => None,
                };
                let inline = super::inline::InlineSqlite::new(options.get_filename())
                    .map(std::sync::Arc::new);
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(acquire)
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Self::Sqlite(SqliteDb {
                    inline,
                    _checkpointer: std::sync::Arc::new(super::checkpoint::Checkpointer::start(
                        pool.clone(),
                    )),
                    pool,
                    gate: WriteGate::new(),
                }))
            }
            Backend::Postgres => {
                let options = pg_options(url)?;
                // One direct connection first: it fails at once when the server is down,
                // where the pool would keep retrying until its acquire timeout. The monitor
                // owns retrying (with backoff and readiness reporting).
                PgConnection::connect_with(&options)
                    .await
                    .map_err(DbError::Connect)?
                    .close()
                    .await
                    .map_err(DbError::Connect)?;
                let pipe = super::pg_pipe::PgPipe::for_url(url, settings.page_lanes, acquire)
                    .map(std::sync::Arc::new);
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(acquire)
                    .test_before_acquire(false)
                    .connect_lazy_with(options);
                Ok(Self::Postgres(PgDb { pool, pipe }))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// One round trip.
    #[tracing::instrument(skip_all)]
    pub async fn ping(&self) -> Result<(), DbError> {
        match self {
            Self::Sqlite(p) => sqlx::query("SELECT 1").execute(&p.pool).await.map(drop)?,
            Self::Postgres(p) => sqlx::query("SELECT 1").execute(&p.pool).await.map(drop)?,
        }
        Ok(())
    }

    /// Waits for checked-out connections to come back, then closes all of them.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(p) => {
                if let Some(inline) = &p.inline {
                    inline.close();
                }
                p.close().await
            }
            Self::Postgres(p) => {
                if let Some(pipe) = &p.pipe {
                    pipe.close();
                }
                p.pool.close().await
            }
        }
    }
}

pub(super) fn pg_options(url: &str) -> Result<PgConnectOptions, DbError> {
    Ok(PgConnectOptions::from_str(url)
        .map_err(|e| DbError::Url(e.to_string()))?
        .application_name("ai-service"))
}

pub(super) fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, DbError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| DbError::Url(e.to_string()))?
        .create_if_missing(true)
        // WAL: readers never block the writer, which suits one process with many actors.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // Writers queue for the lock instead of failing at once with SQLITE_BUSY.
        .busy_timeout(BUSY_TIMEOUT)
        // Checkpoints run in the background (`checkpoint.rs`); inline only past this.
        .pragma(
            "wal_autocheckpoint",
            super::checkpoint::SAFETY_NET_PAGES.to_string(),
        ))
}

async fn ensure_parent_dir(options: &SqliteConnectOptions) -> Result<(), DbError> {
    let file = options.get_filename();
    if file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:") {
        return Ok(());
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| DbError::Directory {
                    path: dir.to_path_buf(),
                    source,
                })
        }
        _ => Ok(()),
    }
}

//! SQLite reads on the calling thread, for hot bounded reads (a page of jobs, of transactions).
//!
//! sqlx runs every SQLite connection on its own thread: a read is a hand-over to that thread
//! and back, and sqlx pings the connection when it comes back to the pool (a second
//! hand-over). Under load those task switches, not SQL, were most of a cheap read's CPU
//! (docs/decisions.md, "Hot reads on the request's thread"). Here a small set of read-only
//! connections (rusqlite, the same bundled SQLite) runs the statement where the request is.
//!
//! What keeps this safe:
//! - **Consistency**: WAL readers see every transaction committed before the read starts, by
//!   any connection or process, so a write is visible to the next read exactly as on the pool.
//! - **Never a long block**: SQLite's progress handler stops a statement after
//!   [`BUDGET_STEPS`] × [`STEP`] virtual-machine instructions (~1 ms here); the read then runs on
//!   the pool instead ([`Inline::Offload`]), as do reads that meet a lock (`busy_timeout` 0),
//!   values this path does not bind (times, bytes) and any other error, so the error the
//!   caller sees is the pool's, mapped as always.
//! - **Read-only**: `query_only`, so a statement here can never write.

use super::sql::{Arg, Sql};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub const DB_INLINE_READS_TOTAL: &str = "db_inline_reads_total";

/// The progress handler runs every `STEP` instructions…
const STEP: i32 = 10_000;
/// …and stops the statement at the `BUDGET_STEPS`-th call: 200k instructions, ~1 ms on this
/// machine (a 51-row page of transactions takes ~15k).
const BUDGET_STEPS: u32 = 20;
/// Idle connections kept (one per HTTP worker is enough; more are opened under load and closed).
const KEEP: usize = 4;

/// A row type that reads itself from a rusqlite row, columns in the order its query selects.
pub trait InlineRow: Sized {
    fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// What an inline read gave.
#[derive(Debug)]
pub enum Inline<T> {
    Done(T),
    /// Run it on the pool: too long, locked, or not for this path.
    Offload,
}

/// Read-only connections to one SQLite file, lent to one read at a time.
pub struct InlineReads {
    path: PathBuf,
    budget_steps: u32,
    idle: std::sync::Mutex<Vec<Reader>>,
}

impl std::fmt::Debug for InlineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReads")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

struct Reader {
    conn: Connection,
    /// Progress-handler calls since the current statement started.
    steps: Arc<AtomicU32>,
}

impl InlineReads {
    /// `None` for an in-memory database (no second connection can see it).
    pub fn new(file: &Path) -> Option<Self> {
        Self::with_budget(file, BUDGET_STEPS)
    }

    fn with_budget(file: &Path, budget_steps: u32) -> Option<Self> {
        let name = file.to_string_lossy();
        if name.is_empty() || name.contains(":memory:") || name.contains("mode=memory") {
            return None;
        }
        Some(Self {
            path: file.to_path_buf(),
            budget_steps,
            idle: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Every row of `sql`, read on this thread, or [`Inline::Offload`].
    pub fn fetch_all<T: InlineRow>(&self, sql: &Sql<'_>) -> Inline<Vec<T>> {
        let outcome = match self.run(sql) {
            Ok(Some(rows)) => Inline::Done(rows),
            Ok(None) => Inline::Offload,
            Err(e) => {
                // Interrupted (over budget) and busy are expected; anything else is worth a look,
                // but the pool runs the read again and reports its own error if it has one.
                if !is_expected(&e) {
                    tracing::warn!(error = %e, "inline read failed; reading through the pool");
                }
                Inline::Offload
            }
        };
        let label = match outcome {
            Inline::Done(_) => "done",
            Inline::Offload => "offloaded",
        };
        metrics::counter!(DB_INLINE_READS_TOTAL, "outcome" => label).increment(1);
        outcome
    }

    /// Forgets idle connections (the database is closing or being replaced).
    pub fn close(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn run<T: InlineRow>(&self, sql: &Sql<'_>) -> rusqlite::Result<Option<Vec<T>>> {
        if sql
            .args
            .iter()
            .any(|a| matches!(a, Arg::Time(_) | Arg::Bytes(_)))
        {
            return Ok(None);
        }
        let reader = self.checkout()?;
        reader.steps.store(0, Ordering::Relaxed);
        let rows = read(&reader.conn, sql);
        // A reader whose statement failed is still sound (the statement was reset when its
        // rows were dropped); it goes back either way.
        self.checkin(reader);
        rows.map(Some)
    }

    fn checkout(&self) -> rusqlite::Result<Reader> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(r) => Ok(r),
            None => self.open(),
        }
    }

    fn checkin(&self, reader: Reader) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP {
            idle.push(reader);
        }
    }

    fn open(&self) -> rusqlite::Result<Reader> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // A locked database means "not now", not "wait here".
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(32);
        let steps = Arc::new(AtomicU32::new(0));
        let (counter, budget) = (steps.clone(), self.budget_steps);
        conn.progress_handler(
            STEP,
            Some(move || counter.fetch_add(1, Ordering::Relaxed) + 1 >= budget),
        );
        Ok(Reader { conn, steps })
    }
}

fn read<T: InlineRow>(conn: &Connection, sql: &Sql<'_>) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(&sql.text)?;
    for i in 1..=stmt.parameter_count() {
        // As sqlx binds: `$n` is the n-th value wherever it appears, `?` the next one.
        let n = match stmt.parameter_name(i) {
            Some(name) => name[1..].parse::<usize>().unwrap_or(i),
            None => i,
        };
        let Some(arg) = sql.args.get(n - 1) else {
            return Err(rusqlite::Error::InvalidParameterCount(
                stmt.parameter_count(),
                sql.args.len(),
            ));
        };
        match arg {
            Arg::Text(v) => stmt.raw_bind_parameter(i, v.as_deref())?,
            Arg::Int(v) => stmt.raw_bind_parameter(i, *v)?,
            Arg::Float(v) => stmt.raw_bind_parameter(i, *v)?,
            Arg::Bool(v) => stmt.raw_bind_parameter(i, *v)?,
            // Refused before a connection was taken (see `run`).
            Arg::Time(_) | Arg::Bytes(_) => return Err(rusqlite::Error::InvalidQuery),
        }
    }
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::from_inline(row)?);
    }
    Ok(out)
}

fn is_expected(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::OperationInterrupted
                | rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    impl InlineRow for (i64,) {
        fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
            Ok((row.get(0)?,))
        }
    }

    fn database(rows: i64) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY, s TEXT); \
             WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows}) \
             INSERT INTO t SELECT i, 'row ' || i FROM c;"
        ))
        .expect("seed");
        (dir, path)
    }

    #[test]
    fn a_short_read_runs_here_with_numbered_values_bound_as_sqlx_binds_them() {
        let (_dir, path) = database(100);
        let reads = InlineReads::new(&path).expect("a file");
        let sql = Sql::new(
            "SELECT n FROM t WHERE ($1 IS NULL OR n = 0) AND n > $2 AND n <= $2 + $3 ORDER BY n",
        )
        .bind(None::<String>)
        .bind(10_i64)
        .bind(3_i64);
        let Inline::Done(rows) = reads.fetch_all::<(i64,)>(&sql) else {
            panic!("a three-row read is not offloaded");
        };
        assert_eq!(rows, vec![(11,), (12,), (13,)]);
    }

    #[test]
    fn a_read_over_budget_is_stopped_and_offloaded_and_the_reader_still_works() {
        let (_dir, path) = database(200_000);
        let reads = InlineReads::new(&path).expect("a file");
        let scan = Sql::new("SELECT count(*) FROM t WHERE s LIKE '%9%9%'");
        let stopped = reads.run::<(i64,)>(&scan).expect_err("stopped over budget");
        assert_eq!(
            stopped.sqlite_error_code(),
            Some(rusqlite::ErrorCode::OperationInterrupted)
        );
        assert!(matches!(reads.fetch_all::<(i64,)>(&scan), Inline::Offload));
        let one = Sql::new("SELECT n FROM t WHERE n = $1").bind(7_i64);
        assert!(matches!(reads.fetch_all::<(i64,)>(&one), Inline::Done(r) if r == vec![(7,)]));
    }

    #[test]
    fn a_read_cannot_write() {
        let (_dir, path) = database(1);
        let reads = InlineReads::new(&path).expect("a file");
        let write = Sql::new("DELETE FROM t RETURNING n");
        let refused = reads.run::<(i64,)>(&write).expect_err("read-only");
        assert_eq!(
            refused.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ReadOnly)
        );
        assert!(matches!(reads.fetch_all::<(i64,)>(&write), Inline::Offload));
        let count = Sql::new("SELECT count(*) FROM t");
        assert!(matches!(reads.fetch_all::<(i64,)>(&count), Inline::Done(r) if r == vec![(1,)]));
    }

    #[test]
    fn a_write_committed_elsewhere_is_seen_by_the_next_read() {
        let (_dir, path) = database(1);
        let reads = InlineReads::new(&path).expect("a file");
        let count = Sql::new("SELECT count(*) FROM t");
        assert!(matches!(reads.fetch_all::<(i64,)>(&count), Inline::Done(r) if r == vec![(1,)]));
        let writer = Connection::open(&path).expect("open");
        writer
            .execute("INSERT INTO t (n, s) VALUES (2, 'two')", [])
            .expect("insert");
        assert!(matches!(reads.fetch_all::<(i64,)>(&count), Inline::Done(r) if r == vec![(2,)]));
    }

    #[test]
    fn an_in_memory_database_has_no_inline_reads() {
        assert!(InlineReads::new(Path::new(":memory:")).is_none());
        assert!(InlineReads::new(Path::new("")).is_none());
    }
}

//! SQLite reads on the calling thread, for hot bounded reads (a page of jobs, of transactions).
//!
//! sqlx runs every SQLite connection on its own thread: a read is a hand-over to that thread
//! and back, and sqlx pings the connection when it comes back to the pool (a second
//! hand-over). Under load those task switches, not SQL, were most of a cheap read's CPU
//! (docs/decisions.md, "Hot reads off the pool"). Here a small set of read-only
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
//!
//! Whole write transactions ([`InlineSqlite::write_batch`], used by `Db::write_batch`) run
//! the same way on one writer connection, under this process's turn to write: `BEGIN
//! IMMEDIATE` (a lock held by another process answers "busy" at once), the statements,
//! `COMMIT`. Any failure rolls back and answers [`Inline::Offload`], so the pool runs the
//! whole batch again and the caller sees the pool's error (a conflict stays a conflict).
//! The order path was two to four such hand-overs per order (`bench/trading.sh`).

use super::page_row::PageRow;
use super::sql::{Arg, Sql};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub const DB_INLINE_READS_TOTAL: &str = "db_inline_reads_total";
pub const DB_INLINE_WRITES_TOTAL: &str = "db_inline_writes_total";

/// The progress handler runs every `STEP` instructions…
const STEP: i32 = 10_000;
/// …and stops the statement at the `BUDGET_STEPS`-th call: 200k instructions, ~1 ms on this
/// machine (a 51-row page of transactions takes ~15k).
const BUDGET_STEPS: u32 = 20;
/// A write transaction on the caller's thread stops (rolls back, goes to the pool) past this
/// much time between statements: an order's fills are a handful of statements (~0.1 ms).
const WRITE_BUDGET: std::time::Duration = std::time::Duration::from_millis(2);
/// Idle connections kept (one per HTTP worker is enough; more are opened under load and closed).
const KEEP: usize = 4;

/// What an inline read gave.
#[derive(Debug)]
pub enum Inline<T> {
    Done(T),
    /// Run it on the pool: too long, locked, or not for this path.
    Offload,
}

/// Read-only connections to one SQLite file, lent to one read at a time.
pub struct InlineSqlite {
    path: PathBuf,
    budget_steps: u32,
    idle: std::sync::Mutex<Vec<Reader>>,
    /// The one writer connection: used only under this process's turn to write.
    writer: std::sync::Mutex<Option<Reader>>,
}

impl std::fmt::Debug for InlineSqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineSqlite")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

struct Reader {
    conn: Connection,
    /// Progress-handler calls since the current statement started.
    steps: Arc<AtomicU32>,
}

impl InlineSqlite {
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
            writer: std::sync::Mutex::new(None),
        })
    }

    /// Every row of `sql`, read on this thread, or [`Inline::Offload`].
    pub fn fetch_all<T: PageRow>(&self, sql: &Sql<'_>) -> Inline<Vec<T>> {
        // Interrupted (over budget) and busy are expected; anything else is worth a look, but
        // the pool runs the read again and reports its own error if it has one.
        settle(
            self.run(sql),
            DB_INLINE_READS_TOTAL,
            is_expected,
            "inline read failed; reading through the pool",
        )
    }

    /// `statements` as one transaction on this thread, or [`Inline::Offload`] with nothing
    /// written. The caller holds this process's turn to write.
    pub fn write_batch(&self, statements: &[Sql<'_>]) -> Inline<()> {
        // A conflict is the pool's to report; busy and over budget are expected.
        let written = self.write(statements).map(|done| done.then_some(()));
        let quiet = |e: &rusqlite::Error| is_expected(e) || is_constraint(e);
        settle(
            written,
            DB_INLINE_WRITES_TOTAL,
            quiet,
            "inline write failed; writing through the pool",
        )
    }

    /// Forgets idle connections (the database is closing or being replaced).
    pub fn close(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn write(&self, statements: &[Sql<'_>]) -> rusqlite::Result<bool> {
        if statements.iter().flat_map(|s| &s.args).any(not_inline) {
            return Ok(false);
        }
        let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = match slot.take() {
            Some(w) => w,
            None => self.open(Role::Writer)?,
        };
        writer.steps.store(0, Ordering::Relaxed);
        let ran = transaction(&writer.conn, statements);
        // Kept unless a transaction is still open and will not roll back; then dropped:
        // closing a connection rolls back what it had open.
        if ran.is_ok()
            || writer.conn.is_autocommit()
            || writer.conn.execute_batch("ROLLBACK").is_ok()
        {
            *slot = Some(writer);
        }
        ran.map(|()| true)
    }

    fn run<T: PageRow>(&self, sql: &Sql<'_>) -> rusqlite::Result<Option<Vec<T>>> {
        if sql.args.iter().any(not_inline) {
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
            None => self.open(Role::Reader),
        }
    }

    fn checkin(&self, reader: Reader) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP {
            idle.push(reader);
        }
    }

    fn open(&self, role: Role) -> rusqlite::Result<Reader> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // A locked database means "not now", not "wait here".
        conn.busy_timeout(std::time::Duration::ZERO)?;
        match role {
            Role::Reader => conn.pragma_update(None, "query_only", true)?,
            // As the pool's connections write (`pool::sqlite_options`).
            Role::Writer => {
                conn.pragma_update(None, "foreign_keys", true)?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn.pragma_update(
                    None,
                    "wal_autocheckpoint",
                    super::checkpoint::SAFETY_NET_PAGES,
                )?;
            }
        }
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

#[derive(Clone, Copy)]
enum Role {
    Reader,
    Writer,
}

/// What an inline attempt gave, counted in `counter`; an error that `quiet` does not expect is
/// logged with `warning` (the pool runs the work again either way).
fn settle<T>(
    attempt: rusqlite::Result<Option<T>>,
    counter: &'static str,
    quiet: impl Fn(&rusqlite::Error) -> bool,
    warning: &'static str,
) -> Inline<T> {
    let outcome = match attempt {
        Ok(Some(value)) => Inline::Done(value),
        Ok(None) => Inline::Offload,
        Err(e) => {
            if !quiet(&e) {
                tracing::warn!(error = %e, "{warning}");
            }
            Inline::Offload
        }
    };
    let label = match outcome {
        Inline::Done(_) => "done",
        Inline::Offload => "offloaded",
    };
    metrics::counter!(counter, "outcome" => label).increment(1);
    outcome
}

/// Values this path does not bind the way sqlx does (sqlx's own text forms).
fn not_inline(a: &Arg<'_>) -> bool {
    matches!(a, Arg::Time(_) | Arg::Bytes(_))
}

/// `BEGIN IMMEDIATE`, each statement, `COMMIT`; an error leaves the transaction for the
/// caller to roll back. The progress handler bounds one statement; many short ones are
/// bounded here, by [`WRITE_BUDGET`] of wall time.
fn transaction(conn: &Connection, statements: &[Sql<'_>]) -> rusqlite::Result<()> {
    let started = std::time::Instant::now();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for sql in statements {
        if started.elapsed() > WRITE_BUDGET {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
                Some("over the inline write budget".to_owned()),
            ));
        }
        let mut stmt = conn.prepare_cached(&sql.text)?;
        bind(&mut stmt, sql)?;
        stmt.raw_execute()?;
    }
    conn.execute_batch("COMMIT")
}

fn read<T: PageRow>(conn: &Connection, sql: &Sql<'_>) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(&sql.text)?;
    bind(&mut stmt, sql)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::read(row)?);
    }
    Ok(out)
}

fn bind(stmt: &mut rusqlite::CachedStatement<'_>, sql: &Sql<'_>) -> rusqlite::Result<()> {
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
    Ok(())
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
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

    impl PageRow for (i64,) {
        fn read<R: crate::db::page_row::Columns>(r: &R) -> Result<Self, R::Error> {
            Ok((r.col(0)?,))
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
        let reads = InlineSqlite::new(&path).expect("a file");
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
        let reads = InlineSqlite::new(&path).expect("a file");
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
        let reads = InlineSqlite::new(&path).expect("a file");
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
        let reads = InlineSqlite::new(&path).expect("a file");
        let count = Sql::new("SELECT count(*) FROM t");
        assert!(matches!(reads.fetch_all::<(i64,)>(&count), Inline::Done(r) if r == vec![(1,)]));
        let writer = Connection::open(&path).expect("open");
        writer
            .execute("INSERT INTO t (n, s) VALUES (2, 'two')", [])
            .expect("insert");
        assert!(matches!(reads.fetch_all::<(i64,)>(&count), Inline::Done(r) if r == vec![(2,)]));
    }

    fn count(path: &Path) -> i64 {
        let conn = Connection::open(path).expect("open");
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count")
    }

    #[test]
    fn a_write_batch_commits_all_of_its_statements() {
        let (_dir, path) = database(1);
        let db = InlineSqlite::new(&path).expect("a file");
        let batch = [
            Sql::new("INSERT INTO t (n, s) VALUES ($1, $2)")
                .bind(2_i64)
                .bind("two"),
            Sql::new("UPDATE t SET s = $2 WHERE n = $1")
                .bind(1_i64)
                .bind("one"),
        ];
        assert!(matches!(db.write_batch(&batch), Inline::Done(())));
        assert_eq!(count(&path), 2);
        let conn = Connection::open(&path).expect("open");
        let s: String = conn
            .query_row("SELECT s FROM t WHERE n = 1", [], |r| r.get(0))
            .expect("row");
        assert_eq!(s, "one");
    }

    #[test]
    fn a_failing_write_batch_writes_nothing_and_the_writer_is_reused() {
        let (_dir, path) = database(1);
        let db = InlineSqlite::new(&path).expect("a file");
        let batch = [
            Sql::new("INSERT INTO t (n, s) VALUES ($1, 'x')").bind(5_i64),
            Sql::new("INSERT INTO t (n, s) VALUES ($1, 'dup')").bind(1_i64),
        ];
        let failed = db.write(&batch).expect_err("a duplicate key");
        assert!(is_constraint(&failed), "{failed:?}");
        assert!(matches!(db.write_batch(&batch), Inline::Offload));
        assert_eq!(
            count(&path),
            1,
            "the first insert was rolled back with the batch"
        );
        // The same writer connection is back and not inside a transaction.
        let ok = [Sql::new("INSERT INTO t (n, s) VALUES ($1, 'y')").bind(6_i64)];
        assert!(matches!(db.write_batch(&ok), Inline::Done(())));
        assert_eq!(count(&path), 2);
    }

    #[test]
    fn a_long_write_batch_is_stopped_rolled_back_and_offloaded() {
        let (_dir, path) = database(1);
        let db = InlineSqlite::new(&path).expect("a file");
        let batch: Vec<Sql<'_>> = (100..100_100_i64)
            .map(|n| Sql::new("INSERT INTO t (n, s) VALUES ($1, 'many')").bind(n))
            .collect();
        let stopped = db.write(&batch).expect_err("over budget");
        assert!(is_expected(&stopped), "{stopped}");
        assert_eq!(count(&path), 1, "nothing of it was written");
        let ok = [Sql::new("INSERT INTO t (n, s) VALUES (7, 'after')")];
        assert!(matches!(db.write_batch(&ok), Inline::Done(())));
    }

    #[test]
    fn a_write_meeting_another_process_lock_is_offloaded_at_once() {
        let (_dir, path) = database(1);
        let db = InlineSqlite::new(&path).expect("a file");
        let other = Connection::open(&path).expect("open");
        other.execute_batch("BEGIN IMMEDIATE").expect("the lock");
        let started = std::time::Instant::now();
        let batch = [Sql::new("INSERT INTO t (n, s) VALUES (9, 'z')")];
        let busy = db.write(&batch).expect_err("locked");
        assert_eq!(
            busy.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        assert!(matches!(db.write_batch(&batch), Inline::Offload));
        // Not a wait on busy_timeout: "not now" is answered straight away.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        other.execute_batch("ROLLBACK").expect("release");
        assert!(matches!(db.write_batch(&batch), Inline::Done(())));
    }

    #[test]
    fn the_writer_enforces_foreign_keys_as_the_pool_does() {
        let (_dir, path) = database(1);
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE child (n INTEGER NOT NULL REFERENCES t (n))")
            .expect("child table");
        let db = InlineSqlite::new(&path).expect("a file");
        let orphan = [Sql::new("INSERT INTO child (n) VALUES (404)")];
        let refused = db.write(&orphan).expect_err("no parent row");
        assert!(is_constraint(&refused));
    }

    #[test]
    fn an_in_memory_database_has_no_inline_reads() {
        assert!(InlineSqlite::new(Path::new(":memory:")).is_none());
        assert!(InlineSqlite::new(Path::new("")).is_none());
    }
}

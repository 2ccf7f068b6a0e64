//! Hot reads on the request's thread (SQLite) and whole write transactions in one hand-over
//! (`Db::write_batch`): a page is read without a pooled connection, and a batch cut short, by
//! an error or by being dropped mid-flight, never leaves a transaction open on a pooled
//! connection.

use crate::helpers::{Backend, TestDb, test_settings};
use crate::on_both_backends;
use ai_service::db::{Db, DbError, Sql};
use ai_service::jobs::store::JobRow;
use std::time::Duration;

on_both_backends!(
    a_failed_batch_writes_nothing_and_the_connection_is_clean,
    a_dropped_batch_is_all_or_nothing_and_the_connection_is_clean,
    a_page_of_jobs_is_read_while_the_pool_is_exhausted
);

/// A database with one pooled connection (so a connection left in a transaction would be the
/// next one used) and a scratch table.
async fn one_connection(backend: Backend) -> (TestDb, Db) {
    let test_db = TestDb::new(backend).await;
    let mut settings = test_settings(test_db.url());
    settings.database.max_connections = 1;
    settings.database.acquire_timeout_secs = 2;
    // Two lanes: a read cut short steers the next ones to the other lane.
    settings.database.page_lanes = 2;
    let db = Db::connect(&settings.database).await.expect("connect");
    db.migrate().await.expect("migrate");
    db.execute(Sql::new("CREATE TABLE scratch (id TEXT PRIMARY KEY)"))
        .await
        .expect("scratch table");
    (test_db, db)
}

/// The columns `JobRow` reads, in order (`jobs::store`).
const JOB_COLUMNS: &str = "id, queue, name, payload, state, attempts, max_attempts, backoff, run_at, \
    lease_owner, lease_expires_at, progress, progress_message, result, last_error, trace_id, idempotency_key, \
    created_at, updated_at, finished_at";

fn insert(id: &str) -> Sql<'_> {
    Sql::new("INSERT INTO scratch (id) VALUES ($1)").bind(id)
}

/// Rows of `scratch` as another connection sees them (committed rows only).
async fn committed(test_db: &TestDb) -> i64 {
    let other = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("second connection");
    let n = other
        .fetch_scalar(Sql::new("SELECT COUNT(*) FROM scratch"))
        .await
        .expect("count");
    other.close().await;
    n
}

async fn a_failed_batch_writes_nothing_and_the_connection_is_clean(backend: Backend) {
    let (test_db, db) = one_connection(backend).await;
    db.write_batch(vec![insert("a")])
        .await
        .expect("first batch");
    let failed = db
        .write_batch(vec![insert("b"), insert("a"), insert("c")])
        .await;
    assert!(
        matches!(failed, Err(DbError::Conflict { .. })),
        "a duplicate fails the batch as a conflict: {failed:?}"
    );
    // `b` came before the failing statement and was rolled back with it.
    assert_eq!(committed(&test_db).await, 1);
    // The one pooled connection is not inside a leftover transaction: a plain write through
    // it commits at once and another connection sees it.
    db.execute(insert("d"))
        .await
        .expect("write after the failure");
    assert_eq!(committed(&test_db).await, 2);
    db.close().await;
}

async fn a_dropped_batch_is_all_or_nothing_and_the_connection_is_clean(backend: Backend) {
    let (test_db, db) = one_connection(backend).await;
    let ids: Vec<String> = (0..10_000).map(|i| format!("row-{i}")).collect();
    for cut_after_us in [0_u64, 200, 1_000, 5_000] {
        db.execute(Sql::new("DELETE FROM scratch"))
            .await
            .expect("empty");
        let batch = db.write_batch(ids.iter().map(|id| insert(id)).collect());
        // Over the inline budget on SQLite, so it runs on the pool as one hand-over. Dropped
        // at some point in flight (or done first): either way nothing half-written.
        let _ = tokio::time::timeout(Duration::from_micros(cut_after_us), batch).await;
        let n = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                // A dropped batch's connection is closed in the background; until then its
                // transaction may hold SQLite's lock.
                match db.execute(insert("after")).await {
                    Ok(_) => break,
                    Err(e) => {
                        assert!(
                            e.to_string().contains("locked") || e.to_string().contains("timed out"),
                            "only the lock may delay the next write: {e}"
                        );
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            committed(&test_db).await
        })
        .await
        .expect("the next write commits");
        assert!(
            n == 1 || n == 10_001,
            "cut after {cut_after_us} us: {n} rows (all or nothing, plus the write after)"
        );
    }
    db.close().await;
}

/// A page is read without a pooled connection (SQLite: on the request's thread; Postgres: on
/// a reader connection, which skips the pool's release ping), so it answers while the pool's
/// only connection is taken; through the pool it would wait out the acquire timeout and fail.
async fn a_page_of_jobs_is_read_while_the_pool_is_exhausted(backend: Backend) {
    let (_test_db, db) = one_connection(backend).await;
    insert_job(&db).await;
    let held = match &db {
        Db::Sqlite(s) => Held::Sqlite(s.pool.acquire().await.expect("the only connection")),
        Db::Postgres(p) => Held::Postgres(p.pool.acquire().await.expect("the only connection")),
    };
    for _ in 0..3 {
        let page = tokio::time::timeout(
            Duration::from_millis(1_500),
            ai_service::jobs::store::list(&db, Some("finance"), None, None, 20),
        )
        .await
        .expect("answered without waiting for the pool")
        .expect("listed");
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].id, "j1");
        assert_eq!(page[0].payload, "{}");
        assert_eq!(page[0].max_attempts, 3);
        assert_eq!(page[0].finished_at, None);
    }
    drop(held);
    db.close().await;
}

#[allow(dead_code)] // held, never read
enum Held {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

/// A pipelined Postgres read whose request is dropped mid-flight keeps its lane counted busy
/// until Postgres has answered, so the next reads take other lanes and do not wait behind its
/// `pg_sleep`; a read that fails leaves its lane usable, and the caller sees the pool's error.
#[tokio::test]
async fn postgres_a_read_cut_short_or_failed_holds_up_no_other_read() {
    if !crate::helpers::postgres_available().await {
        return;
    }
    let (_test_db, db) = one_connection(Backend::Postgres).await;
    insert_job(&db).await;
    let columns = JOB_COLUMNS;
    let slow = format!("SELECT {columns} FROM jobs WHERE pg_sleep(2) IS NOT NULL");
    let cut = tokio::time::timeout(
        Duration::from_millis(100),
        db.fetch_page::<JobRow>(Sql::new(slow.as_str())),
    )
    .await;
    assert!(cut.is_err(), "the slow read was cut short");
    // Both within the time the cut read's `pg_sleep` still runs: neither waits for it.
    let (failed, page) = tokio::time::timeout(Duration::from_millis(1_500), async {
        let failed = db
            .fetch_page::<JobRow>(Sql::new(format!(
                "SELECT {columns} FROM jobs WHERE 1 / (SELECT COUNT(*) - 1 FROM jobs) = 1"
            )))
            .await;
        let page = ai_service::jobs::store::list(&db, None, None, None, 20).await;
        (failed, page)
    })
    .await
    .expect("a working reader at once, twice");
    assert!(failed.is_err(), "division by zero fails the read");
    assert_eq!(page.expect("listed").len(), 1);
    db.close().await;
}

async fn insert_job(db: &Db) {
    db.execute(Sql::new(
        "INSERT INTO jobs (id, queue, name, payload, state, max_attempts, backoff, run_at, trace_id, created_at, updated_at) \
         VALUES ('j1', 'finance', 'sync_all', '{}', 'waiting', 3, 'exponential', 0, 't', 1, 1)",
    ))
    .await
    .expect("a job");
}

/// Lanes of the pipelined Postgres reads open on `test_db` (`pg_stat_activity`).
async fn lanes(test_db: &TestDb) -> i64 {
    let other = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("second connection");
    let n = other
        .fetch_scalar(
            Sql::new(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = $1",
            )
            .bind(ai_service::db::PIPE_APPLICATION_NAME),
        )
        .await
        .expect("count");
    other.close().await;
    n
}

/// Many concurrent page reads share the few pipelined lanes, each gets its own answer, and
/// a commit is seen by the next read.
#[tokio::test]
async fn postgres_page_reads_share_a_few_lanes_and_see_every_commit() {
    if !crate::helpers::postgres_available().await {
        return;
    }
    let (test_db, db) = one_connection(Backend::Postgres).await;
    insert_job(&db).await;
    let reads = (0..200).map(|i| {
        let db = db.clone();
        async move {
            // Two shapes of query in one pipeline: each answer must reach its own caller.
            let state = (i % 2 == 0).then_some("waiting");
            let page = ai_service::jobs::store::list(&db, None, state, None, 20)
                .await
                .expect("listed");
            (i, page.len())
        }
    });
    for (i, n) in futures::future::join_all(reads).await {
        assert_eq!(n, 1, "read {i}");
    }
    let open = lanes(&test_db).await;
    assert!((1..=4).contains(&open), "{open} lanes");
    db.execute(Sql::new(
        "UPDATE jobs SET state = 'completed' WHERE id = 'j1'",
    ))
    .await
    .expect("update");
    let waiting = ai_service::jobs::store::list(&db, None, Some("waiting"), None, 20).await;
    assert!(
        waiting.expect("listed").is_empty(),
        "the commit is seen at once"
    );
    db.close().await;
    // Closing ends the lanes, and a read after it makes none again.
    let after = ai_service::jobs::store::list(&db, None, None, None, 20).await;
    assert!(after.is_err(), "the database is closed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lanes(&test_db).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "lanes left open after close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Postgres ends the lanes' connections (a restart, an administrator): the next read is still
/// answered (through the pool when its lane turns out closed), and lanes come back.
#[tokio::test]
async fn postgres_page_reads_survive_their_connections_being_killed() {
    if !crate::helpers::postgres_available().await {
        return;
    }
    let (test_db, db) = one_connection(Backend::Postgres).await;
    insert_job(&db).await;
    let list = || ai_service::jobs::store::list(&db, None, None, None, 20);
    assert_eq!(list().await.expect("listed").len(), 1);
    assert!(lanes(&test_db).await >= 1, "a lane served the read");
    let admin = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("admin connection");
    let killed: Vec<(bool,)> = admin
        .fetch_all(
            Sql::new(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = $1",
            )
            .bind(ai_service::db::PIPE_APPLICATION_NAME),
        )
        .await
        .expect("terminate");
    assert!(!killed.is_empty());
    for _ in 0..5 {
        assert_eq!(list().await.expect("answered after the kill").len(), 1);
    }
    // The slot may rest for a second after a failed attempt; wait for the lane, not a time.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lanes(&test_db).await == 0 {
        assert!(std::time::Instant::now() < deadline, "no lane came back");
        assert_eq!(list().await.expect("listed").len(), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin.close().await;
    db.close().await;
}

/// One lane: a read that outlasts `database.acquire_timeout_secs` is ended by Postgres and
/// answered through the pool, and a read pipelined behind it waits at most that long.
#[tokio::test]
async fn postgres_a_read_stuck_on_the_only_lane_is_ended_and_answered_by_the_pool() {
    if !crate::helpers::postgres_available().await {
        return;
    }
    let test_db = TestDb::new(Backend::Postgres).await;
    let mut settings = test_settings(test_db.url());
    settings.database.acquire_timeout_secs = 1;
    settings.database.page_lanes = 1;
    let db = Db::connect(&settings.database).await.expect("connect");
    db.migrate().await.expect("migrate");
    insert_job(&db).await;
    let columns = JOB_COLUMNS;
    let slow = format!("SELECT {columns} FROM jobs WHERE pg_sleep(3) IS NOT NULL");
    let started = std::time::Instant::now();
    let (slow, quick) = tokio::join!(db.fetch_page::<JobRow>(Sql::new(slow.as_str())), async {
        // Queued behind the slow read on the one lane.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let page = ai_service::jobs::store::list(&db, None, None, None, 20).await;
        (page, started.elapsed())
    });
    assert_eq!(slow.expect("answered through the pool").len(), 1);
    let (page, waited) = quick;
    assert_eq!(page.expect("listed").len(), 1);
    // Behind the slow read for about the 1 s timeout, not its 3 s.
    assert!(waited < Duration::from_millis(2_500), "waited {waited:?}");
    db.close().await;
}

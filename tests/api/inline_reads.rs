//! Hot reads on the request's thread (SQLite) and whole write transactions in one hand-over
//! (`Db::write_batch`): a page is read without a pooled connection, and a batch cut short, by
//! an error or by being dropped mid-flight, never leaves a transaction open on a pooled
//! connection.

use crate::helpers::{Backend, TestDb, test_settings};
use crate::on_both_backends;
use ai_service::db::{Db, DbError, Sql};
use std::time::Duration;

on_both_backends!(
    a_failed_batch_writes_nothing_and_the_connection_is_clean,
    a_dropped_batch_is_all_or_nothing_and_the_connection_is_clean
);

/// A database with one pooled connection (so a connection left in a transaction would be the
/// next one used) and a scratch table.
async fn one_connection(backend: Backend) -> (TestDb, Db) {
    let test_db = TestDb::new(backend).await;
    let mut settings = test_settings(test_db.url());
    settings.database.max_connections = 1;
    settings.database.acquire_timeout_secs = 2;
    let db = Db::connect(&settings.database).await.expect("connect");
    db.migrate().await.expect("migrate");
    db.execute(Sql::new("CREATE TABLE scratch (id TEXT PRIMARY KEY)"))
        .await
        .expect("scratch table");
    (test_db, db)
}

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
    let ids: Vec<String> = (0..3000).map(|i| format!("row-{i}")).collect();
    for cut_after_us in [0_u64, 200, 1_000, 5_000] {
        db.execute(Sql::new("DELETE FROM scratch"))
            .await
            .expect("empty");
        let batch = db.write_batch(ids.iter().map(|id| insert(id)).collect());
        // Dropped at some point in flight (or done first): either way nothing half-written.
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
            n == 1 || n == 3001,
            "cut after {cut_after_us} us: {n} rows (all or nothing, plus the write after)"
        );
    }
    db.close().await;
}

/// On SQLite a page is read on the request's thread: it needs no pooled connection, so it
/// answers while the only one is taken (through the pool it would wait out the acquire
/// timeout and fail).
#[tokio::test]
async fn sqlite_a_page_of_jobs_is_read_while_the_pool_is_exhausted() {
    let (_test_db, db) = one_connection(Backend::Sqlite).await;
    db.execute(Sql::new(
        "INSERT INTO jobs (id, queue, name, payload, state, max_attempts, backoff, run_at, trace_id, created_at, updated_at) \
         VALUES ('j1', 'finance', 'sync_all', '{}', 'waiting', 3, 'exponential', 0, 't', 1, 1)",
    ))
    .await
    .expect("a job");
    let Db::Sqlite(sqlite) = &db else {
        panic!("a SQLite database");
    };
    let held = sqlite.pool.acquire().await.expect("the only connection");
    let page = tokio::time::timeout(
        Duration::from_millis(500),
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
    drop(held);
    db.close().await;
}

//! Batched claims and flushed outcomes on both backends: no job goes to two dispatchers, a
//! batch's stale leases are fenced off row by row, a cancelled job stays out of a batch, and
//! the unflushed jobs of a crashed batch come back and run once more. A flush also claims the
//! slots it frees (one statement on Postgres), fenced the same way; claims and outcomes commit
//! without waiting for the WAL fsync on Postgres, and what a database crash can then lose
//! (the last claims and outcomes) comes back as work that runs again.

use crate::helpers::{Backend, TestDb, eventually, test_settings};
use crate::on_both_backends;
use actix::Actor;
use actors::TraceId;
use actors::jobs::{
    BackoffPolicy, Claimed, Dispatcher, DispatcherConfig, Finished, JobError, JobHandler, JobSpec,
    JobStore, Outcome, Progress,
};
use ai_service::db::{Db, DbHandle, Sql};
use ai_service::jobs::SqlJobStore;
use ai_service::jobs::store::{cancel, get};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

on_both_backends!(
    concurrent_dispatchers_never_share_a_job,
    a_batch_completion_applies_only_live_leases,
    a_cancelled_job_stays_out_of_a_batch,
    the_unflushed_jobs_of_a_crashed_batch_come_back,
    a_flush_claims_the_slots_it_frees,
    jobs_whose_claim_or_outcome_the_database_lost_run_again,
);

const WAIT: Duration = Duration::from_secs(20);

/// Records which jobs it ran (every run, so a job run twice shows twice).
#[derive(Default)]
struct Recorder {
    runs: Mutex<Vec<String>>,
}

impl Recorder {
    fn runs(&self) -> Vec<String> {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl JobHandler for Recorder {
    async fn run(&self, job: &Claimed, _: &Progress) -> Result<serde_json::Value, JobError> {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(job.id.clone());
        Ok(serde_json::json!({"ran": job.id}))
    }
}

async fn connect(test_db: &TestDb) -> (Db, Arc<SqlJobStore>) {
    let db = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let store = Arc::new(SqlJobStore::new(DbHandle::connected(db.clone())));
    (db, store)
}

fn start(
    store: &Arc<SqlJobStore>,
    handler: &Arc<Recorder>,
    owner: &str,
    concurrency: u32,
) -> actix::Addr<Dispatcher> {
    let handlers: HashMap<String, Arc<dyn JobHandler>> = HashMap::from([(
        "work".to_owned(),
        Arc::clone(handler) as Arc<dyn JobHandler>,
    )]);
    Dispatcher::new(
        Arc::clone(store) as Arc<dyn JobStore>,
        handlers,
        DispatcherConfig {
            queue: "batch".to_owned(),
            concurrency,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(20),
            owner: owner.to_owned(),
        },
    )
    .start()
}

fn spec(n: usize) -> JobSpec {
    let mut s = JobSpec::new(
        "batch",
        "work",
        serde_json::json!({ "n": n }),
        TraceId::new("trace-batch"),
    );
    s.max_attempts = 3;
    s.backoff = BackoffPolicy::Fixed { delay_ms: 10 };
    s
}

async fn enqueue(store: &SqlJobStore, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(store.enqueue(&spec(i)).await.expect("enqueue").0);
    }
    ids
}

async fn count(db: &Db, state: &str) -> i64 {
    let sql =
        Sql::new("SELECT COUNT(*) FROM jobs WHERE queue = 'batch' AND state = $1").bind(state);
    db.fetch_scalar(sql).await.expect("count")
}

fn done(result: &str) -> Outcome {
    Outcome::Completed {
        result: serde_json::json!(result),
    }
}

fn finished(job: &Claimed, outcome: Outcome) -> Finished {
    Finished {
        job_id: job.id.clone(),
        lease_id: job.lease_id.clone(),
        outcome,
    }
}

/// Three "processes" (each its own pool, store and dispatcher) drain one queue at once.
async fn concurrent_dispatchers_never_share_a_job(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let (db, store) = connect(&test_db).await;
    let ids = enqueue(&store, 150).await;
    let mut processes = Vec::new();
    for p in 0..3 {
        let (db, store) = connect(&test_db).await;
        let handler = Arc::new(Recorder::default());
        let addr = start(&store, &handler, &format!("process-{p}"), 8);
        processes.push((db, handler, addr));
    }
    eventually(WAIT, "every job completed", || async {
        match count(&db, "completed").await {
            150 => Ok(()),
            n => Err(n),
        }
    })
    .await;
    let runs: Vec<String> = processes.iter().flat_map(|(_, h, _)| h.runs()).collect();
    let distinct: HashSet<&String> = runs.iter().collect();
    assert_eq!(runs.len(), 150, "each job ran once, on one process");
    assert_eq!(distinct, ids.iter().collect::<HashSet<_>>());
    let sql = "SELECT COUNT(*) FROM jobs WHERE queue = 'batch' AND attempts <> 1";
    assert_eq!(db.fetch_scalar::<i64>(Sql::new(sql)).await.expect("n"), 0);
    let row = get(&db, &ids[0]).await.expect("get").expect("row");
    assert_eq!(row.progress, 100);
    assert_eq!(
        row.result.as_deref(),
        Some(serde_json::json!({"ran": ids[0]}).to_string().as_str())
    );
    for (db, _, _) in processes {
        db.close().await;
    }
    db.close().await;
}

/// One flush mixes a stale and a live lease of the same job, stale leases of other jobs, and a
/// retry and a death: only the live leases' outcomes land.
async fn a_batch_completion_applies_only_live_leases(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let (db, store) = connect(&test_db).await;
    let ids = enqueue(&store, 5).await;
    let stale = store
        .claim("batch", "slow", Duration::from_millis(50), 10)
        .await
        .expect("claim");
    assert_eq!(stale.len(), 5);
    let leases: HashSet<&String> = stale.iter().map(|c| &c.lease_id).collect();
    assert_eq!(leases.len(), 5, "one fencing token per job");
    // The 50 ms lease must run out: expiry is what is tested.
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(store.requeue_expired().await.expect("requeue"), 5);
    let live = store
        .claim("batch", "fast", Duration::from_secs(30), 3)
        .await
        .expect("claim");
    let live_ids: Vec<&String> = live.iter().map(|c| &c.id).collect();
    assert_eq!(
        live_ids,
        ids[..3].iter().collect::<Vec<_>>(),
        "oldest first"
    );

    let batch = vec![
        finished(&stale[0], done("stale")),
        finished(&live[0], done("fresh")),
        finished(&stale[1], done("stale")),
        finished(
            &live[1],
            Outcome::Retry {
                error: "later".into(),
                at_ms: chrono::Utc::now().timestamp_millis() + 60_000,
            },
        ),
        finished(
            &live[2],
            Outcome::Dead {
                error: "no use".into(),
            },
        ),
        finished(&stale[3], done("stale")),
    ];
    let applied = store.finish_many(&batch).await.expect("finish_many");
    assert_eq!(applied, [false, true, false, true, true, false]);
    let row = |i: usize| {
        let db = db.clone();
        let id = ids[i].clone();
        async move { get(&db, &id).await.expect("get").expect("row") }
    };
    let first = row(0).await;
    assert_eq!(
        (first.state.as_str(), first.result.as_deref()),
        ("completed", Some(r#""fresh""#))
    );
    let second = row(1).await;
    assert_eq!(
        (second.state.as_str(), second.last_error.as_deref()),
        ("delayed", Some("later"))
    );
    assert_eq!(row(2).await.state, "dead");
    assert_eq!(row(3).await.state, "waiting", "a stale ack changes nothing");
    // A batch of stale leases only: nothing applies, nothing fails.
    let again = store
        .finish_many(&[finished(&stale[4], done("stale"))])
        .await
        .expect("finish_many");
    assert_eq!(again, [false]);
    assert_eq!(row(4).await.state, "waiting");
    db.close().await;
}

async fn a_cancelled_job_stays_out_of_a_batch(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let (db, store) = connect(&test_db).await;
    let ids = enqueue(&store, 3).await;
    assert!(cancel(&db, &ids[1]).await.expect("cancel"));
    let claimed = store
        .claim("batch", "worker", Duration::from_secs(30), 10)
        .await
        .expect("claim");
    let got: Vec<&String> = claimed.iter().map(|c| &c.id).collect();
    assert_eq!(got, [&ids[0], &ids[2]]);
    assert!(
        !cancel(&db, &ids[0]).await.expect("cancel"),
        "a claimed job is running: too late to cancel"
    );
    let batch: Vec<Finished> = claimed.iter().map(|c| finished(c, done("ok"))).collect();
    assert_eq!(
        store.finish_many(&batch).await.expect("finish_many"),
        [true, true]
    );
    assert_eq!(count(&db, "completed").await, 2);
    assert_eq!(
        get(&db, &ids[1]).await.expect("get").expect("row").state,
        "cancelled"
    );
    db.close().await;
}

/// A process claims a batch of five, records two outcomes and dies: the other three come back
/// when their leases expire and run once more; the two recorded ones do not.
async fn the_unflushed_jobs_of_a_crashed_batch_come_back(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let (db, store) = connect(&test_db).await;
    let ids = enqueue(&store, 5).await;
    let claimed = store
        .claim("batch", "doomed-process", Duration::from_millis(100), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 5);
    let flushed: Vec<Finished> = claimed[..2]
        .iter()
        .map(|c| finished(c, done("ok")))
        .collect();
    assert_eq!(
        store.finish_many(&flushed).await.expect("finish_many"),
        [true, true]
    );
    // The 100 ms leases must run out: expiry is what is tested.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let handler = Arc::new(Recorder::default());
    let _d = start(&store, &handler, "restarted", 4);
    eventually(WAIT, "the crashed batch's jobs completed", || async {
        match count(&db, "completed").await {
            5 => Ok(()),
            n => Err(n),
        }
    })
    .await;
    let mut reran = handler.runs();
    reran.sort();
    assert_eq!(
        reran,
        ids[2..].to_vec(),
        "only the unrecorded jobs ran again, once each"
    );
    for (i, id) in ids.iter().enumerate() {
        let row = get(&db, id).await.expect("get").expect("row");
        assert_eq!(row.attempts, if i < 2 { 1 } else { 2 }, "job {i}");
    }
    db.close().await;
}

/// Completing and claiming in one step: a stale lease in the batch is fenced off, the freed
/// slots are claimed oldest first under fresh leases, and a drained queue yields what is left.
async fn a_flush_claims_the_slots_it_frees(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let (db, store) = connect(&test_db).await;
    let ids = enqueue(&store, 5).await;
    let stale = store
        .claim("batch", "slow", Duration::from_millis(50), 1)
        .await
        .expect("claim");
    // The 50 ms lease must run out: expiry is what is tested.
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(store.requeue_expired().await.expect("requeue"), 1);
    let live = store
        .claim("batch", "fast", Duration::from_secs(30), 2)
        .await
        .expect("claim");
    assert_eq!(
        live.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&ids[0], &ids[1]]
    );

    let batch = [
        finished(&stale[0], done("stale")),
        finished(&live[1], done("second")),
    ];
    let lease = Duration::from_secs(30);
    let (applied, next) = store
        .finish_and_claim(&batch, "batch", "fast", lease, 2)
        .await
        .expect("finish_and_claim");
    assert_eq!(applied, [false, true], "the stale lease is fenced off");
    assert_eq!(
        next.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&ids[2], &ids[3]],
        "the freed slots, oldest first"
    );
    let leases: HashSet<&String> = live.iter().chain(&next).map(|c| &c.lease_id).collect();
    assert_eq!(leases.len(), 4, "one fresh fencing token per job");
    assert!(next.iter().all(|c| c.attempt == 1));
    let sql = Sql::new("SELECT state, lease_id FROM jobs WHERE id = $1").bind(&ids[0]);
    let first: (String, Option<String>) = db.fetch_one(sql).await.expect("row");
    assert_eq!(
        first,
        ("active".to_owned(), Some(live[0].lease_id.clone())),
        "the stale outcome changed nothing"
    );

    let batch = [
        finished(&live[0], done("first")),
        finished(&next[0], done("third")),
        finished(&next[1], done("fourth")),
    ];
    let (applied, last) = store
        .finish_and_claim(&batch, "batch", "fast", lease, 10)
        .await
        .expect("finish_and_claim");
    assert_eq!(applied, [true, true, true]);
    assert_eq!(
        last.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&ids[4]],
        "only what is left"
    );
    // Nothing to claim (limit 0): outcomes only.
    let (applied, none) = store
        .finish_and_claim(
            &[finished(&last[0], done("fifth"))],
            "batch",
            "fast",
            lease,
            0,
        )
        .await
        .expect("finish_and_claim");
    assert_eq!((applied, none.len()), (vec![true], 0));
    assert_eq!(count(&db, "completed").await, 5);
    let first = get(&db, &ids[0]).await.expect("get").expect("row");
    assert_eq!(
        (first.result.as_deref(), first.attempts),
        (Some(r#""first""#), 2)
    );
    db.close().await;
}

/// What a database crash can lose now that claims and outcomes commit without waiting for the
/// WAL fsync (Postgres), written back as the crash would leave it: job 0 lost its claim and its
/// outcome (waiting again, attempt count as before), job 1 lost its outcome (active under the
/// dead attempt's lease). Both run again, once; the lost attempts' late outcomes are fenced off.
async fn jobs_whose_claim_or_outcome_the_database_lost_run_again(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let (db, store) = connect(&test_db).await;
    let ids = enqueue(&store, 3).await;
    let lost = store
        .claim("batch", "before-the-crash", Duration::from_millis(100), 3)
        .await
        .expect("claim");
    let outcomes: Vec<Finished> = lost.iter().map(|c| finished(c, done("lost"))).collect();
    let (applied, _) = store
        .finish_and_claim(
            &outcomes,
            "batch",
            "before-the-crash",
            Duration::from_secs(30),
            3,
        )
        .await
        .expect("finish_and_claim");
    assert_eq!(applied, [true, true, true]);
    let lost_claim = "UPDATE jobs SET state = 'waiting', attempts = 0, lease_id = NULL, lease_owner = NULL, \
                      lease_expires_at = NULL, result = NULL, progress = 0, finished_at = NULL WHERE id = $1";
    db.execute(Sql::new(lost_claim).bind(&ids[0]))
        .await
        .expect("job 0 as before its claim");
    let lost_outcome = "UPDATE jobs SET state = 'active', lease_id = $2, lease_owner = 'before-the-crash', \
                        lease_expires_at = $3, result = NULL, progress = 0, finished_at = NULL WHERE id = $1";
    let expired = chrono::Utc::now().timestamp_millis() - 1;
    db.execute(
        Sql::new(lost_outcome)
            .bind(&ids[1])
            .bind(&lost[1].lease_id)
            .bind(expired),
    )
    .await
    .expect("job 1 as before its outcome");

    let handler = Arc::new(Recorder::default());
    let _d = start(&store, &handler, "after-the-restart", 4);
    eventually(WAIT, "the lost jobs completed again", || async {
        match count(&db, "completed").await {
            3 => Ok(()),
            n => Err(n),
        }
    })
    .await;
    let mut reran = handler.runs();
    reran.sort();
    assert_eq!(reran, ids[..2].to_vec(), "each lost job ran once more");
    // The lost attempts' outcomes, arriving late, change nothing.
    let late = [
        finished(&lost[0], done("late")),
        finished(&lost[1], done("late")),
    ];
    assert_eq!(
        store.finish_many(&late).await.expect("finish_many"),
        [false, false]
    );
    for (i, id) in ids.iter().enumerate() {
        let row = get(&db, id).await.expect("get").expect("row");
        let expected = serde_json::json!({"ran": id}).to_string();
        let (result, attempts) = match i {
            0 => (expected.as_str(), 1),
            1 => (expected.as_str(), 2),
            _ => (r#""lost""#, 1),
        };
        assert_eq!(
            (row.result.as_deref(), row.attempts),
            (Some(result), attempts),
            "job {i}"
        );
    }
    db.close().await;
}

async fn synchronous_commit(db: &Db) -> String {
    let sql = Sql::new("SELECT current_setting('synchronous_commit')");
    db.fetch_scalar(sql).await.expect("setting")
}

/// Postgres: claims and outcomes turn `synchronous_commit` off for their own transaction only;
/// the next statement on the same connection (an enqueue) commits synchronously again.
#[actix_web::test]
async fn async_commit_stays_inside_claims_and_outcomes() {
    if !crate::helpers::postgres_available().await {
        return;
    }
    let test_db = TestDb::new(Backend::Postgres).await;
    let mut settings = test_settings(test_db.url());
    settings.database.max_connections = 1;
    let db = Db::connect(&settings.database).await.expect("connect");
    db.migrate().await.expect("migrate");
    let store = SqlJobStore::new(DbHandle::connected(db.clone()));
    enqueue(&store, 3).await;
    let lease = Duration::from_secs(30);
    let claimed = store.claim("batch", "w", lease, 1).await.expect("claim");
    assert_eq!(synchronous_commit(&db).await, "on");
    let (_, next) = store
        .finish_and_claim(&[finished(&claimed[0], done("ok"))], "batch", "w", lease, 1)
        .await
        .expect("finish_and_claim");
    assert_eq!(synchronous_commit(&db).await, "on");
    let retry = Outcome::Retry {
        error: "again".into(),
        at_ms: chrono::Utc::now().timestamp_millis() + 60_000,
    };
    store
        .finish_many(&[finished(&next[0], retry)])
        .await
        .expect("finish_many");
    assert_eq!(synchronous_commit(&db).await, "on");
    db.close().await;
}

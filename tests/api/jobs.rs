//! Durable jobs on both backends: retries, dead letters, delays, idempotency, lost workers,
//! fencing.

use crate::helpers::{Backend, TestDb, eventually, test_settings};
use crate::on_both_backends;
use actix::Actor;
use actors::TraceId;
use actors::jobs::{
    BackoffPolicy, Claimed, Dispatcher, DispatcherConfig, JobError, JobHandler, JobSpec, JobStore,
    Outcome, Progress, Wake,
};
use ai_service::db::{Db, DbHandle};
use ai_service::jobs::store::{JobRow, get};
use ai_service::jobs::{JobQueue, SqlJobStore};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

on_both_backends!(
    retries_with_backoff_then_success,
    max_attempts_make_a_job_dead,
    delayed_jobs_do_not_run_early,
    idempotency_key_dedupes,
    a_lost_worker_job_reruns_exactly_once,
    a_stale_ack_is_fenced_off,
);

/// Fails the first `fail_times` runs, then succeeds; counts runs.
struct Flaky {
    fail_times: u32,
    runs: Arc<AtomicU32>,
}

#[async_trait]
impl JobHandler for Flaky {
    async fn run(&self, job: &Claimed, progress: &Progress) -> Result<serde_json::Value, JobError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.fail_times {
            return Err(JobError::Retryable(format!("failure #{n}")));
        }
        progress.report(50, Some("halfway")).await;
        Ok(serde_json::json!({"echo": job.payload}))
    }
}

struct Setup {
    _test_db: TestDb,
    db: Db,
    store: Arc<SqlJobStore>,
}

async fn setup(backend: Backend) -> Setup {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let store = Arc::new(SqlJobStore::new(DbHandle::connected(db.clone())));
    Setup {
        _test_db: test_db,
        db,
        store,
    }
}

fn dispatcher(
    store: &Arc<SqlJobStore>,
    handler: Flaky,
    lease: Duration,
) -> actix::Addr<Dispatcher> {
    dispatcher_with(store, handler, lease, None)
}

fn dispatcher_with(
    store: &Arc<SqlJobStore>,
    handler: Flaky,
    lease: Duration,
    bus: Option<actors::events::EventBus>,
) -> actix::Addr<Dispatcher> {
    let mut handlers: HashMap<String, Arc<dyn JobHandler>> = HashMap::new();
    handlers.insert("work".to_owned(), Arc::new(handler));
    let d = Dispatcher::new(
        Arc::clone(store) as Arc<dyn JobStore>,
        handlers,
        DispatcherConfig {
            queue: "test".to_owned(),
            concurrency: 4,
            lease,
            poll_interval: Duration::from_millis(50),
            owner: "test-process".to_owned(),
        },
    );
    match bus {
        Some(bus) => d.with_events(bus).start(),
        None => d.start(),
    }
}

fn spec(max_attempts: u32) -> JobSpec {
    let mut s = JobSpec::new(
        "test",
        "work",
        serde_json::json!({"n": 1}),
        TraceId::new("trace-jobs"),
    );
    s.max_attempts = max_attempts;
    s.backoff = BackoffPolicy::Fixed { delay_ms: 50 };
    s
}

async fn wait_state(db: &Db, id: &str, state: &str) -> JobRow {
    eventually(
        Duration::from_secs(5),
        &format!("job {id} {state}"),
        || async {
            let row = get(db, id).await.expect("get").expect("job exists");
            if row.state == state {
                Ok(row)
            } else {
                Err(row)
            }
        },
    )
    .await
}

async fn retries_with_backoff_then_success(backend: Backend) {
    let s = setup(backend).await;
    let runs = Arc::new(AtomicU32::new(0));
    let bus = actors::events::EventBus::new(16);
    let mut failures = bus.subscribe::<actors::events::JobFailed>();
    let d = dispatcher_with(
        &s.store,
        Flaky {
            fail_times: 2,
            runs: Arc::clone(&runs),
        },
        Duration::from_secs(10),
        Some(bus.clone()),
    );
    let (id, created) = s.store.enqueue(&spec(5)).await.expect("enqueue");
    assert!(created);
    d.do_send(Wake);
    let row = wait_state(&s.db, &id, "completed").await;
    assert_eq!(row.attempts, 3);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(row.result.as_deref(), Some(r#"{"echo":{"n":1}}"#));
    // Completed is what happened: an error of an earlier attempt is no longer shown (the
    // attempts count says it took three).
    assert_eq!(row.last_error, None, "a completed job shows no stale error");
    assert_eq!(row.trace_id, "trace-jobs");
    assert!(row.finished_at.is_some());
    assert_eq!(row.progress, 100);
    assert_eq!(
        row.progress_message.as_deref(),
        Some("halfway"),
        "reported by the handler"
    );
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(2), failures.recv())
            .await
            .expect("event")
            .expect("bus");
        assert_eq!(
            (e.job_id.as_str(), e.dead, e.trace_id.as_str()),
            (id.as_str(), false, "trace-jobs")
        );
    }
}

on_both_backends!(retention_prunes_by_age_and_count);

async fn retention_prunes_by_age_and_count(backend: Backend) {
    let s = setup(backend).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (id, _) = s.store.enqueue(&spec(1)).await.expect("enqueue");
        let c = s
            .store
            .claim("test", "p", Duration::from_secs(10), 1)
            .await
            .expect("claim")
            .remove(0);
        assert!(
            s.store
                .finish(
                    &id,
                    &c.lease_id,
                    &Outcome::Completed {
                        result: serde_json::json!(null)
                    }
                )
                .await
                .expect("finish")
        );
        ids.push(id);
    }
    let (waiting, _) = s.store.enqueue(&spec(1)).await.expect("enqueue");
    assert_eq!(
        ai_service::jobs::store::prune(&s.db, Duration::from_secs(3600))
            .await
            .expect("prune"),
        0,
        "all recent"
    );
    assert_eq!(
        ai_service::jobs::store::prune_to_count(&s.db, 2)
            .await
            .expect("prune"),
        3
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            get(&s.db, id).await.expect("get").is_some(),
            i >= 3,
            "only the 2 newest finished jobs stay"
        );
    }
    // Retention by age: the jobs must be older than the 1 ms asked for.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        ai_service::jobs::store::prune(&s.db, Duration::from_millis(1))
            .await
            .expect("prune"),
        2
    );
    assert!(
        get(&s.db, &waiting).await.expect("get").is_some(),
        "unfinished jobs are never pruned"
    );
}

async fn max_attempts_make_a_job_dead(backend: Backend) {
    let s = setup(backend).await;
    let runs = Arc::new(AtomicU32::new(0));
    let _d = dispatcher(
        &s.store,
        Flaky {
            fail_times: 100,
            runs: Arc::clone(&runs),
        },
        Duration::from_secs(10),
    );
    let (id, _) = s.store.enqueue(&spec(3)).await.expect("enqueue");
    let row = wait_state(&s.db, &id, "dead").await;
    assert_eq!(row.attempts, 3);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(row.last_error.as_deref(), Some("failure #3"));
    // Nothing may happen: only time passing (several 50 ms backoffs) can show it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 3, "dead jobs do not run again");
}

async fn delayed_jobs_do_not_run_early(backend: Backend) {
    let s = setup(backend).await;
    let runs = Arc::new(AtomicU32::new(0));
    let _d = dispatcher(
        &s.store,
        Flaky {
            fail_times: 0,
            runs: Arc::clone(&runs),
        },
        Duration::from_secs(10),
    );
    let mut job = spec(1);
    let due = chrono::Utc::now().timestamp_millis() + 700;
    job.run_at_ms = Some(due);
    let (id, _) = s.store.enqueue(&job).await.expect("enqueue");
    // Not running before its time is what is tested.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 0, "not before run_at");
    assert_eq!(
        get(&s.db, &id).await.expect("get").expect("row").state,
        "delayed"
    );
    let row = wait_state(&s.db, &id, "completed").await;
    assert!(row.updated_at >= due, "completed after it came due");
}

async fn idempotency_key_dedupes(backend: Backend) {
    let s = setup(backend).await;
    let mut job = spec(1);
    job.idempotency_key = Some("sync:acc-1:202611".to_owned());
    let (first, created) = s.store.enqueue(&job).await.expect("enqueue");
    assert!(created);
    let (second, created) = s.store.enqueue(&job).await.expect("enqueue again");
    assert!(!created);
    assert_eq!(first, second);
    // Concurrent enqueues of one key still give one job.
    let results = futures::future::join_all((0..5).map(|_| s.store.enqueue(&job))).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|(id, c)| id == &first && !c))
    );
    // Another key, or the same key after its window, makes a new job.
    job.idempotency_key = Some("sync:acc-1:202612".to_owned());
    assert!(s.store.enqueue(&job).await.expect("enqueue").1);
    let mut short = spec(1);
    short.idempotency_key = Some("short".to_owned());
    short.idempotency_window = Duration::from_millis(50);
    let (a, _) = s.store.enqueue(&short).await.expect("enqueue");
    // The 50 ms idempotency window must end: expiry is what is tested.
    tokio::time::sleep(Duration::from_millis(80)).await;
    let (b, created) = s.store.enqueue(&short).await.expect("enqueue");
    assert!(created && a != b, "the window ended");
}

async fn a_lost_worker_job_reruns_exactly_once(backend: Backend) {
    let s = setup(backend).await;
    let (id, _) = s.store.enqueue(&spec(3)).await.expect("enqueue");
    // A worker claims it and dies: no heartbeat, no ack.
    let claimed = s
        .store
        .claim("test", "doomed-process", Duration::from_millis(100), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    // The 100 ms lease must run out: expiry is what is tested.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let runs = Arc::new(AtomicU32::new(0));
    let _d = dispatcher(
        &s.store,
        Flaky {
            fail_times: 0,
            runs: Arc::clone(&runs),
        },
        Duration::from_secs(10),
    );
    let row = wait_state(&s.db, &id, "completed").await;
    assert_eq!(row.attempts, 2, "the lost attempt counts");
    // Nothing more may happen: only time passing can show it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "re-run exactly once");
}

async fn a_stale_ack_is_fenced_off(backend: Backend) {
    let s = setup(backend).await;
    let (id, _) = s.store.enqueue(&spec(3)).await.expect("enqueue");
    let first = s
        .store
        .claim("test", "slow", Duration::from_millis(50), 1)
        .await
        .expect("claim")
        .remove(0);
    // The 50 ms lease must run out: expiry is what is tested.
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(s.store.requeue_expired().await.expect("requeue"), 1);
    let second = s
        .store
        .claim("test", "fast", Duration::from_secs(10), 1)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(second.attempt, 2);
    let done = |r: &str| Outcome::Completed {
        result: serde_json::json!(r),
    };
    assert!(
        !s.store
            .finish(&id, &first.lease_id, &done("stale"))
            .await
            .expect("finish"),
        "stale lease rejected"
    );
    assert!(
        !s.store
            .extend(&id, &first.lease_id, Duration::from_secs(5))
            .await
            .expect("extend")
    );
    assert!(
        s.store
            .finish(&id, &second.lease_id, &done("fresh"))
            .await
            .expect("finish")
    );
    let row = get(&s.db, &id).await.expect("get").expect("row");
    assert_eq!(row.result.as_deref(), Some(r#""fresh""#));
}

on_both_backends!(jobs_api_lists_cancels_and_retries);

async fn jobs_api_lists_cancels_and_retries(backend: Backend) {
    let app = crate::helpers::TestApp::spawn(backend).await;
    let viewer = app.token_for("viewer").await;
    let trader = app.token_for("trader").await;
    let url = app.db.as_ref().expect("db").url().to_owned();
    let db = Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let store = SqlJobStore::new(DbHandle::connected(db.clone()));
    // A queue no dispatcher serves, so the job stays where the test puts it.
    let mut job = JobSpec::new(
        "parked",
        "sync",
        serde_json::json!({"account": "a1"}),
        TraceId::new("t-1"),
    );
    job.run_at_ms = Some(chrono::Utc::now().timestamp_millis() + 60_000);
    let (id, _) = store.enqueue(&job).await.expect("enqueue");

    let page: serde_json::Value = app
        .call("GET", "/v1/jobs?queue=parked", Some(&viewer), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"][0]["id"], id.as_str());
    assert_eq!(page["items"][0]["state"], "delayed");
    assert_eq!(page["items"][0]["payload"]["account"], "a1");
    let bad = app
        .call("GET", "/v1/jobs?state=exploded", Some(&viewer), None)
        .await;
    assert_eq!(bad.status(), 422);

    // Pages of two, following the cursor, with both filters: every parked job once, newest
    // first; another state or queue finds none of them.
    let mut ids = vec![id.clone()];
    for i in 0..4 {
        let mut more = JobSpec::new(
            "parked",
            "sync",
            serde_json::json!({"i": i}),
            TraceId::new("t-2"),
        );
        more.run_at_ms = job.run_at_ms;
        ids.push(store.enqueue(&more).await.expect("enqueue").0);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = app
            .call(
                "GET",
                &format!("/v1/jobs?queue=parked&state=delayed&limit=2{cursor}"),
                Some(&viewer),
                None,
            )
            .await
            .json()
            .await
            .expect("json");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|j| j["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    for other in [
        "/v1/jobs?queue=parked&state=waiting",
        "/v1/jobs?queue=elsewhere&state=delayed",
    ] {
        let page: serde_json::Value = app
            .call("GET", other, Some(&viewer), None)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "{other}");
    }

    assert_eq!(
        app.call("DELETE", &format!("/v1/jobs/{id}"), Some(&viewer), None)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.call("DELETE", &format!("/v1/jobs/{id}"), Some(&trader), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.call("DELETE", &format!("/v1/jobs/{id}"), Some(&trader), None)
            .await
            .status(),
        409,
        "already cancelled"
    );
    let retried = app
        .call("POST", &format!("/v1/jobs/{id}/retry"), Some(&trader), None)
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(
        retried.json::<serde_json::Value>().await.expect("json")["state"],
        "waiting"
    );
    let one: serde_json::Value = app
        .call("GET", &format!("/v1/jobs/{id}"), Some(&viewer), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(one["trace_id"], "t-1");
    assert_eq!(
        app.call("GET", "/v1/jobs/nope", Some(&viewer), None)
            .await
            .status(),
        404
    );
    db.close().await;
    app.stop().await;
}

/// Process A enqueues; process B's dispatcher (polling only every 30 s) runs the job at once,
/// woken by Postgres NOTIFY.
#[actix_web::test]
async fn postgres_notify_wakes_other_processes() {
    if !crate::helpers::postgres_available().await {
        return;
    }
    let s = setup(Backend::Postgres).await;
    let runs = Arc::new(AtomicU32::new(0));
    let mut handlers: HashMap<String, Arc<dyn JobHandler>> = HashMap::new();
    handlers.insert(
        "work".to_owned(),
        Arc::new(Flaky {
            fail_times: 0,
            runs: Arc::clone(&runs),
        }),
    );
    let b_store = Arc::new(SqlJobStore::new(DbHandle::connected(s.db.clone())));
    let mut sup = actors::supervise::Supervisor::new(
        Default::default(),
        actors::supervise::Readiness::default(),
    );
    let store_for_b = Arc::clone(&b_store);
    let b_dispatcher = sup.spawn("jobs-test-b", move |_| {
        Dispatcher::new(
            Arc::clone(&store_for_b) as Arc<dyn JobStore>,
            handlers.clone(),
            DispatcherConfig {
                queue: "test".into(),
                concurrency: 1,
                lease: Duration::from_secs(10),
                poll_interval: Duration::from_secs(30),
                owner: "b".into(),
            },
        )
    });
    tokio::time::sleep(Duration::from_millis(200)).await; // B's first claim found nothing
    let b_queue = JobQueue::new(
        b_store,
        HashMap::from([("test".to_owned(), b_dispatcher)]),
        Arc::default(),
    );
    let listener = ai_service::jobs::listen(DbHandle::connected(s.db.clone()), b_queue);
    tokio::time::sleep(Duration::from_millis(300)).await; // LISTEN is established
    let started = std::time::Instant::now();
    let (id, _) = s
        .store
        .enqueue(&spec(1))
        .await
        .expect("enqueue from process A");
    let row = wait_state(&s.db, &id, "completed").await;
    assert_eq!(row.attempts, 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken, not polled"
    );
    listener.stop().await;
    sup.shutdown().await;
}

/// Dispatchers come from the registered job kinds; a configured queue nothing handles is
/// refused at start (a typo like `finanse` used to start a dispatcher with no handlers while
/// `finance` jobs waited forever). The queue's old name says what it is called now.
#[actix_web::test]
async fn a_configured_queue_without_job_kinds_is_refused() {
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    for (queue, says) in [
        (
            "finanse",
            "jobs.queues: no job kinds run in queue `finanse`; known queues: finance, maintenance, telegram, trading",
        ),
        (
            "financial",
            "jobs.queues: queue `financial` is called `finance` now",
        ),
    ] {
        let mut settings = crate::helpers::test_settings(db.url());
        settings.jobs.queues = vec!["finance".to_owned(), queue.to_owned()];
        let Err(err) = ai_service::startup::Application::build(settings).await else {
            panic!("queue `{queue}` without job kinds was accepted");
        };
        let text = format!("{err:#}");
        assert!(text.contains(says), "{text}");
    }
}

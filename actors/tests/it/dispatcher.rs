//! The job dispatcher on the in-memory job store: jobs run through the handler registered
//! for their name, failures retry with backoff until they succeed or die, a panicking
//! handler costs an attempt, an expired lease is fenced off, and outcomes are flushed together.

use actix::Actor;
use actors::TraceId;
use actors::jobs::{
    BackoffPolicy, Claimed, Dispatcher, DispatcherConfig, Finished, JobError, JobHandler, JobSpec,
    JobStore, Outcome, Progress, Wake,
};
use actors::ports::DependencyError;
use actors::testkit::{JobState, MemoryJobStore, StoredJob, eventually};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// Answers each attempt with the next scripted result (the last one repeats), after
/// reporting progress. `None` in the script panics.
struct Scripted {
    script: Mutex<VecDeque<Option<Result<serde_json::Value, JobError>>>>,
    attempts: Mutex<Vec<u32>>,
}

impl Scripted {
    fn new(script: Vec<Option<Result<serde_json::Value, JobError>>>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into()),
            attempts: Mutex::default(),
        })
    }

    fn attempts(&self) -> Vec<u32> {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl JobHandler for Scripted {
    #[allow(clippy::panic)]
    async fn run(&self, job: &Claimed, progress: &Progress) -> Result<serde_json::Value, JobError> {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(job.attempt);
        progress.report(50, Some("halfway")).await;
        let next = {
            let mut script = self.script.lock().unwrap_or_else(PoisonError::into_inner);
            if script.len() > 1 {
                script.pop_front()
            } else {
                script.front().cloned()
            }
        };
        match next.flatten() {
            Some(result) => result,
            None => panic!("scripted handler panic (deliberate)"),
        }
    }
}

fn spec(name: &str, max_attempts: u32) -> JobSpec {
    let mut spec = JobSpec::new(
        "q",
        name,
        serde_json::json!({"n": 1}),
        TraceId::new("t-job"),
    );
    spec.max_attempts = max_attempts;
    spec.backoff = BackoffPolicy::Fixed { delay_ms: 10 };
    spec
}

fn start(store: &Arc<MemoryJobStore>, handler: Arc<Scripted>) -> actix::Addr<Dispatcher> {
    let handlers: HashMap<String, Arc<dyn JobHandler>> =
        HashMap::from([("work".to_owned(), handler as Arc<dyn JobHandler>)]);
    Dispatcher::new(
        Arc::clone(store) as Arc<dyn JobStore>,
        handlers,
        DispatcherConfig {
            queue: "q".to_owned(),
            concurrency: 2,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(20),
            owner: "test".to_owned(),
        },
    )
    .start()
}

async fn finished(store: &MemoryJobStore, id: &str) -> StoredJob {
    eventually(WAIT, "the job to finish", || async {
        match store.job(id) {
            Some(j) if matches!(j.state, JobState::Completed | JobState::Dead) => Ok(j),
            other => Err(other.map(|j| (j.state, j.attempts, j.last_error))),
        }
    })
    .await
}

#[actix_rt::test]
async fn a_job_runs_through_its_handler_and_completes_with_its_result() {
    let store = Arc::new(MemoryJobStore::new());
    let handler = Scripted::new(vec![Some(Ok(serde_json::json!({"done": true})))]);
    let (id, created) = store.enqueue(&spec("work", 3)).await.expect("enqueue");
    assert!(created);
    let dispatcher = start(&store, Arc::clone(&handler));
    dispatcher.do_send(Wake);

    let job = finished(&store, &id).await;

    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.result, Some(serde_json::json!({"done": true})));
    assert_eq!(job.progress, Some((50, Some("halfway".to_owned()))));
    assert_eq!(handler.attempts(), [1]);
}

#[actix_rt::test]
async fn a_retryable_failure_is_retried_and_the_success_drops_the_error() {
    let store = Arc::new(MemoryJobStore::new());
    let handler = Scripted::new(vec![
        Some(Err(JobError::Retryable("venue busy".into()))),
        Some(Ok(serde_json::json!(1))),
    ]);
    let (id, _) = store.enqueue(&spec("work", 3)).await.expect("enqueue");
    start(&store, Arc::clone(&handler));

    let job = finished(&store, &id).await;

    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.attempts, 2);
    assert_eq!(job.last_error, None, "no stale error after a success");
    assert_eq!(handler.attempts(), [1, 2]);
}

#[actix_rt::test]
async fn retries_stop_at_max_attempts_and_a_permanent_error_kills_at_once() {
    let store = Arc::new(MemoryJobStore::new());
    let retrying = Scripted::new(vec![Some(Err(JobError::Retryable("down".into())))]);
    let (id, _) = store.enqueue(&spec("work", 3)).await.expect("enqueue");
    start(&store, Arc::clone(&retrying));
    let job = finished(&store, &id).await;
    assert_eq!(
        (job.state, job.attempts, job.last_error.as_deref()),
        (JobState::Dead, 3, Some("down"))
    );

    let store = Arc::new(MemoryJobStore::new());
    let permanent = Scripted::new(vec![Some(Err(JobError::Permanent("bad payload".into())))]);
    let (id, _) = store.enqueue(&spec("work", 3)).await.expect("enqueue");
    start(&store, Arc::clone(&permanent));
    let job = finished(&store, &id).await;
    assert_eq!(
        (job.state, job.attempts, job.last_error.as_deref()),
        (JobState::Dead, 1, Some("bad payload"))
    );
}

#[actix_rt::test]
async fn a_job_nobody_handles_dies_and_a_panicking_handler_costs_an_attempt() {
    let store = Arc::new(MemoryJobStore::new());
    let handler = Scripted::new(vec![None, Some(Ok(serde_json::json!("ok")))]);
    let (unknown, _) = store.enqueue(&spec("nobody", 3)).await.expect("enqueue");
    let (panicky, _) = store.enqueue(&spec("work", 3)).await.expect("enqueue");
    let dispatcher = start(&store, Arc::clone(&handler));

    let job = finished(&store, &unknown).await;
    assert_eq!(job.state, JobState::Dead);
    assert_eq!(
        job.last_error.as_deref(),
        Some("no handler for job `nobody`")
    );

    let job = finished(&store, &panicky).await;
    assert_eq!((job.state, job.attempts), (JobState::Completed, 2));
    assert_eq!(handler.attempts(), [1, 2]);
    assert!(dispatcher.connected(), "the dispatcher survived the panic");
}

#[actix_rt::test]
async fn an_outcome_under_an_expired_lease_is_fenced_off() {
    let store = MemoryJobStore::new();
    let (id, _) = store.enqueue(&spec("work", 3)).await.expect("enqueue");
    let first = store
        .claim("q", "a", Duration::from_secs(30), 1)
        .await
        .expect("claim")
        .pop()
        .expect("the job");
    store.expire_leases();
    assert_eq!(store.requeue_expired().await.expect("requeue"), 1);
    let second = store
        .claim("q", "b", Duration::from_secs(30), 1)
        .await
        .expect("claim")
        .pop()
        .expect("the job again");
    assert_eq!(second.attempt, 2);

    let late = actors::jobs::Outcome::Completed {
        result: serde_json::json!("late"),
    };
    assert!(
        !store
            .finish(&id, &first.lease_id, &late)
            .await
            .expect("finish")
    );
    let on_time = actors::jobs::Outcome::Completed {
        result: serde_json::json!("on time"),
    };
    assert!(
        store
            .finish(&id, &second.lease_id, &on_time)
            .await
            .expect("finish")
    );
    assert_eq!(
        store.job(&id).and_then(|j| j.result),
        Some(serde_json::json!("on time"))
    );
}

/// The memory store, with the first flush held until the test opens the gate.
struct Gated {
    inner: MemoryJobStore,
    gate: tokio::sync::Semaphore,
    flushes: Mutex<Vec<usize>>,
}

#[async_trait]
impl JobStore for Gated {
    async fn enqueue(&self, spec: &JobSpec) -> Result<(String, bool), DependencyError> {
        self.inner.enqueue(spec).await
    }
    async fn claim(
        &self,
        queue: &str,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, DependencyError> {
        self.inner.claim(queue, owner, lease, limit).await
    }
    async fn finish(
        &self,
        job_id: &str,
        lease_id: &str,
        outcome: &Outcome,
    ) -> Result<bool, DependencyError> {
        self.inner.finish(job_id, lease_id, outcome).await
    }
    async fn finish_many(&self, batch: &[Finished]) -> Result<Vec<bool>, DependencyError> {
        let first = {
            let mut flushes = self.flushes.lock().unwrap_or_else(PoisonError::into_inner);
            flushes.push(batch.len());
            flushes.len() == 1
        };
        if first {
            let _ = self.gate.acquire().await;
        }
        self.inner.finish_many(batch).await
    }
    async fn extend(
        &self,
        job_id: &str,
        lease_id: &str,
        lease: Duration,
    ) -> Result<bool, DependencyError> {
        self.inner.extend(job_id, lease_id, lease).await
    }
    async fn progress(
        &self,
        job_id: &str,
        lease_id: &str,
        percent: u8,
        message: Option<&str>,
    ) -> Result<bool, DependencyError> {
        self.inner
            .progress(job_id, lease_id, percent, message)
            .await
    }
    async fn requeue_expired(&self) -> Result<u64, DependencyError> {
        self.inner.requeue_expired().await
    }
    async fn waiting(&self, queue: &str) -> Result<u64, DependencyError> {
        self.inner.waiting(queue).await
    }
}

#[actix_rt::test]
async fn outcomes_wait_for_the_flush_in_flight_and_go_out_together() {
    let store = Arc::new(Gated {
        inner: MemoryJobStore::new(),
        gate: tokio::sync::Semaphore::new(0),
        flushes: Mutex::default(),
    });
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(store.enqueue(&spec("work", 3)).await.expect("enqueue").0);
    }
    let handler = Scripted::new(vec![Some(Ok(serde_json::json!("ok")))]);
    let handlers: HashMap<String, Arc<dyn JobHandler>> = HashMap::from([(
        "work".to_owned(),
        Arc::clone(&handler) as Arc<dyn JobHandler>,
    )]);
    Dispatcher::new(
        Arc::clone(&store) as Arc<dyn JobStore>,
        handlers,
        DispatcherConfig {
            queue: "q".to_owned(),
            concurrency: 4,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(20),
            owner: "test".to_owned(),
        },
    )
    .start();

    eventually(WAIT, "four jobs ran, the first flush held", || async {
        match handler.attempts().len() {
            4 => Ok(()),
            n => Err(n),
        }
    })
    .await;
    // Slots free only once outcomes are stored: the fifth job waits for the held flush.
    assert_eq!(
        store.inner.job(&ids[4]).map(|j| j.state),
        Some(JobState::Waiting)
    );
    store.gate.add_permits(1);
    for id in &ids {
        eventually(WAIT, "every job completed", || async {
            match store.inner.job(id).map(|j| j.state) {
                Some(JobState::Completed) => Ok(()),
                other => Err(other),
            }
        })
        .await;
    }
    let flushes = store
        .flushes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(flushes.iter().sum::<usize>(), 5, "each outcome stored once");
    assert!(
        flushes.len() < 5,
        "outcomes that ended during a flush went out together: {flushes:?}"
    );
}

/// The memory store, counting jobs held (claimed, outcome not yet handed back) to check the
/// concurrency limit while flushes claim the slots they free and wake-ups claim on their own.
struct Held {
    inner: MemoryJobStore,
    held: Mutex<(usize, usize)>,
}

#[async_trait]
impl JobStore for Held {
    async fn enqueue(&self, spec: &JobSpec) -> Result<(String, bool), DependencyError> {
        self.inner.enqueue(spec).await
    }
    async fn claim(
        &self,
        queue: &str,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, DependencyError> {
        let jobs = self.inner.claim(queue, owner, lease, limit).await?;
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.0 += jobs.len();
        held.1 = held.1.max(held.0);
        Ok(jobs)
    }
    async fn finish(
        &self,
        job_id: &str,
        lease_id: &str,
        outcome: &Outcome,
    ) -> Result<bool, DependencyError> {
        self.inner.finish(job_id, lease_id, outcome).await
    }
    async fn finish_many(&self, batch: &[Finished]) -> Result<Vec<bool>, DependencyError> {
        let applied = self.inner.finish_many(batch).await?;
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.0 -= batch.len();
        Ok(applied)
    }
    async fn extend(
        &self,
        job_id: &str,
        lease_id: &str,
        lease: Duration,
    ) -> Result<bool, DependencyError> {
        self.inner.extend(job_id, lease_id, lease).await
    }
    async fn progress(
        &self,
        job_id: &str,
        lease_id: &str,
        percent: u8,
        message: Option<&str>,
    ) -> Result<bool, DependencyError> {
        self.inner
            .progress(job_id, lease_id, percent, message)
            .await
    }
    async fn requeue_expired(&self) -> Result<u64, DependencyError> {
        self.inner.requeue_expired().await
    }
    async fn waiting(&self, queue: &str) -> Result<u64, DependencyError> {
        self.inner.waiting(queue).await
    }
}

#[actix_rt::test]
async fn flushes_claim_the_freed_slots_within_the_concurrency_limit() {
    let store = Arc::new(Held {
        inner: MemoryJobStore::new(),
        held: Mutex::default(),
    });
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(store.enqueue(&spec("work", 3)).await.expect("enqueue").0);
    }
    let handler = Scripted::new(vec![Some(Ok(serde_json::json!("ok")))]);
    let handlers: HashMap<String, Arc<dyn JobHandler>> = HashMap::from([(
        "work".to_owned(),
        Arc::clone(&handler) as Arc<dyn JobHandler>,
    )]);
    let addr = Dispatcher::new(
        Arc::clone(&store) as Arc<dyn JobStore>,
        handlers,
        DispatcherConfig {
            queue: "q".to_owned(),
            concurrency: 3,
            lease: Duration::from_secs(30),
            // Only flushes and wake-ups claim here.
            poll_interval: Duration::from_secs(3600),
            owner: "test".to_owned(),
        },
    )
    .start();
    for _ in 0..20 {
        addr.do_send(Wake);
        tokio::task::yield_now().await;
    }
    for id in &ids {
        eventually(WAIT, "every job completed", || async {
            match store.inner.job(id).map(|j| j.state) {
                Some(JobState::Completed) => Ok(()),
                other => Err(other),
            }
        })
        .await;
    }
    assert_eq!(handler.attempts(), vec![1; 60], "each job ran once");
    let (held, most) = *store.held.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(held, 0);
    assert!(most <= 3, "at most 3 jobs held at once, saw {most}");
}

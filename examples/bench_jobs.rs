//! Throughput benchmark (not a test): in-process actor messages, and durable no-op jobs
//! enqueue→complete on SQLite and (with `--postgres URL`) Postgres. Run via `bench/jobs.sh`.
//! `JOBS=` (default 10000), `CONCURRENCY=` (default 100, as the BullMQ run), `POOL=` (8).
#![allow(clippy::print_stdout)]

use actix::{Actor, Context, Handler, Message};
use actors::TraceId;
use actors::jobs::{
    Claimed, Dispatcher, DispatcherConfig, Finished, JobError, JobHandler, JobSpec, JobStore,
    Outcome, Progress,
};
use actors::ports::DependencyError;
use ai_service::config::{SecretUrl, Settings};
use ai_service::db::{Db, DbHandle};
use ai_service::jobs::SqlJobStore;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Message)]
#[rtype(result = "()")]
struct Ping;

#[derive(Message)]
#[rtype(result = "u64")]
struct Count;

struct Counter(u64);

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Ping> for Counter {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {
        self.0 += 1;
    }
}

impl Handler<Count> for Counter {
    type Result = u64;
    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
        self.0
    }
}

/// Counts runs, so the benchmark waits on a counter instead of polling the table.
struct Noop(Arc<AtomicUsize>);

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, _: &Claimed, _: &Progress) -> Result<serde_json::Value, JobError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(serde_json::Value::Null)
    }
}

/// The SQL store, counting claim and flush statements (how well they batch).
struct Counting {
    inner: SqlJobStore,
    claims: AtomicUsize,
    claimed: AtomicUsize,
    flushes: AtomicUsize,
    flushed: AtomicUsize,
    /// Jobs claimed by the flushes themselves (`finish_and_claim`).
    reclaimed: AtomicUsize,
    /// Time spent in claim and flush calls (µs): how much of the run is the database.
    claim_us: AtomicUsize,
    flush_us: AtomicUsize,
}

fn micros(since: Instant) -> usize {
    usize::try_from(since.elapsed().as_micros()).unwrap_or(usize::MAX)
}

#[async_trait]
impl JobStore for Counting {
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
        let start = Instant::now();
        let jobs = self.inner.claim(queue, owner, lease, limit).await?;
        self.claim_us.fetch_add(micros(start), Ordering::Relaxed);
        self.claims.fetch_add(1, Ordering::Relaxed);
        self.claimed.fetch_add(jobs.len(), Ordering::Relaxed);
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
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.flushed.fetch_add(batch.len(), Ordering::Relaxed);
        let start = Instant::now();
        let applied = self.inner.finish_many(batch).await;
        self.flush_us.fetch_add(micros(start), Ordering::Relaxed);
        applied
    }
    async fn finish_and_claim(
        &self,
        batch: &[Finished],
        queue: &str,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<(Vec<bool>, Vec<Claimed>), DependencyError> {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.flushed.fetch_add(batch.len(), Ordering::Relaxed);
        let start = Instant::now();
        let res = self
            .inner
            .finish_and_claim(batch, queue, owner, lease, limit)
            .await;
        self.flush_us.fetch_add(micros(start), Ordering::Relaxed);
        if let Ok((_, jobs)) = &res {
            self.reclaimed.fetch_add(jobs.len(), Ordering::Relaxed);
        }
        res
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

async fn actor_messages(n: u64) -> f64 {
    let addr = Counter(0).start();
    let start = Instant::now();
    for _ in 0..n {
        addr.do_send(Ping);
    }
    let counted = addr.send(Count).await.unwrap_or(0);
    assert_eq!(counted, n);
    n as f64 / start.elapsed().as_secs_f64()
}

struct Run {
    enqueue_rate: f64,
    complete_rate: f64,
    claims: usize,
    claimed: usize,
    flushes: usize,
    flushed: usize,
    reclaimed: usize,
    claim_ms: f64,
    flush_ms: f64,
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn durable(url: &str, n: usize) -> anyhow::Result<Run> {
    let mut settings = Settings::default();
    settings.database.url = SecretUrl::new(url);
    settings.database.max_connections = env_or("POOL", 8);
    let db = Db::connect(&settings.database).await?;
    db.migrate().await?;
    let store = Arc::new(Counting {
        inner: SqlJobStore::new(DbHandle::connected(db.clone())),
        claims: AtomicUsize::new(0),
        claimed: AtomicUsize::new(0),
        flushes: AtomicUsize::new(0),
        flushed: AtomicUsize::new(0),
        reclaimed: AtomicUsize::new(0),
        claim_us: AtomicUsize::new(0),
        flush_us: AtomicUsize::new(0),
    });
    let queue = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let start = Instant::now();
    for i in 0..n {
        store
            .enqueue(&JobSpec::new(
                &queue,
                "noop",
                serde_json::json!({"i": i}),
                TraceId::system(),
            ))
            .await?;
    }
    let enqueue_rate = n as f64 / start.elapsed().as_secs_f64();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut handlers: HashMap<String, Arc<dyn JobHandler>> = HashMap::new();
    handlers.insert("noop".into(), Arc::new(Noop(Arc::clone(&runs))));
    let start = Instant::now();
    let _d = Dispatcher::new(
        Arc::clone(&store) as Arc<dyn JobStore>,
        handlers,
        DispatcherConfig {
            queue: queue.clone(),
            concurrency: env_or("CONCURRENCY", 100),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(20),
            owner: "bench".into(),
        },
    )
    .start();
    // Every job ran once; then every outcome must be in the table (the last flush).
    while runs.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    while unfinished(&db, &queue).await? > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let complete_rate = n as f64 / start.elapsed().as_secs_f64();
    db.close().await;
    Ok(Run {
        enqueue_rate,
        complete_rate,
        claims: store.claims.load(Ordering::Relaxed),
        claimed: store.claimed.load(Ordering::Relaxed),
        flushes: store.flushes.load(Ordering::Relaxed),
        flushed: store.flushed.load(Ordering::Relaxed),
        reclaimed: store.reclaimed.load(Ordering::Relaxed),
        claim_ms: store.claim_us.load(Ordering::Relaxed) as f64 / 1000.0,
        flush_ms: store.flush_us.load(Ordering::Relaxed) as f64 / 1000.0,
    })
}

fn report(backend: &str, n: usize, r: &Run) {
    println!(
        "{backend:<8} {n} no-op jobs: enqueue {:.0}/s, claim->complete {:.0}/s \
         ({} claims, {:.1} jobs each, {:.2} ms each; {} flushes, {:.1} outcomes and {:.1} claimed jobs \
         each, {:.2} ms each)",
        r.enqueue_rate,
        r.complete_rate,
        r.claims,
        r.claimed as f64 / r.claims.max(1) as f64,
        r.claim_ms / r.claims.max(1) as f64,
        r.flushes,
        r.flushed as f64 / r.flushes.max(1) as f64,
        r.reclaimed as f64 / r.flushes.max(1) as f64,
        r.flush_ms / r.flushes.max(1) as f64,
    );
}

async fn unfinished(db: &Db, queue: &str) -> anyhow::Result<i64> {
    let sql = "SELECT COUNT(*) FROM jobs WHERE queue = $1 AND state <> 'completed'";
    Ok(db
        .fetch_scalar(ai_service::db::Sql::new(sql).bind(queue))
        .await?)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let pg = args
        .iter()
        .position(|a| a == "--postgres")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let n_jobs: usize = std::env::var("JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);

    let rate = actor_messages(2_000_000).await;
    println!("in-process actor messages: {rate:.0}/s (target >= 200000/s)");

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    report("sqlite", n_jobs, &durable(&url, n_jobs).await?);
    if let Some(admin) = pg {
        // A throwaway database, so the benchmark never touches real data.
        use sqlx::{Connection, Executor};
        let name = format!("bench_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await?;
        let mut url = url::Url::parse(&admin)?;
        url.set_path(&format!("/{name}"));
        let result = durable(url.as_str(), n_jobs).await;
        conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
            .await?;
        report("postgres", n_jobs, &result?);
    }
    Ok(())
}

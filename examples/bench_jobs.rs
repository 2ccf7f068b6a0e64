//! Throughput benchmark (not a test): in-process actor messages, and durable no-op jobs
//! enqueue→complete on SQLite and (with `--postgres URL`) Postgres. Run via `bench/jobs.sh`.
#![allow(clippy::print_stdout)]

use actix::{Actor, Context, Handler, Message};
use actors::TraceId;
use actors::jobs::{
    Claimed, Dispatcher, DispatcherConfig, JobError, JobHandler, JobSpec, JobStore, Progress,
};
use ai_service::config::{SecretUrl, Settings};
use ai_service::db::{Db, DbHandle};
use ai_service::jobs::SqlJobStore;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
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

struct Noop;

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, _: &Claimed, _: &Progress) -> Result<serde_json::Value, JobError> {
        Ok(serde_json::Value::Null)
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

async fn durable(url: &str, n: usize) -> anyhow::Result<(f64, f64)> {
    let mut settings = Settings::default();
    settings.database.url = SecretUrl::new(url);
    settings.database.max_connections = 8;
    let db = Db::connect(&settings.database).await?;
    db.migrate().await?;
    let store = Arc::new(SqlJobStore::new(DbHandle::connected(db.clone())));
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
    let mut handlers: HashMap<String, Arc<dyn JobHandler>> = HashMap::new();
    handlers.insert("noop".into(), Arc::new(Noop));
    let start = Instant::now();
    let _d = Dispatcher::new(
        Arc::clone(&store) as Arc<dyn JobStore>,
        handlers,
        DispatcherConfig {
            queue: queue.clone(),
            concurrency: 16,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(20),
            owner: "bench".into(),
        },
    )
    .start();
    while store.waiting(&queue).await? > 0 || active(&db, &queue).await? > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let complete_rate = n as f64 / start.elapsed().as_secs_f64();
    db.close().await;
    Ok((enqueue_rate, complete_rate))
}

async fn active(db: &Db, queue: &str) -> anyhow::Result<i64> {
    let sql = "SELECT COUNT(*) FROM jobs WHERE queue = $1 AND state = 'active'";
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
        .unwrap_or(2000);

    let rate = actor_messages(2_000_000).await;
    println!("in-process actor messages: {rate:.0}/s (target >= 200000/s)");

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let (enq, done) = durable(&url, n_jobs).await?;
    println!("sqlite   {n_jobs} no-op jobs: enqueue {enq:.0}/s, claim->complete {done:.0}/s");
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
        let (enq, done) = result?;
        println!("postgres {n_jobs} no-op jobs: enqueue {enq:.0}/s, claim->complete {done:.0}/s");
    }
    Ok(())
}

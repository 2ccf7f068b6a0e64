//! `jobs` table as the queue backend. One statement claims a batch of jobs, each under its own
//! lease id, with `FOR UPDATE SKIP LOCKED` on Postgres (many dispatchers, many processes);
//! SQLite serialises writers, so a plain `UPDATE … RETURNING` is already exclusive there.
//! Outcomes are recorded in batches too (`finish_many`), each row fenced by its lease; on
//! Postgres a batch of completions and the claim of the slots they free are one statement
//! (`finish_and_claim`), and claims and outcomes commit without waiting for the WAL fsync
//! (see `ASYNC_COMMIT` for what a crash can lose, and why that is only work done twice).

use crate::config::Backend;
use crate::db::{Db, DbError, DbHandle, Sql, Tx};
use actors::TraceId;
use actors::jobs::{BackoffPolicy, Claimed, Finished, JobSpec, JobStore, Outcome};
use actors::ports::DependencyError;
use async_trait::async_trait;
use std::time::Duration;

/// Postgres channel announcing "queue X has a new job".
pub const CHANNEL: &str = "ai_service_jobs";
const NOTIFY: &str = "SELECT pg_notify('ai_service_jobs', $1)";

/// Postgres: a filter that turns `synchronous_commit` off for the statement's own (implicit)
/// transaction, so its commit does not wait for the WAL fsync: no extra round trip, unlike
/// `BEGIN; SET LOCAL …; …; COMMIT`. Evaluated once (an InitPlan in a one-time filter, checked
/// with EXPLAIN); the setting ends with the transaction. Used for claims and outcomes only,
/// never for enqueues. What a Postgres crash can lose then is the last ~0.6 s (three
/// `wal_writer_delay`s) of claims and outcomes, and both come back as work, never as lost
/// work: a lost claim leaves the job waiting (claimed again; if its handler had already run,
/// it runs once more: at least once), a lost outcome leaves it active under its old lease
/// (re-queued when the lease expires, run again). WAL is replayed in order, so anything a
/// later synchronous commit depends on (an enqueue) is never lost. Measured on this VM
/// (pgbench, one claim-shaped UPDATE a transaction): 1.68 ms -> 0.23 ms, 500 -> 1 WAL fsync.
const ASYNC_COMMIT: &str = "(SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL";

pub struct SqlJobStore {
    db: DbHandle,
    /// This host's name: leases of dead processes on it are expired at once (see `owner`).
    host: Option<String>,
}

impl SqlJobStore {
    pub fn new(db: DbHandle) -> Self {
        Self { db, host: None }
    }

    /// Expire leases of dead processes on `host` without waiting out the lease.
    pub fn with_host(mut self, host: String) -> Self {
        self.host = Some(host);
        self
    }

    /// Marks as expired the leases held by processes on this host that are gone.
    async fn expire_dead_local_leases(&self, db: &Db, host: &str) -> Result<(), DbError> {
        let sql = Sql::new(
            "SELECT id, lease_owner FROM jobs WHERE state = 'active' AND lease_owner LIKE $1",
        );
        let held: Vec<(String, String)> = db.fetch_all(sql.bind(format!("{host}:%"))).await?;
        for (id, owner) in held {
            if super::owner::is_dead_local(&owner, host) {
                tracing::warn!(job = %id, owner = %owner, "lease of a process that is gone: re-queued now");
                let sql = Sql::new(
                    "UPDATE jobs SET lease_expires_at = 0 WHERE id = $1 AND state = 'active' AND lease_owner = $2",
                );
                db.execute(sql.bind(&id).bind(&owner)).await?;
            }
        }
        Ok(())
    }

    fn db(&self) -> Result<Db, DependencyError> {
        self.db.port()
    }
}

use crate::db::port_error as port;

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

pub fn backoff_to_text(b: BackoffPolicy) -> String {
    match b {
        BackoffPolicy::Fixed { delay_ms } => format!("fixed:{delay_ms}"),
        BackoffPolicy::Exponential { base_ms, max_ms } => format!("exponential:{base_ms}:{max_ms}"),
    }
}

pub fn backoff_from_text(s: &str) -> BackoffPolicy {
    let parts: Vec<u64> = s
        .split(':')
        .skip(1)
        .filter_map(|p| p.parse().ok())
        .collect();
    match (s.split(':').next(), parts.as_slice()) {
        (Some("fixed"), [d]) => BackoffPolicy::Fixed { delay_ms: *d },
        (_, [b, m]) => BackoffPolicy::Exponential {
            base_ms: *b,
            max_ms: *m,
        },
        _ => BackoffPolicy::Exponential {
            base_ms: 1_000,
            max_ms: 300_000,
        },
    }
}

/// One row, as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub queue: String,
    pub name: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub backoff: String,
    pub run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub progress: i64,
    pub progress_message: Option<String>,
    pub result: Option<String>,
    pub last_error: Option<String>,
    pub trace_id: String,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// The columns of [`COLUMNS`], in order.
impl crate::db::PageRow for JobRow {
    fn read<R: crate::db::Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: r.col(0)?,
            queue: r.col(1)?,
            name: r.col(2)?,
            payload: r.col(3)?,
            state: r.col(4)?,
            attempts: r.col(5)?,
            max_attempts: r.col(6)?,
            backoff: r.col(7)?,
            run_at: r.col(8)?,
            lease_owner: r.col(9)?,
            lease_expires_at: r.col(10)?,
            progress: r.col(11)?,
            progress_message: r.col(12)?,
            result: r.col(13)?,
            last_error: r.col(14)?,
            trace_id: r.col(15)?,
            idempotency_key: r.col(16)?,
            created_at: r.col(17)?,
            updated_at: r.col(18)?,
            finished_at: r.col(19)?,
        })
    }
}

const COLUMNS: &str = "id, queue, name, payload, state, attempts, max_attempts, backoff, run_at, lease_owner, \
    lease_expires_at, progress, progress_message, result, last_error, trace_id, idempotency_key, created_at, \
    updated_at, finished_at";

pub async fn get(db: &Db, id: &str) -> Result<Option<JobRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

/// Newest first; `before` is a cursor (job id, UUIDv7).
///
/// Only the filters given are in the SQL and the limit is written in ([`Sql::push_limit`]):
/// with `($1 IS NULL OR queue = $1) … LIMIT $4` Postgres never prefers the generic plan of
/// the prepared statement and plans it again on every read; the unfiltered page has no
/// parameters and is planned once per connection.
pub async fn list(
    db: &Db,
    queue: Option<&str>,
    state: Option<&str>,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<JobRow>, DbError> {
    let mut sql = Sql::new(format!("SELECT {COLUMNS} FROM jobs WHERE 1 = 1"));
    for (column, op, value) in [
        ("queue", "=", queue),
        ("state", "=", state),
        ("id", "<", before),
    ] {
        if let Some(v) = value {
            let p = sql.arg(v);
            sql.push(&format!(" AND {column} {op} {p}"));
        }
    }
    sql.push(" ORDER BY id DESC");
    sql.push_limit(limit.into());
    db.fetch_page(sql).await
}

/// Puts a dead/failed/cancelled job back to waiting with a fresh attempt budget.
pub async fn retry(db: &Db, id: &str) -> Result<bool, DbError> {
    let sql = "UPDATE jobs SET state = 'waiting', attempts = 0, run_at = $2, updated_at = $2, finished_at = NULL \
               WHERE id = $1 AND state IN ('dead', 'failed', 'cancelled')";
    let n = db.execute(Sql::new(sql).bind(id).bind(now_ms())).await?;
    Ok(n == 1)
}

/// Cancels a job that has not started.
pub async fn cancel(db: &Db, id: &str) -> Result<bool, DbError> {
    let sql = "UPDATE jobs SET state = 'cancelled', updated_at = $2, finished_at = $2 \
               WHERE id = $1 AND state IN ('waiting', 'delayed')";
    let n = db.execute(Sql::new(sql).bind(id).bind(now_ms())).await?;
    Ok(n == 1)
}

/// Retention: deletes finished jobs older than `max_age` (their idempotency window is kept
/// separately, so deduplication does not depend on retention).
pub async fn prune(db: &Db, max_age: Duration) -> Result<u64, DbError> {
    let sql = "DELETE FROM jobs WHERE state IN ('completed', 'dead', 'failed', 'cancelled') AND finished_at < $1 \
               AND (idempotency_expires_at IS NULL OR idempotency_expires_at < $2)";
    let now = now_ms();
    db.execute(Sql::new(sql).bind(now - ms(max_age)).bind(now))
        .await
}

/// Retention by count: keeps the newest `keep` finished jobs (idempotency windows still apply).
pub async fn prune_to_count(db: &Db, keep: u32) -> Result<u64, DbError> {
    let finished = "state IN ('completed', 'dead', 'failed', 'cancelled') \
                    AND (idempotency_expires_at IS NULL OR idempotency_expires_at < $2)";
    let sql = match db.backend() {
        Backend::Sqlite => format!(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE {finished} ORDER BY id DESC LIMIT -1 OFFSET $1)"
        ),
        Backend::Postgres => format!(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE {finished} ORDER BY id DESC OFFSET $1)"
        ),
    };
    db.execute(Sql::new(sql).bind(i64::from(keep)).bind(now_ms()))
        .await
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: String,
    queue: String,
    name: String,
    payload: String,
    attempts: i64,
    max_attempts: i64,
    backoff: String,
    trace_id: String,
    lease_id: String,
    run_at: i64,
}

/// Writes a job inside the caller's transaction, so it commits or rolls back together with
/// the rows it belongs to (an import and its job, an ingest and its categorization). The
/// caller wakes the queue after commit ([`JobQueue::wake`](super::JobQueue::wake)).
/// `Ok((id, false))` when an enqueue with the same idempotency key is still in its window.
#[tracing::instrument(skip_all, fields(queue = %spec.queue, name = %spec.name, trace_id = %spec.trace_id))]
pub async fn enqueue_in(tx: &mut Tx, spec: &JobSpec) -> Result<(String, bool), DbError> {
    let now = now_ms();
    let run_at = spec.run_at_ms.unwrap_or(now).max(now);
    let state = if run_at > now { "delayed" } else { "waiting" };
    let id = uuid::Uuid::now_v7().to_string();
    let payload = spec.payload.to_string();
    let idem_until = spec
        .idempotency_key
        .as_ref()
        .map(|_| now + ms(spec.idempotency_window));
    let find = "SELECT id FROM jobs WHERE queue = $1 AND idempotency_key = $2 AND idempotency_expires_at > $3";
    // Only an expired key: on Postgres a concurrent enqueue of the same key, not yet
    // committed when `find` ran, is waited for here and then re-checked; without the expiry
    // condition it would lose its fresh key and the tick would run twice (seen as a flaky
    // `a_schedule_fires_once_per_tick_with_two_processes`).
    let release = "UPDATE jobs SET idempotency_key = NULL WHERE queue = $1 AND idempotency_key = $2 \
                   AND idempotency_expires_at <= $3";
    // ON CONFLICT: a concurrent enqueue of the same key (Postgres waits for it to commit)
    // leaves this one a no-op instead of aborting the caller's whole transaction.
    let insert = "INSERT INTO jobs (id, queue, name, payload, state, attempts, max_attempts, backoff, run_at, \
                  trace_id, idempotency_key, idempotency_expires_at, created_at, updated_at) \
                  VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $12, $12) \
                  ON CONFLICT (queue, idempotency_key) DO NOTHING";
    if let Some(key) = &spec.idempotency_key {
        let sql = Sql::new(find).bind(&spec.queue).bind(key).bind(now);
        if let Some(existing) = tx.fetch_scalar_optional::<String>(sql).await? {
            return Ok((existing, false));
        }
        // An expired key stays on its old row only as history: free it.
        tx.execute(Sql::new(release).bind(&spec.queue).bind(key).bind(now))
            .await?;
    }
    let sql = Sql::new(insert)
        .bind(&id)
        .bind(&spec.queue)
        .bind(&spec.name)
        .bind(&payload)
        .bind(state)
        .bind(i64::from(spec.max_attempts.max(1)))
        .bind(backoff_to_text(spec.backoff))
        .bind(run_at)
        .bind(spec.trace_id.as_str())
        .bind(&spec.idempotency_key)
        .bind(idem_until)
        .bind(now);
    let res = if tx.execute(sql).await? == 0 {
        // Lost the race for the key: the winner's job is the one.
        let sql = Sql::new(find)
            .bind(&spec.queue)
            .bind(spec.idempotency_key.as_deref().unwrap_or_default())
            .bind(now);
        (tx.fetch_scalar::<String>(sql).await?, false)
    } else {
        if tx.is_postgres() {
            // Delivered at commit to every process LISTENing (see `jobs::listen`).
            tx.execute(Sql::new(NOTIFY).bind(&spec.queue)).await?;
        }
        (id, true)
    };
    let (id, created) = res;
    if created {
        metrics::counter!(actors::jobs::JOBS_ENQUEUED_TOTAL, "queue" => spec.queue.clone(), "name" => spec.name.clone())
            .increment(1);
    }
    Ok((id, created))
}

/// The fenced update recording one attempt's outcome (applied only while `lease_id` holds).
fn finish_sql<'a>(job_id: &'a str, lease_id: &'a str, outcome: &'a Outcome, now: i64) -> Sql<'a> {
    let fence = "WHERE id = $1 AND lease_id = $2 AND state = 'active'";
    match outcome {
            Outcome::Completed { result } => Sql::new(format!(
                "UPDATE jobs SET state = 'completed', result = $3, progress = 100, lease_id = NULL, last_error = NULL, \
                 finished_at = $4, updated_at = $4 {fence}"
            ))
            .bind(job_id)
            .bind(lease_id)
            .bind(result.to_string())
            .bind(now),
            Outcome::Retry { error, at_ms } => Sql::new(format!(
                "UPDATE jobs SET state = 'delayed', last_error = $3, run_at = $4, lease_id = NULL, updated_at = $5 {fence}"
            ))
            .bind(job_id)
            .bind(lease_id)
            .bind(error)
            .bind(*at_ms)
            .bind(now),
            Outcome::Dead { error } => Sql::new(format!(
                "UPDATE jobs SET state = 'dead', last_error = $3, lease_id = NULL, finished_at = $4, updated_at = $4 {fence}"
            ))
            .bind(job_id)
            .bind(lease_id)
            .bind(error)
            .bind(now),
        }
}

const CLAIM_RETURNING: &str = "RETURNING id, queue, name, payload, attempts, max_attempts, backoff, trace_id, lease_id, run_at";

/// A flush-and-claim row: a recorded completion (`done`, only `id` set) or a claimed job.
#[derive(sqlx::FromRow)]
struct FlushClaimRow {
    done: bool,
    #[sqlx(flatten)]
    row: ClaimRow,
}

/// This claim's fresh UUID: each job's fencing token is it joined with the job's id, unique
/// per job and attempt, and made by the same statement that takes the jobs.
fn claim_lease() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The claiming `UPDATE` (without `RETURNING`), its parameters named by the caller (the claim
/// and the flush-and-claim number them differently): lease, owner, lease expiry, now, queue,
/// limit.
fn claim_update(backend: Backend, [lease, owner, expires, now, queue, limit]: [&str; 6]) -> String {
    // Served in order by the partial index `jobs_ready` (no sort of the whole backlog).
    let pick = format!(
        "SELECT id FROM jobs WHERE queue = {queue} AND state IN ('waiting', 'delayed') AND run_at <= {now} \
         ORDER BY run_at, id LIMIT {limit}"
    );
    let update = format!(
        "UPDATE jobs SET state = 'active', attempts = attempts + 1, lease_id = {lease} || ':' || id, \
         lease_owner = {owner}, lease_expires_at = {expires}, updated_at = {now} WHERE id"
    );
    // Postgres: rows another claimer holds are skipped, not waited for; SQLite: the
    // statement holds the write lock from its start, so no other claim interleaves.
    // Postgres: `= ANY(ARRAY(…))` runs the pick once and updates through the primary key
    // (with `IN (…)` the planner hash-joins against a scan of the whole table).
    match backend {
        Backend::Postgres => {
            format!("{update} = ANY(ARRAY({pick} FOR UPDATE SKIP LOCKED)) AND {ASYNC_COMMIT}")
        }
        Backend::Sqlite => format!("{update} IN ({pick})"),
    }
}

fn claimed(mut rows: Vec<ClaimRow>) -> Vec<Claimed> {
    // RETURNING follows no order on Postgres: start them oldest first, as picked.
    rows.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
    rows.into_iter()
        .map(|r| Claimed {
            payload: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
            id: r.id,
            queue: r.queue,
            name: r.name,
            attempt: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            max_attempts: u32::try_from(r.max_attempts).unwrap_or(1),
            backoff: backoff_from_text(&r.backoff),
            lease_id: r.lease_id,
            trace_id: TraceId::new(r.trace_id),
        })
        .collect()
}

/// Indexes of the completions that go out as one statement, and of the rest (retries,
/// deaths, and a job's second outcome in the batch), one statement each.
fn split(batch: &[Finished]) -> (Vec<usize>, Vec<usize>) {
    let mut seen = std::collections::HashSet::new();
    let (mut bulk, mut single) = (Vec::new(), Vec::new());
    for (i, f) in batch.iter().enumerate() {
        match &f.outcome {
            Outcome::Completed { .. } if seen.insert(f.job_id.as_str()) => bulk.push(i),
            _ => single.push(i),
        }
    }
    (bulk, single)
}

/// The completions' id, lease and result as a JSON list (the statement's `$1`).
fn completions_json(batch: &[Finished], bulk: &[usize]) -> String {
    let rows: Vec<serde_json::Value> = bulk
        .iter()
        .map(|&i| {
            let result = match &batch[i].outcome {
                Outcome::Completed { result } => result.to_string(),
                _ => String::new(),
            };
            serde_json::json!({ "id": batch[i].job_id, "lease": batch[i].lease_id, "result": result })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The completing `UPDATE` (without `RETURNING`): `$1` the JSON list, `$2` now.
fn completion_update(backend: Backend) -> String {
    // Both plans walk the list and update through the primary key: on Postgres the
    // `= ANY(ARRAY(…))` gives the planner the ids up front (else it hash-joins against
    // every active row); on SQLite the unary `+` keeps it off the `state` index (else it
    // re-reads the whole list once per active row).
    let (from, fence) = match backend {
        Backend::Postgres => (
            "jsonb_to_recordset($1::jsonb) AS v(id text, lease text, result text)".to_owned(),
            format!(
                "jobs.id = ANY(ARRAY(SELECT e->>'id' FROM jsonb_array_elements($1::jsonb) e)) \
                 AND jobs.state = 'active' AND {ASYNC_COMMIT}"
            ),
        ),
        Backend::Sqlite => (
            "(SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.lease') AS lease, \
             json_extract(value, '$.result') AS result FROM json_each($1)) AS v"
                .to_owned(),
            "+jobs.state = 'active'".to_owned(),
        ),
    };
    format!(
        "UPDATE jobs SET state = 'completed', result = v.result, progress = 100, lease_id = NULL, \
         last_error = NULL, finished_at = $2, updated_at = $2 FROM {from} \
         WHERE jobs.id = v.id AND jobs.lease_id = v.lease AND {fence}"
    )
}

/// Sets the completions' flags from the ids the statement returned (the rest were fenced).
fn mark(applied: &mut [bool], batch: &[Finished], bulk: &[usize], ids: Vec<(String,)>) {
    let ids: std::collections::HashSet<String> = ids.into_iter().map(|(id,)| id).collect();
    for &i in bulk {
        applied[i] = ids.contains(&batch[i].job_id);
    }
}

#[async_trait]
impl JobStore for SqlJobStore {
    async fn enqueue(&self, spec: &JobSpec) -> Result<(String, bool), DependencyError> {
        let db = self.db()?;
        let mut tx = db.begin_write().await.map_err(port)?;
        let out = enqueue_in(&mut tx, spec).await.map_err(port)?;
        tx.commit().await.map_err(port)?;
        Ok(out)
    }

    async fn claim(
        &self,
        queue: &str,
        owner: &str,
        lease_for: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, DependencyError> {
        let db = self.db()?;
        let now = now_ms();
        if db.backend() == Backend::Sqlite {
            // The claim is a write, and SQLite has one writer: while a long import holds the
            // lock, every idle queue's poll would wait `busy_timeout` holding a pooled
            // connection (four queues starved the API's requests in the uploads test). A read
            // first — WAL readers never wait — lets idle queues skip the write.
            let due: Option<i64> = db
                .fetch_scalar_optional(
                    Sql::new(
                        "SELECT 1 FROM jobs WHERE queue = $1 AND state IN ('waiting', 'delayed') \
                         AND run_at <= $2 LIMIT 1",
                    )
                    .bind(queue)
                    .bind(now),
                )
                .await
                .map_err(port)?;
            if due.is_none() {
                return Ok(Vec::new());
            }
        }
        let sql = Sql::new(format!(
            "{} {CLAIM_RETURNING}",
            claim_update(db.backend(), ["$1", "$2", "$3", "$4", "$5", "$6"])
        ))
        .bind(claim_lease())
        .bind(owner)
        .bind(now + ms(lease_for))
        .bind(now)
        .bind(queue)
        .bind(i64::from(limit));
        // SQLite has one writer: claims and flushes take this process's turn (`Db::write_turn`)
        // instead of meeting on SQLite's lock, whose busy handler sleeps (1, 2, 5 … ms).
        let turn = db.write_turn().await.map_err(port)?;
        let rows: Vec<ClaimRow> = db.fetch_all(sql).await.map_err(port)?;
        drop(turn);
        Ok(claimed(rows))
    }

    /// Completions go out as one statement (`UPDATE … FROM` a JSON list of id, lease and
    /// result), each row still matched on its lease; failures, rare, are one statement each,
    /// all in one transaction when there are any. A job twice in one batch (a rerun whose
    /// stale outcome had not gone out yet) goes the per-row way, so each flag stays exact.
    #[tracing::instrument(skip_all, fields(jobs = batch.len()))]
    async fn finish_many(&self, batch: &[Finished]) -> Result<Vec<bool>, DependencyError> {
        let db = self.db()?;
        let now = now_ms();
        let (bulk, single) = split(batch);
        let complete = (!bulk.is_empty()).then(|| {
            Sql::new(format!(
                "{} RETURNING jobs.id",
                completion_update(db.backend())
            ))
            .bind(completions_json(batch, &bulk))
            .bind(now)
        });
        let mut applied = vec![false; batch.len()];
        if single.is_empty() {
            // One statement is atomic by itself: no transaction round trips.
            if let Some(sql) = complete {
                let _turn = db.write_turn().await.map_err(port)?;
                mark(
                    &mut applied,
                    batch,
                    &bulk,
                    db.fetch_all(sql).await.map_err(port)?,
                );
            }
            return Ok(applied);
        }
        let mut tx = db.begin_write().await.map_err(port)?;
        if tx.is_postgres() {
            // As the single statements do (see `ASYNC_COMMIT`), for this transaction.
            let sql = "SELECT set_config('synchronous_commit', 'off', true)";
            tx.execute(Sql::new(sql)).await.map_err(port)?;
        }
        if let Some(sql) = complete {
            mark(
                &mut applied,
                batch,
                &bulk,
                tx.fetch_all(sql).await.map_err(port)?,
            );
        }
        for i in single {
            let f = &batch[i];
            let sql = finish_sql(&f.job_id, &f.lease_id, &f.outcome, now);
            applied[i] = tx.execute(sql).await.map_err(port)? == 1;
        }
        tx.commit().await.map_err(port)?;
        Ok(applied)
    }

    /// Postgres, completions only (the busy case): the completions and the next claim are one
    /// statement, two data-modifying CTEs on one snapshot (their rows cannot overlap: one
    /// updates active jobs, the other waiting ones), so a busy queue pays one round trip and
    /// one commit per batch instead of two. Otherwise: `finish_many`, then `claim`.
    #[tracing::instrument(skip_all, fields(jobs = batch.len(), limit = limit))]
    async fn finish_and_claim(
        &self,
        batch: &[Finished],
        queue: &str,
        owner: &str,
        lease_for: Duration,
        limit: u32,
    ) -> Result<(Vec<bool>, Vec<Claimed>), DependencyError> {
        let db = self.db()?;
        let (bulk, single) = split(batch);
        if db.backend() != Backend::Postgres || limit == 0 || bulk.is_empty() || !single.is_empty()
        {
            let applied = self.finish_many(batch).await?;
            if limit == 0 {
                return Ok((applied, Vec::new()));
            }
            return match self.claim(queue, owner, lease_for, limit).await {
                Ok(jobs) => Ok((applied, jobs)),
                Err(e) => {
                    tracing::warn!(%queue, error = %e, "claiming jobs after a flush failed");
                    Ok((applied, Vec::new()))
                }
            };
        }
        let now = now_ms();
        let claim = claim_update(Backend::Postgres, ["$3", "$4", "$5", "$2", "$6", "$7"]);
        let sql = Sql::new(format!(
            "WITH done AS ({} RETURNING jobs.id), claimed AS ({claim} {CLAIM_RETURNING}) \
             SELECT true AS done, id, '' AS queue, '' AS name, '' AS payload, 0::int8 AS attempts, \
             0::int8 AS max_attempts, '' AS backoff, '' AS trace_id, '' AS lease_id, 0::int8 AS run_at \
             FROM done UNION ALL SELECT false, id, queue, name, payload, attempts, max_attempts, \
             backoff, trace_id, lease_id, run_at FROM claimed",
            completion_update(Backend::Postgres)
        ))
        .bind(completions_json(batch, &bulk))
        .bind(now)
        .bind(claim_lease())
        .bind(owner)
        .bind(now + ms(lease_for))
        .bind(queue)
        .bind(i64::from(limit));
        let rows: Vec<FlushClaimRow> = db.fetch_all(sql).await.map_err(port)?;
        let (done, jobs): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.done);
        let mut applied = vec![false; batch.len()];
        mark(
            &mut applied,
            batch,
            &bulk,
            done.into_iter().map(|r| (r.row.id,)).collect(),
        );
        Ok((applied, claimed(jobs.into_iter().map(|r| r.row).collect())))
    }
    async fn finish(
        &self,
        job_id: &str,
        lease_id: &str,
        outcome: &Outcome,
    ) -> Result<bool, DependencyError> {
        let db = self.db()?;
        let n = db
            .execute(finish_sql(job_id, lease_id, outcome, now_ms()))
            .await
            .map_err(port)?;
        Ok(n == 1)
    }

    async fn extend(
        &self,
        job_id: &str,
        lease_id: &str,
        lease: Duration,
    ) -> Result<bool, DependencyError> {
        let db = self.db()?;
        let now = now_ms();
        let sql = "UPDATE jobs SET lease_expires_at = $3, updated_at = $4 WHERE id = $1 AND lease_id = $2 AND state = 'active'";
        let sql = Sql::new(sql)
            .bind(job_id)
            .bind(lease_id)
            .bind(now + ms(lease))
            .bind(now);
        let n = db.execute(sql).await.map_err(port)?;
        Ok(n == 1)
    }

    async fn progress(
        &self,
        job_id: &str,
        lease_id: &str,
        percent: u8,
        message: Option<&str>,
    ) -> Result<bool, DependencyError> {
        let db = self.db()?;
        let sql = "UPDATE jobs SET progress = $3, progress_message = $4, updated_at = $5 \
                   WHERE id = $1 AND lease_id = $2 AND state = 'active'";
        let sql = Sql::new(sql)
            .bind(job_id)
            .bind(lease_id)
            .bind(i64::from(percent))
            .bind(message)
            .bind(now_ms());
        let n = db.execute(sql).await.map_err(port)?;
        Ok(n == 1)
    }

    async fn requeue_expired(&self) -> Result<u64, DependencyError> {
        let db = self.db()?;
        if let Some(host) = &self.host {
            self.expire_dead_local_leases(&db, host)
                .await
                .map_err(port)?;
        }
        let sql = "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'waiting' END, \
                   finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE finished_at END, \
                   lease_id = NULL, lease_owner = NULL, last_error = 'lease expired: the worker stopped answering', \
                   updated_at = $1 WHERE state = 'active' AND lease_expires_at < $1";
        db.execute(Sql::new(sql).bind(now_ms())).await.map_err(port)
    }

    async fn waiting(&self, queue: &str) -> Result<u64, DependencyError> {
        let db = self.db()?;
        let sql = "SELECT COUNT(*) FROM jobs WHERE queue = $1 AND state IN ('waiting', 'delayed')";
        let n: i64 = db
            .fetch_scalar(Sql::new(sql).bind(queue))
            .await
            .map_err(port)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

//! Hot bounded Postgres reads (a page of jobs, of transactions), pipelined on a few shared
//! connections (tokio-postgres).
//!
//! Why: a read that has its connection to itself costs a round trip, and each round trip wakes
//! two processes (ours, then the Postgres backend, then ours again). On this 2-core machine
//! those wake-ups, not SQL, were the limit. A profile of `/v1/jobs` under load spent a third
//! of the service's CPU in the scheduler (`finish_task_switch`, the wake-up in `send`).
//! pgbench runs the jobs page query at 66k q/s one at a time per connection, and at 200k q/s
//! eight to a pipeline (docs/decisions.md, "Postgres page reads pipelined"). tokio-postgres
//! writes every query issued on a client while others are in flight into the same socket,
//! and Postgres answers them in order, so under load one wake-up carries many reads. sqlx 0.8
//! cannot pipeline.
//!
//! What keeps this safe:
//! - **Consistency**: each read is its own implicit transaction (Bind, Execute, Sync) and sees
//!   every commit made before it, as a read through the pool does.
//! - **Cancellation**: a read whose request is dropped leaves the connection consistent; the
//!   connection's task reads its answer and discards it. Nothing goes back to a pool
//!   mid-statement (the sqlx hazard `pool.rs` guards against).
//! - **Head-of-line blocking**: a slow read holds up the reads pipelined behind it on its
//!   connection. Unbounded scans (a text search over transactions) go to the pool
//!   (`finance::transactions::list`); a read on a lane ends after `database.
//!   acquire_timeout_secs` (`statement_timeout`) and is read through the pool; with more than
//!   one lane (`database.page_lanes`) each read takes the one with the fewest reads in flight.
//!   There a read runs in a task of its own that counts it in flight until Postgres has
//!   answered, so a read whose request was dropped still steers the next reads to other
//!   lanes; with one lane (the default) it runs in the request's task.
//! - **Failure**: any failure (no connection, a closed one, an error) answers `None`, and the
//!   read runs on the sqlx pool, so the error a caller sees is the pool's, mapped as always.
//!   A lane that could not connect is not tried again for [`RETRY_AFTER`].
//! - **No TLS here**: lanes are plain TCP or a Unix socket, so they are used only when the
//!   server is on this host (loopback or a socket) and `sslmode` does not require TLS, or when
//!   `sslmode=disable`. Otherwise hot reads use the pool, and its TLS settings.

use super::page_row::PageRow;
use super::sql::{Arg, Sql};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

pub const DB_PIPELINED_READS_TOTAL: &str = "db_pipelined_reads_total";
/// `application_name` of the lanes' connections.
pub const PIPE_APPLICATION_NAME: &str = "ai-service pages";

/// Prepared statements kept per lane (a page's SQL varies with its filters: a bounded set).
/// Past this the lane's cache is emptied and refilled.
const STATEMENTS: usize = 64;
/// How long a lane that failed to connect is left alone (reads use the pool meanwhile).
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
enum PipeError {
    #[error("connecting took longer than {0:?}")]
    ConnectTimedOut(Duration),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the read's task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The lanes of one database.
pub struct PgPipe {
    config: tokio_postgres::Config,
    connect_timeout: Duration,
    lanes: Vec<Arc<Slot>>,
    /// Set by [`PgPipe::close`]: no lane is made again, reads go to the (closed) pool.
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PgPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the config: it holds the password.
        f.debug_struct("PgPipe")
            .field("lanes", &self.lanes.len())
            .finish_non_exhaustive()
    }
}

/// One lane: its connection once made, and how busy it is.
#[derive(Default)]
struct Slot {
    lane: Mutex<Option<Arc<Lane>>>,
    /// Held while connecting, so concurrent reads wait for one connection instead of each
    /// making their own.
    connecting: tokio::sync::Mutex<()>,
    failed_at: Mutex<Option<Instant>>,
    in_flight: AtomicUsize,
}

struct Lane {
    client: Client,
    /// By SQL text: the parameter types it was prepared with, and the statement.
    statements: Mutex<HashMap<String, (Vec<Type>, Statement)>>,
}

impl PgPipe {
    /// `lanes` connections for `url` (`database.page_lanes`; each read takes the least busy
    /// one), or `None`: no lanes, or
    /// reads must keep the pool's TLS (see the module doc), or tokio-postgres does not
    /// understand the URL (sqlx-only parameters).
    pub fn for_url(url: &str, lanes: u32, connect_timeout: Duration) -> Option<Self> {
        let mut config: tokio_postgres::Config = url.parse().ok()?;
        let local = config.get_hosts().iter().all(|h| match h {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }) && config.get_hostaddrs().iter().all(|ip| ip.is_loopback());
        let plain_ok = match config.get_ssl_mode() {
            SslMode::Disable => true,
            SslMode::Prefer => local,
            _ => false,
        };
        if lanes == 0 || !plain_ok || config.get_hosts().is_empty() {
            return None;
        }
        config
            // Named apart from the pool's connections (`pg_stat_activity`, and the tests).
            .application_name(PIPE_APPLICATION_NAME)
            .connect_timeout(connect_timeout)
            // A read stuck on a lane (a lock behind a migration, a pathological filter) holds up
            // every read pipelined behind it: Postgres ends it after the time a request would
            // wait for a pooled connection, and it is read through the pool instead.
            .options(format!(
                "-c statement_timeout={}",
                connect_timeout.as_millis()
            ));
        Some(Self {
            config,
            connect_timeout,
            lanes: (0..lanes).map(|_| Arc::new(Slot::default())).collect(),
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Every row of `sql`, or `None`: read it through the pool.
    pub async fn fetch_all<T: PageRow>(&self, sql: &Sql<'_>) -> Option<Vec<T>> {
        // Times are bound by sqlx's own text forms elsewhere; no page binds one.
        if self.closed.load(Ordering::Acquire) || sql.args.iter().any(|a| matches!(a, Arg::Time(_)))
        {
            return None;
        }
        let busy = InFlight::on(self.least_busy());
        let outcome = match self.read(busy, sql).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "pipelined read failed; reading through the pool");
                None
            }
        };
        let label = if outcome.is_some() { "done" } else { "pool" };
        metrics::counter!(DB_PIPELINED_READS_TOTAL, "outcome" => label).increment(1);
        outcome
    }

    /// Closes every lane (the database is closing): each connection ends once its reads have
    /// been answered.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for slot in &self.lanes {
            slot.lane
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
        }
    }

    fn least_busy(&self) -> &Arc<Slot> {
        self.lanes
            .iter()
            .min_by_key(|s| s.in_flight.load(Ordering::Relaxed))
            .unwrap_or(&self.lanes[0])
    }

    async fn read<T: PageRow>(
        &self,
        busy: InFlight,
        sql: &Sql<'_>,
    ) -> Result<Option<Vec<T>>, PipeError> {
        let Some(lane) = self.lane(&busy.0).await? else {
            return Ok(None);
        };
        let statement = lane.statement(sql).await?;
        let rows = if self.lanes.len() == 1 {
            // One lane: nothing to steer, so the read runs in the request's own task, without
            // a spawn and its wake-ups per page.
            let _busy = busy;
            query(&lane.client, &statement, &sql.args).await?
        } else {
            let args: Vec<Arg<'static>> = sql.args.iter().map(owned).collect();
            tokio::spawn(async move {
                let _busy = busy;
                query(&lane.client, &statement, &args).await
            })
            .await??
        };
        Ok(Some(rows.iter().map(T::read).collect::<Result<_, _>>()?))
    }

    /// The slot's connection, made if there is none (or it closed); `None` while the slot
    /// rests after a failed attempt.
    async fn lane(&self, slot: &Slot) -> Result<Option<Arc<Lane>>, PipeError> {
        if let Some(lane) = slot.open_lane() {
            return Ok(Some(lane));
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(lane) = slot.open_lane() {
            return Ok(Some(lane));
        }
        if !slot.begin_attempt() {
            return Ok(None);
        }
        let (client, connection) =
            tokio::time::timeout(self.connect_timeout, self.config.connect(NoTls))
                .await
                .map_err(|_| PipeError::ConnectTimedOut(self.connect_timeout))??;
        // The connection's task lives on the runtime that made it; when that runtime stops,
        // the client reports closed and the next read makes a new connection.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "pipelined read connection ended");
            }
        });
        let lane = Arc::new(Lane {
            client,
            statements: Mutex::default(),
        });
        *slot.lane.lock().unwrap_or_else(PoisonError::into_inner) = Some(lane.clone());
        slot.succeeded();
        Ok(Some(lane))
    }
}

impl Slot {
    /// Whether to try connecting now (not within [`RETRY_AFTER`] of a failed attempt). The
    /// attempt counts as failed until it succeeds, so a cancelled one rests the slot too.
    fn begin_attempt(&self) -> bool {
        let mut failed_at = self
            .failed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return false;
        }
        *failed_at = Some(Instant::now());
        true
    }

    fn succeeded(&self) {
        *self
            .failed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn open_lane(&self) -> Option<Arc<Lane>> {
        let lane = self.lane.lock().unwrap_or_else(PoisonError::into_inner);
        lane.as_ref().filter(|l| !l.client.is_closed()).cloned()
    }
}

impl Lane {
    /// `sql` prepared on this connection with the types of its values (as sqlx sends them).
    async fn statement(&self, sql: &Sql<'_>) -> Result<Statement, tokio_postgres::Error> {
        let types: Vec<Type> = sql.args.iter().map(pg_type).collect();
        {
            let cache = self
                .statements
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((t, s)) = cache.get(&*sql.text)
                && *t == types
            {
                return Ok(s.clone());
            }
        }
        let statement = self.client.prepare_typed(&sql.text, &types).await?;
        let mut cache = self
            .statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= STATEMENTS {
            cache.clear();
        }
        cache.insert(sql.text.to_string(), (types, statement.clone()));
        Ok(statement)
    }
}

/// Counts a read in flight on its lane until dropped.
struct InFlight(Arc<Slot>);

impl InFlight {
    fn on(slot: &Arc<Slot>) -> Self {
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(slot.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn query(
    client: &Client,
    statement: &Statement,
    args: &[Arg<'_>],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let args: Vec<PgArg<'_, '_>> = args.iter().map(PgArg).collect();
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    client.query(statement, &params).await
}

fn owned(arg: &Arg<'_>) -> Arg<'static> {
    match arg {
        Arg::Text(v) => Arg::Text(v.as_ref().map(|v| v.to_string().into())),
        Arg::Int(v) => Arg::Int(*v),
        Arg::Float(v) => Arg::Float(*v),
        Arg::Bool(v) => Arg::Bool(*v),
        Arg::Bytes(v) => Arg::Bytes(v.as_ref().map(|v| v.to_vec().into())),
        Arg::Time(v) => Arg::Time(*v),
    }
}

fn pg_type(arg: &Arg<'_>) -> Type {
    match arg {
        Arg::Text(_) => Type::TEXT,
        Arg::Int(_) => Type::INT8,
        Arg::Float(_) => Type::FLOAT8,
        Arg::Bool(_) => Type::BOOL,
        Arg::Bytes(_) => Type::BYTEA,
        Arg::Time(_) => Type::TIMESTAMPTZ,
    }
}

/// A value bound to a statement prepared with [`pg_type`] of that same value.
#[derive(Debug)]
struct PgArg<'a, 'b>(&'a Arg<'b>);

impl ToSql for PgArg<'_, '_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Arg::Text(v) => v.as_deref().to_sql(ty, out),
            Arg::Int(v) => v.to_sql(ty, out),
            Arg::Float(v) => v.to_sql(ty, out),
            Arg::Bool(v) => v.to_sql(ty, out),
            Arg::Bytes(v) => v.as_deref().to_sql(ty, out),
            // Refused before a lane was taken (see `fetch_all`).
            Arg::Time(_) => Err("times are not bound on pipelined reads".into()),
        }
    }

    /// The statement was prepared with this value's own type ([`pg_type`]).
    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe(url: &str) -> bool {
        PgPipe::for_url(url, 4, Duration::from_secs(1)).is_some()
    }

    #[test]
    fn lanes_are_plain_only_where_tls_adds_nothing_or_is_refused() {
        assert!(pipe("postgres://u@127.0.0.1:5432/db"));
        assert!(pipe("postgres://u@localhost/db"));
        assert!(pipe("postgres://u@[::1]/db?sslmode=prefer"));
        assert!(pipe("postgres://u@db.example/db?sslmode=disable"));
        assert!(pipe("postgres://u@/db?host=/var/run/postgresql"));
        // Another host: its TLS settings are the pool's to apply.
        assert!(!pipe("postgres://u@db.example/db"));
        assert!(!pipe("postgres://u@10.0.0.5/db?sslmode=prefer"));
        assert!(!pipe("postgres://u@127.0.0.1/db?sslmode=require"));
        // sqlx-only settings: tokio-postgres cannot honour them.
        assert!(!pipe("postgres://u@127.0.0.1/db?sslmode=verify-full"));
        assert!(!pipe(
            "postgres://u@127.0.0.1/db?statement-cache-capacity=10"
        ));
        // `database.page_lanes = 0`: pages read through the pool.
        assert!(PgPipe::for_url("postgres://u@127.0.0.1/db", 0, Duration::from_secs(1)).is_none());
    }
}

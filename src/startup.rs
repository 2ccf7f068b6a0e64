//! Builds the application in a fixed order and runs it until a signal or a test asks it to
//! stop: keys (refused before anything listens) → metrics → database monitor (connects and
//! migrates) → Redis monitor (only when configured) → audit writer → event bus → trading
//! runtime → finance actors (categorizer, bank sync) → job registry and one dispatcher per
//! queue → job queue, its LISTEN/NOTIFY listener and cron schedules → outbox relay and job
//! pruning → HTTP (state, guard, routes, listener). Shutdown runs in reverse: HTTP drains,
//! then actors stop newest-first, then pools close.

use crate::adapters::redis::RedisDependency;
use crate::api::{self, AppState};
use crate::audit::{Audit, DbAuditSink};
use crate::auth::ratelimit::Limits;
use crate::auth::service::AuthService;
use crate::config::{Settings, ms, secs};
use crate::crypto::Cipher;
use crate::db::{DbDependency, DbHandle};
use crate::events::SqlOutbox;
use crate::jobs::{JobQueue, SqlJobStore};
use crate::schedules::ScheduleRunner;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use actors::audit::AuditWriter;
use actors::events::{EventBus, OutboxRelay};
use actors::health::{DependencyMonitor, MonitorConfig};
use actors::jobs::{Dispatcher, DispatcherConfig, JobRegistry, JobStore};
use actors::ports::Dependency;
use actors::supervise::{ActorRef, Backoff, Readiness, Supervisor, SupervisorConfig};
use actors::trading::runtime::TradingJobs;
use anyhow::Context as _;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing_actix_web::TracingLogger;

pub struct Application {
    port: u16,
    server: Server,
    supervisor: Supervisor,
    readiness: Readiness,
    db: DbHandle,
    schedules: Arc<ScheduleRunner>,
    listener: crate::jobs::ListenHandle,
    model_listener: crate::readmodel::ListenHandle,
    audit: Audit,
    stop_rx: oneshot::Receiver<()>,
    stop_tx: Option<oneshot::Sender<()>>,
    release_startup_code: bool,
}

/// Asks a running [`Application`] to shut down gracefully (tests; signals do the same).
pub struct StopHandle(oneshot::Sender<()>);

impl StopHandle {
    pub fn stop(self) {
        let _ = self.0.send(());
    }
}

impl Application {
    /// Starts everything and binds the listener. Must run inside an actix system.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Keys first: refusing to start must happen before anything listens.
        let keys = crate::auth::keys::resolve(&settings)?;
        // Then the port, before any actor, pool or thread exists: a port in use (another
        // instance) is refused at once, and nothing half-started is torn down. Bound last, as
        // before, the error dropped the started actors' database connections after the
        // runtime had gone, which panicked on the way out (a double panic aborts).
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!(
                    "cannot bind {}:{}",
                    settings.server.host, settings.server.port
                )
            })?;
        crate::metrics::init();
        crate::metrics::spawn_upkeep();
        let readiness = Readiness::default();
        let sup = &settings.supervisor;
        let mut supervisor = Supervisor::new(
            SupervisorConfig {
                restart: Backoff::new(ms(sup.restart_initial_ms), ms(sup.restart_max_ms)),
                stable_after: secs(sup.stable_after_secs),
                stop_timeout: secs(sup.stop_timeout_secs),
            },
            readiness.clone(),
        );

        // Database first: everything else stores its state there.
        let db = DbHandle::default();
        let dbs = &settings.database;
        let db_monitor = spawn_monitor(
            &mut supervisor,
            "database-monitor",
            Arc::new(DbDependency::new(dbs.clone(), db.clone())),
            MonitorConfig {
                reconnect: Backoff::new(ms(dbs.retry_initial_ms), ms(dbs.retry_max_ms)),
                check_interval: secs(dbs.health_interval_secs),
                check_timeout: ms(dbs.health_timeout_ms),
            },
        );
        if db.wait(ms(dbs.boot_wait_ms)).await.is_none() {
            if let Some(reason) = db.fatal() {
                supervisor.shutdown().await;
                anyhow::bail!(reason);
            }
            tracing::warn!(
                waited_ms = dbs.boot_wait_ms,
                "database not reachable yet; serving as not-ready and retrying in the background"
            );
        }
        let mut monitors = vec![db_monitor];

        if settings.redis.enabled() {
            let rs = &settings.redis;
            monitors.push(spawn_monitor(
                &mut supervisor,
                "redis-monitor",
                Arc::new(RedisDependency::new(rs.clone())),
                MonitorConfig {
                    reconnect: Backoff::new(ms(rs.retry_initial_ms), ms(rs.retry_max_ms)),
                    check_interval: secs(rs.health_interval_secs),
                    check_timeout: ms(rs.health_timeout_ms),
                },
            ));
        }

        let sink = Arc::new(DbAuditSink(db.clone()));
        let audit_writer = supervisor.spawn("audit-writer", move |_| {
            AuditWriter::new(
                Arc::clone(&sink) as Arc<dyn actors::audit::AuditSink>,
                Duration::from_millis(200),
                10_000,
            )
        });

        let events = EventBus::new(1024);
        // Every type known by name before the outbox relay publishes rows of it.
        actors::events::register_all(&events);
        let cipher = Arc::new(Cipher::new(keys.master()));
        // The trading manager first: the `trading` queue's jobs are its commands.
        let trading = crate::trading::start(
            &mut supervisor,
            &settings.trading,
            &db,
            Arc::clone(&cipher),
            events.clone(),
            actors::trading::runtime::system_clock(),
        )?;
        // Every job kind this process runs, with its handler; dispatchers come from it.
        let mut registry = JobRegistry::default();
        actors::trading::runtime::jobs::register(
            &mut registry,
            Arc::new(TradingJobs::new(trading.manager.clone())),
        );
        // Finance: the categorizer and bank sync; their jobs enqueue follow-ups through the
        // queue, which exists only after the dispatchers (hence the cell).
        let queue_cell = Arc::new(std::sync::OnceLock::new());
        let audit = Audit::new(audit_writer, secs(settings.audit.anonymous_window_secs));
        // Telegram's notifier exists only at the end (hence the cell); the AI's budget alarm
        // and the summary job use it.
        let notifier_cell = Arc::new(std::sync::OnceLock::new());
        // The AI core before finance: the categorizer's tier 3 talks to it.
        let ai = crate::ai::start(
            &mut supervisor,
            &settings.ai,
            &db,
            Arc::clone(&cipher),
            &readiness,
            crate::ai::alarm::BudgetAlarm {
                db: db.clone(),
                audit: audit.clone(),
                notifier: Arc::clone(&notifier_cell),
            },
        )?;
        let llm_tier = ai.as_ref().map(|a| {
            Arc::new(crate::ai::tier::LlmTier {
                actor: a.actor.clone(),
                threshold: settings.finance.llm_threshold,
            }) as Arc<dyn actors::finance::categorize::LlmCategorizer>
        });
        let finance = crate::finance::start(
            &mut supervisor,
            &settings.finance,
            &db,
            Arc::clone(&cipher),
            Arc::clone(&queue_cell),
            llm_tier,
        );
        crate::finance::jobs::register(&mut registry, Arc::new(finance.jobs.clone()));
        // Telegram's backend and summary job read the app state, which exists only at the
        // end (hence the cells).
        let state_cell: crate::telegram::backend::StateCell = Arc::default();
        crate::telegram::jobs::register(
            &mut registry,
            Arc::new(crate::telegram::jobs::TelegramJobs {
                state: Arc::clone(&state_cell),
                notifier: Arc::clone(&notifier_cell),
            }),
        );
        crate::maintenance::register(
            &mut registry,
            Arc::new(crate::maintenance::MaintenanceJobs {
                db: db.clone(),
                database: settings.database.clone(),
                backup: settings.backup.clone(),
            }),
        );
        let job_store = Arc::new(SqlJobStore::new(db.clone()).with_host(hostname()));
        let dispatchers = spawn_dispatchers(
            &mut supervisor,
            &registry,
            &job_store,
            &settings.jobs,
            &events,
        )?;
        let jobs = JobQueue::new(Arc::clone(&job_store), dispatchers, Arc::new(registry));
        let _ = queue_cell.set(jobs.clone());
        let job_listener = crate::jobs::listen(db.clone(), jobs.clone());
        let read_model = crate::readmodel::ReadModel::new();
        let model_listener = crate::readmodel::listen(db.clone(), Arc::clone(&read_model));
        let schedules = ScheduleRunner::new(
            db.clone(),
            jobs.clone(),
            crate::maintenance::builtin_schedules(&settings.backup),
        );
        let keep_schedules = Arc::clone(&schedules);
        match schedules.reload().await {
            Ok(n) => tracing::info!(schedules = n, "cron schedules loaded"),
            Err(e) => {
                tracing::warn!(error = %e, "cron schedules not loaded; they load on the next change")
            }
        }
        spawn_outbox_relay(&mut supervisor, &db, &events);
        spawn_job_pruning(db.clone(), &settings.jobs);

        // Telegram last among the domain actors: its commands use everything above.
        let telegram = crate::telegram::start(
            &mut supervisor,
            &settings.telegram,
            &db,
            Arc::clone(&cipher),
            Arc::clone(&state_cell),
        );
        if let Some(actor) = &telegram.actor {
            let notifier = crate::telegram::notify::Notifier::new(
                db.clone(),
                actor.clone(),
                settings.telegram.notify_min_amount,
            );
            notifier.clone().start(&events);
            let _ = notifier_cell.set(notifier);
        }

        let closer = audit.clone();
        spawn_every(audit.close_interval(), move || closer.close_windows(false));

        let limits = Arc::new(Limits::new(&settings.rate_limit));
        let housekeeping = Arc::clone(&limits);
        spawn_every(Duration::from_secs(60), move || housekeeping.housekeep());

        let check_timeout = ms(dbs.health_timeout_ms.max(settings.redis.health_timeout_ms) + 250);
        let state = web::Data::new(AppState {
            readiness: readiness.clone(),
            monitors,
            check_timeout,
            db: db.clone(),
            auth: Arc::new(AuthService::new(
                &keys.jwt,
                settings.auth.clone(),
                Arc::clone(&read_model),
            )),
            read_model,
            limits,
            audit: audit.clone(),
            cipher,
            security: settings.security.clone(),
            // Validated with the settings; a bad entry never reaches here.
            trusted_proxies: api::client_ip::TrustedProxies::parse(
                &settings.security.trusted_proxies,
            )
            .unwrap_or_default(),
            metrics_access: api::meta::MetricsAccess::from_settings(&settings),
            jobs,
            schedules,
            events,
            trading,
            finance,
            telegram,
            ai,
            ai_budget: Some(settings.ai.monthly_budget_usd),
            backup_dir: settings.backup.dir.clone(),
        });
        let _ = state_cell.set(state.get_ref().clone());
        if matches!(state.metrics_access, api::meta::MetricsAccess::Closed) {
            tracing::warn!(
                host = %settings.server.host,
                "/metrics is refused (403): bound beyond loopback without APP__METRICS__BEARER_TOKEN"
            );
        }
        let port = listener
            .local_addr()
            .context("listener has no local address")?
            .port();
        let server = http_server(listener, &settings, state)?;
        tracing::info!(
            address = %format!("http://{}:{port}", settings.server.host),
            docs = %format!("http://{}:{port}/docs/", settings.server.host),
            backend = ?settings.database.backend(),
            "ai-service listening"
        );
        let (stop_tx, stop_rx) = oneshot::channel();
        let release_startup_code = settings.server.release_startup_code;
        Ok(Self {
            port,
            server,
            supervisor,
            readiness,
            db,
            schedules: keep_schedules,
            listener: job_listener,
            model_listener,
            audit,
            stop_rx,
            stop_tx: Some(stop_tx),
            release_startup_code,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    pub fn db(&self) -> DbHandle {
        self.db.clone()
    }

    /// The audit recorder (tests flush it instead of sleeping).
    pub fn audit(&self) -> Audit {
        self.audit.clone()
    }

    /// A handle that makes [`run_until_stopped`](Self::run_until_stopped) shut down.
    pub fn stop_handle(&mut self) -> Option<StopHandle> {
        self.stop_tx.take().map(StopHandle)
    }

    /// Serves until SIGTERM/SIGINT (or the stop handle), then shuts down in reverse order.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            supervisor,
            db,
            schedules,
            listener: job_listener,
            model_listener,
            audit,
            stop_rx,
            readiness,
            release_startup_code,
            ..
        } = self;
        let handle: ServerHandle = server.handle();
        let mut server = actix_web::rt::spawn(server);
        if release_startup_code {
            actix_web::rt::spawn(release_code_once_ready(readiness));
        }
        let mut fatal = None;
        let finished_early = tokio::select! {
            res = &mut server => Some(res),
            () = shutdown_signal() => None,
            _ = stop_rx => None,
            // The database came back with a schema this binary must not touch.
            reason = db.fatal_reason() => {
                fatal = Some(reason);
                None
            }
        };
        if let Some(res) = finished_early {
            res.context("HTTP server task failed")?
                .context("HTTP server failed")?;
        }
        tracing::info!("shutting down: draining HTTP");
        handle.stop(true).await;
        let _ = server.await;
        // Open anonymous-refusal summaries go to the audit writer before it stops.
        audit.close_windows(true);
        tracing::info!("shutting down: stopping schedules and actors");
        schedules.shutdown().await;
        job_listener.stop().await;
        model_listener.stop().await;
        supervisor.shutdown().await;
        tracing::info!("shutting down: closing the database");
        db.close().await;
        tracing::info!("shutdown complete");
        match fatal {
            Some(reason) => Err(anyhow::anyhow!(reason)),
            None => Ok(()),
        }
    }
}

fn spawn_monitor(
    supervisor: &mut Supervisor,
    name: &'static str,
    port: Arc<dyn Dependency>,
    config: MonitorConfig,
) -> ActorRef<DependencyMonitor> {
    supervisor.spawn(name, move |child| {
        DependencyMonitor::new(Arc::clone(&port), config, &child)
    })
}

fn http_server(
    listener: TcpListener,
    settings: &Settings,
    state: web::Data<AppState>,
) -> anyhow::Result<Server> {
    // One document shared by every worker (an `OpenApi` clone per worker cost ~1 MB each),
    // built on the first `/openapi.json` request, not here (see `SpecJson`).
    let spec = web::Data::new(api::meta::SpecJson::default());
    let json_limit = settings.server.json_limit_bytes;
    let security = settings.security.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            // Per worker: created in this factory, which runs once per worker.
            .app_data(crate::http::StaticRoutes::default())
            .configure(api::json::body_limit(json_limit))
            .configure(api::problems::extractor_configs)
            // The plain route list: the OpenAPI document is built once, above, not per worker.
            .configure(api::serve)
            .route("/docs", web::get().to(api::meta::docs_redirect))
            .app_data(spec.clone())
            .route("/openapi.json", web::get().to(api::meta::openapi_json))
            .route("/docs/{_:.*}", web::get().to(api::swagger::asset))
            .default_service(web::to(api::problems::not_found))
            .wrap(ErrorHandlers::new().default_handler(api::problems::problemize))
            .wrap(from_fn(crate::api::guard::guard))
            .wrap(from_fn(crate::http::audit_requests))
            .wrap(cors_layer(&security))
            .wrap(crate::http::security_headers(&security))
            .wrap(from_fn(crate::metrics::observe))
            .wrap(TracingLogger::<crate::telemetry::RootSpan>::new())
    })
    .listen(listener)
    .context("cannot listen")?
    .shutdown_timeout(settings.server.shutdown_timeout_secs)
    // Signals are ours to handle: HTTP must drain *before* actors stop, in that order.
    .disable_signals();
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    Ok(server.run())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the service");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// CORS only when origins are configured (see `http::cors`).
fn cors_layer(security: &crate::config::SecuritySettings) -> Condition<actix_cors::Cors> {
    match crate::http::cors(security) {
        Some(c) => Condition::new(true, c),
        None => Condition::new(false, actix_cors::Cors::default()),
    }
}

/// One dispatcher actor per dispatched queue, running the job kinds registered for it.
fn spawn_dispatchers(
    supervisor: &mut Supervisor,
    registry: &JobRegistry,
    job_store: &Arc<SqlJobStore>,
    settings: &crate::config::JobsSettings,
    events: &EventBus,
) -> anyhow::Result<HashMap<String, ActorRef<Dispatcher>>> {
    let owner = crate::jobs::owner::this_process(&hostname());
    let mut dispatchers = HashMap::new();
    for queue in dispatched_queues(registry, &settings.queues)? {
        // Leaked once per queue at boot: actor names are `&'static str`.
        let name: &'static str = Box::leak(format!("jobs-{queue}").into_boxed_str());
        let (store, config) = (
            Arc::clone(job_store),
            DispatcherConfig {
                queue: queue.clone(),
                concurrency: settings
                    .concurrency_by_queue
                    .get(&queue)
                    .copied()
                    .unwrap_or(settings.concurrency)
                    .max(1),
                lease: secs(settings.lease_secs),
                poll_interval: ms(settings.poll_interval_ms),
                owner: owner.clone(),
            },
        );
        let bus = events.clone();
        let handlers = registry.handlers(&queue);
        let d = supervisor.spawn(name, move |_| {
            Dispatcher::new(
                Arc::clone(&store) as Arc<dyn JobStore>,
                handlers.clone(),
                config.clone(),
            )
            .with_events(bus.clone())
        });
        dispatchers.insert(queue, d);
    }
    Ok(dispatchers)
}

/// The outbox relay: committed events onto the bus (at least once).
fn spawn_outbox_relay(supervisor: &mut Supervisor, db: &DbHandle, events: &EventBus) {
    let outbox = Arc::new(SqlOutbox(db.clone()));
    let relay_bus = events.clone();
    supervisor.spawn("outbox-relay", move |_| {
        OutboxRelay::new(
            Arc::clone(&outbox) as Arc<dyn actors::events::OutboxStore>,
            relay_bus.clone(),
            Duration::from_millis(500),
        )
    });
}

/// Hourly retention of finished jobs, by age and by count, and of the Telegram
/// notification dedupe rows (by age).
fn spawn_job_pruning(db: DbHandle, settings: &crate::config::JobsSettings) {
    let retention = Duration::from_secs(settings.retention_days * 86_400);
    let retention_max = settings.retention_max_jobs;
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let Some(db) = db.get() else { continue };
            let pruned = match crate::jobs::store::prune(&db, retention).await {
                Ok(n) => crate::jobs::store::prune_to_count(&db, retention_max)
                    .await
                    .map(|m| n + m),
                Err(e) => Err(e),
            };
            match pruned {
                Ok(n) if n > 0 => tracing::info!(jobs = n, "pruned finished jobs"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning jobs failed"),
            }
            let before = chrono::Utc::now()
                - chrono::TimeDelta::days(crate::telegram::store::NOTIFICATION_RETENTION_DAYS);
            match crate::telegram::store::prune_notifications(&db, before).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "pruned telegram notification dedupe"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning telegram notifications failed"),
            }
        }
    });
}

/// Runs `f` every `period` for the life of the runtime (cheap, non-blocking housekeeping).
fn spawn_every(period: Duration, f: impl Fn() + 'static) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            f();
        }
    });
}

/// The queues this process dispatches: every queue with registered job kinds, or the
/// configured subset (`jobs.queues`). A configured queue nothing handles is an error (its
/// jobs would wait forever); a queue left out is logged (another process must run it).
fn dispatched_queues(registry: &JobRegistry, configured: &[String]) -> anyhow::Result<Vec<String>> {
    /// Queues renamed since a config could have named them (stored jobs were migrated).
    const RENAMED: [(&str, &str); 1] = [("financial", "finance")];
    let known = registry.queues();
    if let Some(unknown) = configured.iter().find(|q| !known.contains(&q.as_str())) {
        if let Some((old, new)) = RENAMED.iter().find(|(old, _)| old == unknown) {
            anyhow::bail!("jobs.queues: queue `{old}` is called `{new}` now");
        }
        anyhow::bail!(
            "jobs.queues: no job kinds run in queue `{unknown}`; known queues: {}",
            known.join(", ")
        );
    }
    if configured.is_empty() {
        return Ok(known.into_iter().map(str::to_owned).collect());
    }
    for q in known.iter().filter(|q| !configured.iter().any(|c| c == *q)) {
        tracing::warn!(queue = %q, "jobs.queues leaves this queue out: its jobs wait for another process");
    }
    Ok(configured.to_vec())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// Waits (up to a minute) until every component reports ready, lets the first ticks and jobs
/// run, then pages out the binary's startup code (src/footprint.rs).
async fn release_code_once_ready(readiness: Readiness) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !readiness.report().ready && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first tick of each actor runs code no later request will; a second covers it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    match crate::footprint::release_startup_code() {
        Ok(bytes) => tracing::debug!(bytes, "startup code pages handed back to the kernel"),
        Err(e) => {
            tracing::info!(error = %e, "could not page out startup code (kernel before 5.4?)")
        }
    }
}

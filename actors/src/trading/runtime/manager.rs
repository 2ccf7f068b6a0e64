//! `TradingManager`: owns the strategies' lifecycle. It applies commands (from the durable
//! `deploy`/`stop`/`pause`/`resume` jobs, or `fault` from a failing strategy), persisting each
//! transition before acting on it, and starts, watches and restarts one [`TradingFsmActor`]
//! per running strategy.
//!
//! Supervision of the strategy actors is done here rather than by the boot-time supervisor,
//! because they come and go at runtime: an actor that ends without being asked (a panic) is
//! restarted with backoff; after `max_restarts` within `restart_window` the strategy faults.
//! At the first start after a process start, strategies stored as live/paused come back
//! `stopped` with cause `restart` (or resume, when configured); after a restart of the manager
//! itself they are simply re-adopted.

use super::actor::{Shutdown, TradingFsmActor};
use super::apply::{Settle, commit, plan};
use super::deps::Deps;
use super::engine::{Engine, EngineError, STRATEGIES_LIVE};
use super::store::TransitionRecord;
use crate::TraceId;
use crate::ports::DependencyError;
use crate::supervise::ChildContext;
use crate::trading::fsm::{self, Command, IllegalTransition, StrategyState};
use actix::fut::wrap_future;
use actix::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

// ---- messages ------------------------------------------------------------------------

/// Apply a lifecycle command to a strategy.
#[derive(Message)]
#[rtype(result = "Result<ApplyOutcome, TradingError>")]
pub struct Apply {
    pub strategy_id: String,
    pub command: Command,
    pub principal: String,
    pub reason: String,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ApplyOutcome {
    pub from: StrategyState,
    pub to: StrategyState,
    /// `false`: the strategy was already in the target state (an idempotent repeat).
    pub changed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TradingError {
    #[error("no strategy {0}")]
    NotFound(String),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
}

impl From<DependencyError> for TradingError {
    fn from(e: DependencyError) -> Self {
        Self::Unavailable(e.0)
    }
}

impl From<EngineError> for TradingError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(m) => Self::Invalid(m),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// A strategy actor gave up (too many consecutive failed ticks).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EngineFailed {
    pub strategy_id: String,
    pub generation: u64,
    pub reason: String,
}

/// Ids of the strategies with a running actor.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct Running;

// ---- state ---------------------------------------------------------------------------

struct Child {
    addr: Addr<TradingFsmActor>,
    generation: u64,
}

pub struct TradingManager {
    deps: Arc<Deps>,
    child_ctx: ChildContext,
    booted: bool,
    children: HashMap<String, Child>,
    next_generation: u64,
    crashes: HashMap<String, VecDeque<Instant>>,
    /// Dropped with this manager: its strategy actors notice and stop.
    alive: watch::Sender<()>,
}

impl TradingManager {
    pub fn new(deps: Arc<Deps>, child_ctx: ChildContext) -> Self {
        super::engine::describe_metrics();
        Self {
            deps,
            child_ctx,
            booted: false,
            children: HashMap::new(),
            next_generation: 0,
            crashes: HashMap::new(),
            alive: watch::Sender::new(()),
        }
    }

    fn spawn_child(&mut self, ctx: &mut Context<Self>, engine: Engine) {
        self.next_generation += 1;
        let generation = self.next_generation;
        let id = engine.spec().id.clone();
        let actor = TradingFsmActor::new(
            engine,
            generation,
            self.deps.config.max_consecutive_errors,
            ctx.address().recipient(),
            self.alive.subscribe(),
        );
        let (exit_tx, exit_rx) = oneshot::channel::<()>();
        let addr = TradingFsmActor::create(move |c| {
            // Dropped with the actor's context, whether it stopped or panicked.
            c.spawn(wrap_future(async move {
                let _exit = exit_tx;
                std::future::pending::<()>().await;
            }));
            actor
        });
        let exited_id = id.clone();
        ctx.spawn(
            wrap_future(exit_rx).map(move |_, act: &mut Self, ctx: &mut Context<Self>| {
                act.child_exited(&exited_id, generation, ctx);
            }),
        );
        self.children.insert(id, Child { addr, generation });
        self.update_gauge();
    }

    fn update_gauge(&self) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(STRATEGIES_LIVE).set(self.children.len() as f64);
    }

    /// Adopts what a committed command left to do in the manager's own state.
    fn settle(&mut self, id: &str, settle: Settle, ctx: &mut Context<Self>) {
        match settle {
            Settle::Nothing => {}
            Settle::Start(engine) => {
                if let Some(old) = self.children.remove(id) {
                    old.addr.do_send(Shutdown);
                }
                self.crashes.remove(id);
                self.spawn_child(ctx, *engine);
            }
            Settle::Forget => {
                self.children.remove(id);
                self.update_gauge();
            }
        }
    }

    /// An actor ended. If we did not ask it to (it is still registered), it crashed.
    fn child_exited(&mut self, id: &str, generation: u64, ctx: &mut Context<Self>) {
        if self
            .children
            .get(id)
            .is_none_or(|c| c.generation != generation)
        {
            return;
        }
        self.children.remove(id);
        self.update_gauge();
        let window = self.deps.config.restart_window;
        let crashes = self.crashes.entry(id.to_owned()).or_default();
        crashes.push_back(Instant::now());
        while crashes.front().is_some_and(|t| t.elapsed() > window) {
            crashes.pop_front();
        }
        let n = u32::try_from(crashes.len()).unwrap_or(u32::MAX);
        if n >= self.deps.config.max_restarts {
            tracing::error!(
                strategy = id,
                crashes = n,
                "strategy actor keeps crashing; faulting it"
            );
            ctx.notify(Apply {
                strategy_id: id.to_owned(),
                command: Command::Fault,
                principal: "system".to_owned(),
                reason: format!(
                    "the strategy crashed {n} times within {} s",
                    window.as_secs()
                ),
                trace_id: TraceId::system(),
            });
            return;
        }
        let delay = Duration::from_millis(500u64 << n.min(6));
        tracing::error!(
            strategy = id,
            crashes = n,
            delay_ms = delay.as_millis() as u64,
            "strategy actor crashed; restarting"
        );
        let (deps, id) = (Arc::clone(&self.deps), id.to_owned());
        ctx.spawn(
            async move {
                tokio::time::sleep(delay).await;
                load_running(&deps, &id).await
            }
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(Some(engine)) if !act.children.contains_key(&engine.spec().id) => {
                    act.spawn_child(ctx, engine);
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "strategy restart failed"),
            }),
        );
    }
}

/// The engine of a strategy whose stored state says it runs; `None` if it does not.
pub(super) async fn load_running(
    deps: &Arc<Deps>,
    id: &str,
) -> Result<Option<Engine>, TradingError> {
    let Some((spec, status)) = deps.store.load(id).await? else {
        return Ok(None);
    };
    if !status.state.is_running() {
        return Ok(None);
    }
    let pnl_day = status.pnl_day.zip(status.pnl_day_start);
    let engine = Engine::load(
        spec,
        status.state,
        pnl_day,
        Arc::clone(deps),
        TraceId::system(),
    )
    .await?;
    Ok(Some(engine))
}

/// Boot: decide what each strategy stored as running becomes, and load the ones that run.
async fn recover(deps: Arc<Deps>, first_start: bool) -> Result<Vec<Engine>, TradingError> {
    let mut engines = Vec::new();
    for (id, state) in deps.store.running().await? {
        if first_start && let Some(to) = fsm::after_restart(state, deps.config.resume_on_restart) {
            let Some((_, status)) = deps.store.load(&id).await? else {
                continue;
            };
            deps.store
                .transition(&TransitionRecord {
                    strategy_id: id.clone(),
                    from: state,
                    to,
                    expected_version: status.version,
                    cause: "restart".to_owned(),
                    reason: format!(
                        "restart: the service stopped while the strategy was {}; deploy it again to resume",
                        state.as_str()
                    ),
                    principal: "system".to_owned(),
                    trace_id: TraceId::system(),
                    at_ms: (deps.clock)(),
                })
                .await?;
            tracing::warn!(strategy = %id, from = state.as_str(), "strategy stopped by restart");
            continue;
        }
        match load_running(&deps, &id).await {
            Ok(Some(engine)) => engines.push(engine),
            Ok(None) => {}
            Err(e) => tracing::error!(strategy = %id, error = %e, "strategy could not resume"),
        }
    }
    Ok(engines)
}

// ---- actor ---------------------------------------------------------------------------

impl Actor for TradingManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let first_start = self.child_ctx.incarnation() == 0;
        // Not marked down while recovering: that waits on the database, whose own readiness
        // entry already says so; commands meanwhile get a retryable "recovering" error.
        let deps = Arc::clone(&self.deps);
        ctx.spawn(
            async move {
                // The database may not be reachable yet at boot: keep trying.
                let mut delay = Duration::from_millis(200);
                loop {
                    match recover(Arc::clone(&deps), first_start).await {
                        Ok(engines) => return engines,
                        Err(e) => {
                            tracing::warn!(error = %e, "strategy recovery failed; retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
            .into_actor(self)
            .map(|engines, act, ctx| {
                for engine in engines {
                    act.spawn_child(ctx, engine);
                }
                act.booted = true;
                act.child_ctx.ready();
                tracing::info!(running = act.children.len(), "trading runtime ready");
            }),
        );
    }
}

// ---- handlers ------------------------------------------------------------------------

impl Handler<Apply> for TradingManager {
    type Result = AtomicResponse<Self, Result<ApplyOutcome, TradingError>>;

    fn handle(&mut self, msg: Apply, _: &mut Context<Self>) -> Self::Result {
        let span = tracing::info_span!("apply", strategy = %msg.strategy_id, command = msg.command.as_str(), trace_id = %msg.trace_id);
        let deps = Arc::clone(&self.deps);
        let actor = self.children.get(&msg.strategy_id).map(|c| c.addr.clone());
        let booted = self.booted;
        let id = msg.strategy_id.clone();
        let fut = async move {
            if !booted {
                return Err(TradingError::Unavailable(
                    "the trading runtime is still recovering; retry shortly".to_owned(),
                ));
            }
            let (spec, status) = deps
                .store
                .load(&msg.strategy_id)
                .await?
                .ok_or_else(|| TradingError::NotFound(msg.strategy_id.clone()))?;
            let venue_is_live = deps
                .venues
                .get(&spec.connector)
                .is_some_and(|v| v.is_live());
            let step = plan(
                msg.command,
                &spec,
                status.state,
                actor.is_some(),
                venue_is_live,
            )?;
            commit(&deps, actor, &msg, spec, status, step).await
        };
        AtomicResponse::new(Box::pin(fut.instrument(span).into_actor(self).map(
            move |res, act, ctx| {
                let (outcome, settle) = res?;
                act.settle(&id, settle, ctx);
                tracing::info!(
                    from = outcome.from.as_str(),
                    to = outcome.to.as_str(),
                    changed = outcome.changed,
                    "strategy command applied"
                );
                Ok(outcome)
            },
        )))
    }
}

impl Handler<EngineFailed> for TradingManager {
    type Result = ();

    fn handle(&mut self, msg: EngineFailed, ctx: &mut Context<Self>) {
        if self
            .children
            .get(&msg.strategy_id)
            .is_some_and(|c| c.generation == msg.generation)
        {
            tracing::error!(strategy = %msg.strategy_id, reason = %msg.reason, "strategy faulted");
            ctx.notify(Apply {
                strategy_id: msg.strategy_id,
                command: Command::Fault,
                principal: "system".to_owned(),
                reason: msg.reason,
                trace_id: TraceId::system(),
            });
        }
    }
}

impl Handler<Running> for TradingManager {
    type Result = Vec<String>;

    fn handle(&mut self, _: Running, _: &mut Context<Self>) -> Vec<String> {
        let mut ids: Vec<String> = self.children.keys().cloned().collect();
        ids.sort();
        ids
    }
}

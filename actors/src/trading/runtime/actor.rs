//! `TradingFsmActor`: one per running strategy. It owns the strategy's [`Engine`] and ticks
//! it on its interval; ticks never overlap (a tick that finds the previous one still running
//! is counted as slow and skipped, not queued). It stops itself when its manager goes away,
//! so a restarted manager can never leave a second copy of a strategy trading.

use super::engine::{Engine, EngineError, TRADING_SLOW_TICKS_TOTAL, TRADING_TICK_DURATION_SECONDS};
use super::manager::EngineFailed;
use crate::trading::connector::ConnectorError;
use crate::trading::fsm::StrategyState;
use actix::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};
use tracing::Instrument;

// ---- messages ------------------------------------------------------------------------

/// Live ↔ Paused (the manager has persisted the transition already).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetState(pub StrategyState);

/// Cancels unfinished orders, then stops. Answers once the orders are handled.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct Shutdown;

/// Runs one tick now (tests; the interval sends the same).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TickNow;

// ---- state ---------------------------------------------------------------------------

pub struct TradingFsmActor {
    strategy_id: String,
    generation: u64,
    engine: Arc<Mutex<Engine>>,
    interval: Duration,
    max_errors: u32,
    slow_ticks: Arc<AtomicU64>,
    strategy_name: String,
    /// Where a fault is reported: the manager, known only by the message it takes.
    manager: Recipient<EngineFailed>,
    /// Closes when the manager incarnation that started us ends.
    manager_alive: watch::Receiver<()>,
}

impl TradingFsmActor {
    pub fn new(
        engine: Engine,
        generation: u64,
        max_errors: u32,
        manager: Recipient<EngineFailed>,
        manager_alive: watch::Receiver<()>,
    ) -> Self {
        let spec = engine.spec();
        let slow_ticks = engine.slow_ticks();
        Self {
            strategy_id: spec.id.clone(),
            strategy_name: spec.name.clone(),
            interval: Duration::from_millis(spec.tick_interval_ms.max(1)),
            generation,
            engine: Arc::new(Mutex::new(engine)),
            max_errors,
            slow_ticks,
            manager,
            manager_alive,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let Ok(mut engine) = Arc::clone(&self.engine).try_lock_owned() else {
            self.slow_ticks.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(TRADING_SLOW_TICKS_TOTAL, "strategy" => self.strategy_name.clone())
                .increment(1);
            return;
        };
        let name = self.strategy_name.clone();
        let max_errors = self.max_errors;
        let fut = async move {
            let started = Instant::now();
            let res = engine.tick().await;
            metrics::histogram!(TRADING_TICK_DURATION_SECONDS, "strategy" => name)
                .record(started.elapsed().as_secs_f64());
            match res {
                // A ban lasts minutes to days: fault now, with the venue's reason.
                Err(EngineError::Venue {
                    venue,
                    source: ConnectorError::Banned(why),
                }) => Some(format!("venue `{venue}` banned us: {why}")),
                Err(e) if engine.consecutive_errors() >= max_errors => Some(format!(
                    "{} consecutive failed ticks; last: {e}",
                    engine.consecutive_errors()
                )),
                _ => None,
            }
        };
        ctx.spawn(fut.into_actor(self).map(|fault, act, _| {
            if let Some(reason) = fault {
                act.manager.do_send(EngineFailed {
                    strategy_id: act.strategy_id.clone(),
                    generation: act.generation,
                    reason,
                });
            }
        }));
    }
}

// ---- actor ---------------------------------------------------------------------------

impl Actor for TradingFsmActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The first tick reconciles unfinished orders before anything new is sent.
        self.tick(ctx);
        ctx.run_interval(self.interval, |act, ctx| act.tick(ctx));
        let mut alive = self.manager_alive.clone();
        ctx.spawn(
            async move {
                while alive.changed().await.is_ok() {}
            }
            .into_actor(self)
            .map(|(), act, ctx| {
                tracing::info!(strategy = %act.strategy_id, "manager gone; strategy actor stops");
                ctx.stop();
            }),
        );
    }
}

// ---- handlers ------------------------------------------------------------------------

impl Handler<SetState> for TradingFsmActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: SetState, _: &mut Context<Self>) -> Self::Result {
        let engine = Arc::clone(&self.engine);
        let span =
            tracing::info_span!("set_state", strategy = %self.strategy_id, state = msg.0.as_str());
        Box::pin(
            async move {
                engine.lock().await.state = msg.0;
            }
            .instrument(span),
        )
    }
}

impl Handler<Shutdown> for TradingFsmActor {
    type Result = ResponseActFuture<Self, Result<(), String>>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let engine = Arc::clone(&self.engine);
        let span = tracing::info_span!("shutdown", strategy = %self.strategy_id);
        Box::pin(
            async move {
                // Waits for a running tick to finish: never cancel under a tick's feet.
                let mut engine = engine.lock().await;
                engine.state = StrategyState::Stopped;
                engine.cancel_open_orders().await.map_err(|e| e.to_string())
            }
            .instrument(span)
            .into_actor(self)
            .map(|res, _, ctx| {
                ctx.stop();
                res
            }),
        )
    }
}

impl Handler<TickNow> for TradingFsmActor {
    type Result = ();

    fn handle(&mut self, _: TickNow, ctx: &mut Context<Self>) {
        self.tick(ctx);
    }
}

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

/// Where in each interval a strategy ticks: a fixed point derived from its id, so many
/// strategies spread over the interval and one strategy keeps its rhythm across restarts.
/// FNV-1a: std's hasher is randomly seeded per process.
pub fn tick_phase(strategy_id: &str, interval: Duration) -> Duration {
    let hash = strategy_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let nanos = u64::try_from(interval.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_nanos(hash % nanos)
}

// ---- actor ---------------------------------------------------------------------------

impl Actor for TradingFsmActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The first tick reconciles unfinished orders before anything new is sent.
        self.tick(ctx);
        // Then tick at this strategy's own phase of the interval: strategies started together
        // (all of them, at boot) would otherwise tick, decide and write in the same instant
        // every interval, and each order's writes would queue behind everyone's.
        let interval = self.interval;
        ctx.run_later(tick_phase(&self.strategy_id, interval), move |act, ctx| {
            act.tick(ctx);
            ctx.run_interval(interval, |act, ctx| act.tick(ctx));
        });
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

#[cfg(test)]
mod tests {
    use super::tick_phase;
    use std::time::Duration;

    #[test]
    fn phases_are_fixed_per_strategy_and_spread_over_the_interval() {
        let interval = Duration::from_secs(1);
        assert_eq!(tick_phase("s-1", interval), tick_phase("s-1", interval));
        let mut buckets = [0_u32; 10];
        for n in 0..1000 {
            let phase = tick_phase(&format!("0193a1b2-{n:04}-7000-8000-000000000000"), interval);
            assert!(phase < interval);
            let bucket = usize::try_from(phase.as_millis() / 100).expect("bucket");
            buckets[bucket] += 1;
        }
        // 100 per tenth if uniform; lockstep would put all 1000 in one.
        assert!(
            buckets.iter().all(|b| (50..=150).contains(b)),
            "{buckets:?}"
        );
        assert_eq!(tick_phase("x", Duration::ZERO), Duration::ZERO);
    }
}

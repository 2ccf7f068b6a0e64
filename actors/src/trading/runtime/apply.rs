//! What applying a lifecycle command means, in two halves: [`plan`] decides it from what is
//! stored and what runs, without I/O (unit-tested below); [`commit`] carries the plan out:
//! loads or halts the strategy's engine, persists the transition (compare-and-set on its
//! version) and tells a running actor about a pause or resume. The manager then adopts the
//! [`Settle`] it returns in its own state (starts or forgets the actor).

use super::actor::{SetState, Shutdown, TradingFsmActor};
use super::deps::Deps;
use super::engine::Engine;
use super::manager::{Apply, ApplyOutcome, TradingError, load_running};
use super::store::{StrategySpec, StrategyStatus, TransitionRecord};
use crate::trading::fsm::{self, Command, StrategyState};
use actix::Addr;
use std::sync::Arc;

/// What a command does to a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Already in the command's target state: nothing is persisted (an idempotent repeat).
    /// `revive`: the state says it runs but no actor does (lost somehow); it is brought back
    /// rather than silently left dead.
    Repeat { revive: bool },
    /// A transition to `to`, persisted, with `effect` around it.
    Move { to: StrategyState, effect: Effect },
}

/// What a transition does besides being persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// Load the engine before persisting (a strategy that cannot load is never marked
    /// live), start its actor after.
    Start,
    /// Cancel the actor's open orders and stop it before persisting; forget it after.
    Halt,
    /// Tell the running actor (if any) its new state after persisting.
    Retarget,
}

/// What the manager does with its own state once the command is persisted.
pub(super) enum Settle {
    Nothing,
    /// Start an actor for this engine (replacing one that may still run).
    Start(Box<Engine>),
    /// The actor was stopped: forget it.
    Forget,
}

/// Decides what `command` does to the strategy `spec`, now `from`. `has_actor`: an actor
/// runs it in this process; `venue_is_live`: its connector moves real money.
pub(super) fn plan(
    command: Command,
    spec: &StrategySpec,
    from: StrategyState,
    has_actor: bool,
    venue_is_live: bool,
) -> Result<Step, TradingError> {
    if from == command.target() {
        return Ok(Step::Repeat {
            revive: from.is_running() && !has_actor,
        });
    }
    let to = fsm::transition(from, command)?;
    let effect = match command {
        Command::Deploy if spec.mode == "live" && !venue_is_live => {
            return Err(TradingError::Invalid(format!(
                "live mode needs a live connector; `{}` is a paper venue",
                spec.connector
            )));
        }
        Command::Deploy if spec.mode != "live" && venue_is_live => {
            return Err(TradingError::Invalid(format!(
                "`{}` is live (real money); a paper strategy cannot run on it",
                spec.connector
            )));
        }
        Command::Deploy => Effect::Start,
        Command::Stop | Command::Fault => Effect::Halt,
        Command::Pause | Command::Resume => Effect::Retarget,
    };
    Ok(Step::Move { to, effect })
}

/// Carries out `step` for the command in `msg` on the strategy loaded as `spec`/`status`.
pub(super) async fn commit(
    deps: &Arc<Deps>,
    actor: Option<Addr<TradingFsmActor>>,
    msg: &Apply,
    spec: StrategySpec,
    status: StrategyStatus,
    step: Step,
) -> Result<(ApplyOutcome, Settle), TradingError> {
    let from = status.state;
    let (to, effect) = match step {
        Step::Repeat { revive } => {
            let settle = if revive {
                load_running(deps, &spec.id)
                    .await?
                    .map_or(Settle::Nothing, |e| Settle::Start(Box::new(e)))
            } else {
                Settle::Nothing
            };
            let outcome = ApplyOutcome {
                from,
                to: from,
                changed: false,
            };
            return Ok((outcome, settle));
        }
        Step::Move { to, effect } => (to, effect),
    };
    let settle = match effect {
        Effect::Start => {
            let engine = Engine::load(
                spec.clone(),
                to,
                status.pnl_day.zip(status.pnl_day_start),
                Arc::clone(deps),
                msg.trace_id.clone(),
            )
            .await?;
            Settle::Start(Box::new(engine))
        }
        Effect::Halt => {
            if let Some(actor) = &actor {
                halt(actor).await;
            }
            Settle::Forget
        }
        Effect::Retarget => Settle::Nothing,
    };
    let applied = deps
        .store
        .transition(&TransitionRecord {
            strategy_id: spec.id.clone(),
            from,
            to,
            expected_version: status.version,
            cause: msg.command.as_str().to_owned(),
            reason: msg.reason.clone(),
            principal: msg.principal.clone(),
            trace_id: msg.trace_id.clone(),
            at_ms: (deps.clock)(),
        })
        .await?;
    if !applied {
        return Err(TradingError::Conflict(
            "the strategy changed state concurrently; retry".to_owned(),
        ));
    }
    if effect == Effect::Retarget
        && let Some(actor) = &actor
    {
        let _ = actor.send(SetState(to)).await;
    }
    let outcome = ApplyOutcome {
        from,
        to,
        changed: true,
    };
    Ok((outcome, settle))
}

/// Asks the actor to cancel its orders and stop; waits for it. Best effort: the transition
/// is persisted either way.
async fn halt(actor: &Addr<TradingFsmActor>) {
    match actor.send(Shutdown).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "some orders could not be cancelled on stop"),
        Err(e) => tracing::warn!(error = %e, "strategy actor already gone"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::risk::RiskLimits;
    use StrategyState::{Faulted, Idle, Live, Paused, Stopped};
    use rust_decimal::Decimal;

    fn spec(mode: &str) -> StrategySpec {
        StrategySpec {
            id: "s1".into(),
            name: "s1".into(),
            kind: "threshold".into(),
            params: serde_json::Value::Null,
            connector: "paper".into(),
            symbols: vec!["BTC-USDT".into()],
            mode: mode.into(),
            tick_interval_ms: 1_000,
            limits: RiskLimits {
                max_order_notional: Decimal::ONE,
                max_open_position: Decimal::ONE,
                max_orders_per_minute: 1,
                daily_loss_limit: Decimal::ONE,
            },
        }
    }

    fn step(command: Command, from: StrategyState, has_actor: bool) -> Step {
        plan(command, &spec("paper"), from, has_actor, false).expect("legal")
    }

    #[test]
    fn each_command_moves_with_its_effect() {
        let moved = |to, effect| Step::Move { to, effect };
        assert_eq!(
            step(Command::Deploy, Idle, false),
            moved(Live, Effect::Start)
        );
        assert_eq!(
            step(Command::Deploy, Stopped, false),
            moved(Live, Effect::Start)
        );
        assert_eq!(
            step(Command::Stop, Live, true),
            moved(Stopped, Effect::Halt)
        );
        assert_eq!(
            step(Command::Fault, Paused, true),
            moved(Faulted, Effect::Halt)
        );
        assert_eq!(
            step(Command::Pause, Live, true),
            moved(Paused, Effect::Retarget)
        );
        assert_eq!(
            step(Command::Resume, Paused, true),
            moved(Live, Effect::Retarget)
        );
    }

    #[test]
    fn a_repeat_changes_nothing_but_revives_a_lost_actor() {
        assert_eq!(
            step(Command::Deploy, Live, true),
            Step::Repeat { revive: false }
        );
        assert_eq!(
            step(Command::Deploy, Live, false),
            Step::Repeat { revive: true }
        );
        assert_eq!(
            step(Command::Pause, Paused, false),
            Step::Repeat { revive: true }
        );
        assert_eq!(
            step(Command::Stop, Stopped, false),
            Step::Repeat { revive: false }
        );
    }

    #[test]
    fn illegal_moves_and_live_mode_on_a_paper_venue_are_refused() {
        assert!(matches!(
            plan(Command::Pause, &spec("paper"), Idle, false, false),
            Err(TradingError::Illegal(_))
        ));
        assert!(matches!(
            plan(Command::Deploy, &spec("live"), Idle, false, false),
            Err(TradingError::Invalid(m)) if m.contains("`paper` is a paper venue")
        ));
        assert_eq!(
            plan(Command::Deploy, &spec("live"), Idle, false, true).ok(),
            Some(Step::Move {
                to: Live,
                effect: Effect::Start
            })
        );
    }
}

//! The trading manager on the in-memory store: commands are planned, persisted as
//! transitions and carried out (actors started and stopped), a strategy whose venue keeps
//! failing faults, and strategies found running at the first start come back stopped.

use crate::fixtures::{deps, paper, threshold};
use actors::TraceId;
use actors::supervise::{ActorRef, Readiness, Supervisor, SupervisorConfig};
use actors::testkit::{FlakyVenue, MemoryTradingStore, eventually};
use actors::trading::connector::Connector;
use actors::trading::fsm::{Command, StrategyState};
use actors::trading::runtime::{
    Apply, ApplyOutcome, Running, RuntimeConfig, TradingError, TradingManager,
};
use rust_decimal::dec;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

struct Harness {
    store: Arc<MemoryTradingStore>,
    venue: Arc<FlakyVenue>,
    manager: ActorRef<TradingManager>,
    _supervisor: Supervisor,
}

/// A manager over strategy `s-1` (threshold, paper), stored in `state`.
async fn harness(state: StrategyState, config: RuntimeConfig) -> Harness {
    let store = Arc::new(MemoryTradingStore::new());
    store.add(threshold("s-1", "paper", dec!(1000)), state);
    let venue = Arc::new(FlakyVenue::new(paper("paper").await));
    let deps = deps(
        &store,
        vec![("paper", Arc::clone(&venue) as Arc<dyn Connector>)],
        config,
    );
    let mut supervisor = Supervisor::new(SupervisorConfig::default(), Readiness::default());
    let manager = supervisor.spawn("trading", move |child| {
        TradingManager::new(Arc::clone(&deps), child)
    });
    Harness {
        store,
        venue,
        manager,
        _supervisor: supervisor,
    }
}

impl Harness {
    /// Applies `command` to `s-1`, waiting out the manager's boot-time recovery.
    async fn apply(&self, command: Command) -> Result<ApplyOutcome, TradingError> {
        eventually(WAIT, "the manager to finish recovering", || async {
            let res = self
                .manager
                .send(Apply {
                    strategy_id: "s-1".into(),
                    command,
                    principal: "user:test".into(),
                    reason: format!("{} requested", command.as_str()),
                    trace_id: TraceId::new("t-manager"),
                })
                .await
                .map_err(|e| e.to_string())?;
            match res {
                Err(TradingError::Unavailable(m)) if m.contains("recovering") => Err(m),
                other => Ok(other),
            }
        })
        .await
    }

    async fn running(&self) -> Vec<String> {
        self.manager.send(Running).await.expect("manager answers")
    }

    fn state(&self) -> StrategyState {
        self.store.status("s-1").expect("stored").state
    }
}

#[actix_rt::test]
async fn deploy_starts_the_strategy_and_stop_ends_it_each_persisted_with_its_cause() {
    let h = harness(StrategyState::Idle, RuntimeConfig::default()).await;

    let deployed = h.apply(Command::Deploy).await.expect("deploy");
    assert_eq!(
        (deployed.from, deployed.to, deployed.changed),
        (StrategyState::Idle, StrategyState::Live, true)
    );
    assert_eq!(h.state(), StrategyState::Live);
    assert_eq!(h.running().await, ["s-1"]);
    // Its actor ticks: the threshold strategy buys once.
    eventually(WAIT, "the strategy's first order", || async {
        match h.store.orders("s-1").len() {
            0 => Err("no order yet"),
            _ => Ok(()),
        }
    })
    .await;

    let again = h.apply(Command::Deploy).await.expect("repeat");
    assert!(!again.changed, "a repeated deploy changes nothing");

    let stopped = h.apply(Command::Stop).await.expect("stop");
    assert_eq!(stopped.to, StrategyState::Stopped);
    assert!(h.running().await.is_empty());
    let causes: Vec<(StrategyState, StrategyState, String, String)> = h
        .store
        .transitions()
        .into_iter()
        .map(|t| (t.from, t.to, t.cause, t.principal))
        .collect();
    assert_eq!(
        causes,
        [
            (
                StrategyState::Idle,
                StrategyState::Live,
                "deploy".to_owned(),
                "user:test".to_owned()
            ),
            (
                StrategyState::Live,
                StrategyState::Stopped,
                "stop".to_owned(),
                "user:test".to_owned()
            ),
        ]
    );
}

#[actix_rt::test]
async fn an_illegal_command_is_refused_and_nothing_is_persisted() {
    let h = harness(StrategyState::Idle, RuntimeConfig::default()).await;

    let refused = h.apply(Command::Pause).await;

    assert!(
        matches!(refused, Err(TradingError::Illegal(_))),
        "{refused:?}"
    );
    assert_eq!(h.state(), StrategyState::Idle);
    assert!(h.store.transitions().is_empty());
    assert!(h.running().await.is_empty());
}

#[actix_rt::test]
async fn pause_and_resume_keep_the_actor_and_persist_each_move() {
    let h = harness(StrategyState::Idle, RuntimeConfig::default()).await;
    h.apply(Command::Deploy).await.expect("deploy");

    let paused = h.apply(Command::Pause).await.expect("pause");
    assert_eq!(paused.to, StrategyState::Paused);
    assert_eq!(
        h.running().await,
        ["s-1"],
        "a paused strategy keeps its actor"
    );
    let resumed = h.apply(Command::Resume).await.expect("resume");
    assert_eq!(resumed.to, StrategyState::Live);
    assert_eq!(h.state(), StrategyState::Live);
    assert_eq!(h.store.status("s-1").map(|s| s.version), Some(3));
}

#[actix_rt::test]
async fn a_strategy_whose_venue_keeps_failing_faults() {
    let config = RuntimeConfig {
        max_consecutive_errors: 2,
        ..RuntimeConfig::default()
    };
    let h = harness(StrategyState::Idle, config).await;
    h.venue.set_down(true);

    h.apply(Command::Deploy).await.expect("deploy");

    eventually(WAIT, "the strategy to fault", || async {
        match h.state() {
            StrategyState::Faulted => Ok(()),
            other => Err(other),
        }
    })
    .await;
    let fault = h.store.transitions().pop().expect("the fault transition");
    assert_eq!(
        (fault.cause.as_str(), fault.principal.as_str()),
        ("fault", "system")
    );
    assert!(
        fault.reason.contains("2 consecutive failed ticks"),
        "{}",
        fault.reason
    );
    assert!(h.running().await.is_empty());
    assert!(h.store.orders("s-1").is_empty());
}

#[actix_rt::test]
async fn a_strategy_found_live_at_the_first_start_comes_back_stopped() {
    let h = harness(StrategyState::Live, RuntimeConfig::default()).await;

    eventually(WAIT, "the restart transition", || async {
        match h.state() {
            StrategyState::Stopped => Ok(()),
            other => Err(other),
        }
    })
    .await;

    let t = h.store.transitions().pop().expect("transition");
    assert_eq!((t.from, t.cause.as_str()), (StrategyState::Live, "restart"));
    assert!(h.running().await.is_empty());
    assert_eq!(h.venue.placed(), 0, "nothing was sent");
}

#[actix_rt::test]
async fn with_resume_on_restart_a_live_strategy_runs_again() {
    let config = RuntimeConfig {
        resume_on_restart: true,
        ..RuntimeConfig::default()
    };
    let h = harness(StrategyState::Live, config).await;

    let running = eventually(WAIT, "the strategy to be adopted", || async {
        match h.running().await {
            r if r.is_empty() => Err("nothing runs"),
            r => Ok(r),
        }
    })
    .await;

    assert_eq!(running, ["s-1"]);
    assert_eq!(h.state(), StrategyState::Live);
    assert!(h.store.transitions().is_empty());
}

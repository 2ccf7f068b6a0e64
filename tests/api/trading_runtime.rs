//! The trading manager with the real store: a strategy whose venue keeps failing faults
//! after `max_consecutive_errors` ticks; one whose actor keeps crashing (a panic) is restarted
//! and then faults; a faulted strategy needs an explicit deploy to run again.

use crate::helpers::{Backend, TestDb, eventually, test_settings};
use crate::on_both_backends;
use actors::TraceId;
use actors::events::EventBus;
use actors::supervise::{ActorRef, Readiness, Supervisor, SupervisorConfig};
use actors::trading::connector::{Connector, ConnectorError};
use actors::trading::fsm::Command;
use actors::trading::runtime::{Apply, Deps, RuntimeConfig, TradingError, TradingManager};
use actors::trading::types::{Fees, OrderBook, OrderReport, OrderRequest};
use ai_service::db::{Db, DbHandle};
use ai_service::trading::store::SqlTradingStore;
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    a_failing_venue_faults_the_strategy,
    a_crashing_strategy_is_restarted_then_faulted,
    slow_ticks_are_counted_and_stored
);

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The venue is down.
    Down,
    /// Its client code panics.
    Panic,
    /// It answers with an empty book, but takes 100 ms (ticks every 20 ms).
    Slow,
}

struct BrokenVenue {
    mode: Mode,
}

#[async_trait]
impl Connector for BrokenVenue {
    fn name(&self) -> &str {
        "broken"
    }
    fn is_live(&self) -> bool {
        false
    }
    fn fees(&self) -> Fees {
        Fees {
            maker: Decimal::ZERO,
            taker: Decimal::ZERO,
        }
    }
    async fn order_book(&self, symbol: &str, _: usize) -> Result<OrderBook, ConnectorError> {
        match self.mode {
            Mode::Panic => panic!("venue client bug"),
            Mode::Down => Err(ConnectorError::Unavailable("connection refused".to_owned())),
            Mode::Slow => {
                // A slow venue is what this mode is: the tick outlasts its interval.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(OrderBook {
                    symbol: symbol.to_owned(),
                    bids: vec![],
                    asks: vec![],
                    ts_ms: 0,
                })
            }
        }
    }
    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        Ok(BTreeMap::new())
    }
    async fn place(&self, o: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        Err(ConnectorError::UnknownOrder(o.client_order_id.clone()))
    }
    async fn cancel(&self, _: &str, id: &str) -> Result<OrderReport, ConnectorError> {
        Err(ConnectorError::UnknownOrder(id.to_owned()))
    }
    async fn order_status(&self, _: &str, _: &str) -> Result<Option<OrderReport>, ConnectorError> {
        Ok(None)
    }
}

async fn start(backend: Backend, mode: Mode) -> (TestDb, Db, Supervisor, ActorRef<TradingManager>) {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let row = crate::trading_engine::threshold_row("fragile", "broken", "idle", 20, "1000");
    ai_service::trading::strategies::insert(&db, &row)
        .await
        .expect("insert");
    let deps = Arc::new(Deps {
        store: Arc::new(SqlTradingStore(DbHandle::connected(db.clone()))),
        venues: BTreeMap::from([(
            "broken".to_owned(),
            Arc::new(BrokenVenue { mode }) as Arc<dyn Connector>,
        )]),
        events: EventBus::new(16),
        config: RuntimeConfig {
            max_consecutive_errors: 3,
            max_restarts: 3,
            ..RuntimeConfig::default()
        },
        clock: actors::trading::runtime::system_clock(),
    });
    let mut supervisor = Supervisor::new(SupervisorConfig::default(), Readiness::default());
    let manager = supervisor.spawn("trading", move |child| {
        TradingManager::new(Arc::clone(&deps), child)
    });
    (test_db, db, supervisor, manager)
}

/// Applies `command` once the manager has finished recovering (it answers `Unavailable`
/// until then).
async fn apply(manager: &ActorRef<TradingManager>, command: Command) {
    eventually(
        Duration::from_secs(5),
        "the manager finishing its recovery",
        || async {
            let res = manager
                .send(Apply {
                    strategy_id: "s-1".into(),
                    command,
                    principal: "user:test".into(),
                    reason: "test".into(),
                    trace_id: TraceId::new("t-runtime"),
                })
                .await
                .expect("manager answers");
            match res {
                Ok(_) => Ok(()),
                Err(TradingError::Unavailable(e)) => Err(e),
                Err(e) => panic!("{command:?}: {e}"),
            }
        },
    )
    .await;
}

async fn wait_state(db: &Db, want: &str) -> (String, Option<String>) {
    eventually(
        Duration::from_secs(6),
        &format!("strategy {want}"),
        || async {
            let row: (String, Option<String>) = db
                .fetch_one("SELECT state, state_reason FROM strategies WHERE id = 's-1'")
                .await
                .expect("strategy");
            if row.0 == want { Ok(row) } else { Err(row) }
        },
    )
    .await
}

async fn a_failing_venue_faults_the_strategy(backend: Backend) {
    let (_t, db, supervisor, manager) = start(backend, Mode::Down).await;
    apply(&manager, Command::Deploy).await;
    let (_, reason) = wait_state(&db, "faulted").await;
    let reason = reason.expect("reason");
    assert!(reason.starts_with("3 consecutive failed ticks"), "{reason}");
    assert!(reason.contains("connection refused"), "{reason}");
    // Faulted needs an explicit restart; resume is not one.
    let err = manager
        .send(Apply {
            strategy_id: "s-1".into(),
            command: Command::Resume,
            principal: "user:test".into(),
            reason: "test".into(),
            trace_id: TraceId::new("t"),
        })
        .await
        .expect("answer")
        .expect_err("illegal");
    assert_eq!(err.to_string(), "cannot resume a strategy that is faulted");
    apply(&manager, Command::Deploy).await;
    wait_state(&db, "live").await;
    apply(&manager, Command::Stop).await;
    wait_state(&db, "stopped").await;
    let n: i64 = db
        .fetch_scalar(
            "SELECT COUNT(*) FROM strategy_transitions WHERE strategy_id = 's-1' AND cause = 'fault'",
        )
        .await
        .expect("count");
    assert!(n >= 1);
    supervisor.shutdown().await;
}

async fn a_crashing_strategy_is_restarted_then_faulted(backend: Backend) {
    let (_t, db, supervisor, manager) = start(backend, Mode::Panic).await;
    apply(&manager, Command::Deploy).await;
    let (_, reason) = wait_state(&db, "faulted").await;
    assert_eq!(
        reason.as_deref(),
        Some("the strategy crashed 3 times within 600 s")
    );
    let running = manager
        .send(actors::trading::runtime::Running)
        .await
        .expect("answer");
    assert!(running.is_empty(), "{running:?}");
    supervisor.shutdown().await;
}

/// A tick that outlasts the interval makes the next ones skip; the count reaches the stored
/// status (it was always 0: the actor and the engine each had their own counter).
async fn slow_ticks_are_counted_and_stored(backend: Backend) {
    let (_t, db, supervisor, manager) = start(backend, Mode::Slow).await;
    apply(&manager, Command::Deploy).await;
    let stored = eventually(
        Duration::from_secs(6),
        "slow ticks in the database",
        || async {
            let n: i64 = db
                .fetch_scalar("SELECT slow_ticks FROM strategies WHERE id = 's-1'")
                .await
                .expect("strategy");
            if n > 0 { Ok(n) } else { Err(n) }
        },
    )
    .await;
    assert!(stored > 0);
    apply(&manager, Command::Stop).await;
    supervisor.shutdown().await;
}

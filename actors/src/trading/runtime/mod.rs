//! The strategy runtime: the manager that owns lifecycles (`manager.rs`; what a command
//! means and how it is carried out in `apply.rs`), one actor per running strategy
//! (`actor.rs`), the engine each actor drives (`engine/`), the job handler (`jobs.rs`), and
//! the store port they persist through (`store.rs`).

pub mod actor;
mod apply;
pub mod deps;
pub mod engine;
pub mod jobs;
pub mod manager;
pub mod store;

pub use actor::{SetState, Shutdown, TickNow, TradingFsmActor};
pub use deps::{Clock, Deps, RuntimeConfig, system_clock};
pub use engine::{Engine, EngineError, TickSummary};
pub use jobs::TradingJobs;
pub use manager::{Apply, ApplyOutcome, Running, TradingError, TradingManager};
pub use store::{
    FillRecord, OrderRecord, PositionRecord, StrategySpec, StrategyStatus, TickRecord,
    TradingStore, TransitionRecord,
};

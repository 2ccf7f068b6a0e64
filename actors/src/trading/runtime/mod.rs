//! The strategy runtime: the manager that owns lifecycles, one actor per running strategy,
//! the engine each actor drives, the job handler, and the store port they persist through.

pub mod actor;
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

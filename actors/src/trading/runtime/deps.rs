//! What the strategy runtime is given: its store, the venues, the event bus, a clock, limits.

use super::store::TradingStore;
use crate::events::EventBus;
use crate::trading::connector::Connector;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub book_depth: usize,
    /// Consecutive failed ticks before a strategy faults.
    pub max_consecutive_errors: u32,
    /// Running strategies resume after a process restart instead of coming back stopped.
    pub resume_on_restart: bool,
    /// Upper bound for one venue call; a hung venue must not hang the strategy.
    pub venue_timeout: Duration,
    /// Actor restarts (panics) within `restart_window` before the strategy faults.
    pub max_restarts: u32,
    pub restart_window: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            book_depth: 20,
            max_consecutive_errors: 5,
            resume_on_restart: false,
            venue_timeout: Duration::from_secs(10),
            max_restarts: 3,
            restart_window: Duration::from_secs(600),
        }
    }
}

pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock in Unix milliseconds.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}

pub struct Deps {
    pub store: Arc<dyn TradingStore>,
    /// Every venue a strategy may name, by name.
    pub venues: BTreeMap<String, Arc<dyn Connector>>,
    pub events: EventBus,
    pub config: RuntimeConfig,
    pub clock: Clock,
}

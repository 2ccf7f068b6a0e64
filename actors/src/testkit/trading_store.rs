//! `MemoryTradingStore`: the `TradingStore` port in memory.

use super::unavailable;
use crate::ports::DependencyError;
use crate::trading::fsm::StrategyState;
use crate::trading::runtime::{
    FillRecord, OrderRecord, PositionRecord, StrategySpec, StrategyStatus, TickRecord,
    TradingStore, TransitionRecord,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Default)]
struct State {
    strategies: BTreeMap<String, (StrategySpec, StrategyStatus)>,
    transitions: Vec<TransitionRecord>,
    /// In insertion order (client order ids are unique).
    orders: Vec<OrderRecord>,
    /// By (venue, trade id).
    fills: BTreeMap<(String, String), FillRecord>,
    /// By (strategy, venue, symbol).
    positions: BTreeMap<(String, String, String), PositionRecord>,
    ticks: Vec<TickRecord>,
    down: bool,
}

impl State {
    /// Stores a fill and the position it left (the caller checked it is new).
    fn put_fill(&mut self, fill: &FillRecord, position: &PositionRecord) {
        self.fills
            .insert((fill.venue.clone(), fill.trade_id.clone()), fill.clone());
        self.positions.insert(
            (
                fill.strategy_id.clone(),
                position.venue.clone(),
                position.symbol.clone(),
            ),
            position.clone(),
        );
    }
}

/// Strategies, their transitions, orders, fills, positions and ticks, in memory.
#[derive(Default)]
pub struct MemoryTradingStore {
    state: Mutex<State>,
}

impl MemoryTradingStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Like every call of the port, but refused while the store is down.
    fn up(&self) -> Result<MutexGuard<'_, State>, DependencyError> {
        let state = self.lock();
        if state.down {
            return Err(unavailable());
        }
        Ok(state)
    }

    /// Stores a strategy in `state` (version 0), as the API would have created it.
    pub fn add(&self, spec: StrategySpec, state: StrategyState) {
        let status = StrategyStatus {
            state,
            version: 0,
            since_ms: 0,
            pnl_day: None,
            pnl_day_start: None,
        };
        self.lock()
            .strategies
            .insert(spec.id.clone(), (spec, status));
    }

    /// Every call fails while `down` (a database outage).
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    pub fn status(&self, strategy_id: &str) -> Option<StrategyStatus> {
        self.lock()
            .strategies
            .get(strategy_id)
            .map(|(_, s)| s.clone())
    }

    /// Every transition applied, in order.
    pub fn transitions(&self) -> Vec<TransitionRecord> {
        self.lock().transitions.clone()
    }

    /// Every order of the strategy as last written, in the order they were recorded.
    pub fn orders(&self, strategy_id: &str) -> Vec<OrderRecord> {
        self.lock()
            .orders
            .iter()
            .filter(|o| o.strategy_id == strategy_id)
            .cloned()
            .collect()
    }

    pub fn fills(&self) -> Vec<FillRecord> {
        self.lock().fills.values().cloned().collect()
    }

    /// Every finished tick, in order.
    pub fn ticks(&self) -> Vec<TickRecord> {
        self.lock().ticks.clone()
    }
}

#[async_trait]
impl TradingStore for MemoryTradingStore {
    async fn load(
        &self,
        strategy_id: &str,
    ) -> Result<Option<(StrategySpec, StrategyStatus)>, DependencyError> {
        Ok(self.up()?.strategies.get(strategy_id).cloned())
    }

    async fn running(&self) -> Result<Vec<(String, StrategyState)>, DependencyError> {
        Ok(self
            .up()?
            .strategies
            .iter()
            .filter(|(_, (_, s))| s.state.is_running())
            .map(|(id, (_, s))| (id.clone(), s.state))
            .collect())
    }

    async fn transition(&self, t: &TransitionRecord) -> Result<bool, DependencyError> {
        let mut state = self.up()?;
        let Some((_, status)) = state.strategies.get_mut(&t.strategy_id) else {
            return Ok(false);
        };
        if status.version != t.expected_version || status.state != t.from {
            return Ok(false);
        }
        status.state = t.to;
        status.version += 1;
        status.since_ms = t.at_ms;
        state.transitions.push(t.clone());
        Ok(true)
    }

    async fn insert_order(&self, order: &OrderRecord) -> Result<(), DependencyError> {
        let mut state = self.up()?;
        if state
            .orders
            .iter()
            .any(|o| o.client_order_id == order.client_order_id)
        {
            return Err(DependencyError(format!(
                "order {} exists already",
                order.client_order_id
            )));
        }
        state.orders.push(order.clone());
        Ok(())
    }

    async fn update_order(&self, order: &OrderRecord) -> Result<(), DependencyError> {
        let mut state = self.up()?;
        let stored = state
            .orders
            .iter_mut()
            .find(|o| o.client_order_id == order.client_order_id)
            .ok_or_else(|| DependencyError(format!("no order {}", order.client_order_id)))?;
        *stored = order.clone();
        Ok(())
    }

    async fn record_fill(
        &self,
        fill: &FillRecord,
        position: &PositionRecord,
    ) -> Result<bool, DependencyError> {
        let mut state = self.up()?;
        if state
            .fills
            .contains_key(&(fill.venue.clone(), fill.trade_id.clone()))
        {
            return Ok(false);
        }
        state.put_fill(fill, position);
        Ok(true)
    }

    async fn record_fills_and_order(
        &self,
        fills: &[(FillRecord, PositionRecord)],
        order: &OrderRecord,
    ) -> Result<bool, DependencyError> {
        let mut state = self.up()?;
        if fills.iter().any(|(f, _)| {
            state
                .fills
                .contains_key(&(f.venue.clone(), f.trade_id.clone()))
        }) {
            return Ok(false);
        }
        let Some(stored) = state
            .orders
            .iter_mut()
            .find(|o| o.client_order_id == order.client_order_id)
        else {
            return Err(DependencyError(format!(
                "no order {}",
                order.client_order_id
            )));
        };
        *stored = order.clone();
        for (fill, position) in fills {
            state.put_fill(fill, position);
        }
        Ok(true)
    }

    async fn open_orders(&self, strategy_id: &str) -> Result<Vec<OrderRecord>, DependencyError> {
        Ok(self
            .up()?
            .orders
            .iter()
            .filter(|o| o.strategy_id == strategy_id && !o.status.is_terminal())
            .cloned()
            .collect())
    }

    async fn positions(&self, strategy_id: &str) -> Result<Vec<PositionRecord>, DependencyError> {
        Ok(self
            .up()?
            .positions
            .iter()
            .filter(|((s, _, _), _)| s == strategy_id)
            .map(|(_, p)| p.clone())
            .collect())
    }

    async fn tick_done(&self, tick: &TickRecord) -> Result<(), DependencyError> {
        let mut state = self.up()?;
        if let Some((_, status)) = state.strategies.get_mut(&tick.strategy_id) {
            status.pnl_day = Some(tick.pnl_day);
            status.pnl_day_start = Some(tick.pnl_day_start);
        }
        for (venue, symbol, mark) in &tick.marks {
            let key = (tick.strategy_id.clone(), venue.clone(), symbol.clone());
            if let Some(p) = state.positions.get_mut(&key) {
                p.mark = Some(*mark);
            }
        }
        state.ticks.push(tick.clone());
        Ok(())
    }
}

//! The paper venue's persistence port, `PaperStore`, and `MemoryPaperStore`, its in-memory
//! implementation (tests, throwaway runs). The root crate implements the port in SQL.

use crate::ports::DependencyError;
use crate::trading::types::{OrderReport, OrderRequest};
use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// One order as the venue knows it: what was asked, where it stands, when it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperOrder {
    pub request: OrderRequest,
    pub report: OrderReport,
    pub created_ms: i64,
}

/// Everything needed to bring a venue back after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaperSnapshot {
    /// Total holdings per asset (reservations of open orders included).
    pub balances: BTreeMap<String, Decimal>,
    /// Non-terminal orders only.
    pub open_orders: Vec<PaperOrder>,
    /// Highest trade sequence number used so far.
    pub last_trade_seq: u64,
}

#[async_trait]
pub trait PaperStore: Send + Sync + 'static {
    /// None = this venue was never initialised (seed initial balances then).
    async fn load(&self, venue: &str) -> Result<Option<PaperSnapshot>, DependencyError>;
    async fn get_order(
        &self,
        venue: &str,
        client_order_id: &str,
    ) -> Result<Option<PaperOrder>, DependencyError>;
    /// Saves balances, last_trade_seq and (when given) the order, atomically (one transaction).
    async fn save(
        &self,
        venue: &str,
        balances: &BTreeMap<String, Decimal>,
        last_trade_seq: u64,
        order: Option<&PaperOrder>,
    ) -> Result<(), DependencyError>;
}

/// `PaperStore` in memory. `fail_next_save` makes the next `save` fail without writing, to test
/// how the venue survives a store outage.
#[derive(Debug, Default)]
pub struct MemoryPaperStore {
    venues: Mutex<HashMap<String, Venue>>,
    fail_next: AtomicBool,
}

#[derive(Debug, Default)]
struct Venue {
    balances: BTreeMap<String, Decimal>,
    last_trade_seq: u64,
    orders: HashMap<String, PaperOrder>,
}

impl MemoryPaperStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail_next_save(&self) {
        self.fail_next.store(true, Ordering::SeqCst);
    }

    fn venues(&self) -> std::sync::MutexGuard<'_, HashMap<String, Venue>> {
        // Every write below completes before the guard drops, so poisoning cannot expose a
        // half-applied save.
        self.venues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl PaperStore for MemoryPaperStore {
    async fn load(&self, venue: &str) -> Result<Option<PaperSnapshot>, DependencyError> {
        Ok(self.venues().get(venue).map(|v| {
            let mut open_orders: Vec<_> = v
                .orders
                .values()
                .filter(|o| !o.report.status.is_terminal())
                .cloned()
                .collect();
            open_orders.sort_by_key(|o| o.created_ms);
            PaperSnapshot {
                balances: v.balances.clone(),
                open_orders,
                last_trade_seq: v.last_trade_seq,
            }
        }))
    }

    async fn get_order(
        &self,
        venue: &str,
        client_order_id: &str,
    ) -> Result<Option<PaperOrder>, DependencyError> {
        Ok(self
            .venues()
            .get(venue)
            .and_then(|v| v.orders.get(client_order_id).cloned()))
    }

    async fn save(
        &self,
        venue: &str,
        balances: &BTreeMap<String, Decimal>,
        last_trade_seq: u64,
        order: Option<&PaperOrder>,
    ) -> Result<(), DependencyError> {
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(DependencyError("simulated paper store failure".into()));
        }
        let mut venues = self.venues();
        let v = venues.entry(venue.to_owned()).or_default();
        // Trade ids are minted from this sequence: going back would reuse them.
        if last_trade_seq < v.last_trade_seq {
            return Err(DependencyError(format!(
                "trade sequence of {venue} would go back from {} to {last_trade_seq}",
                v.last_trade_seq
            )));
        }
        v.balances = balances.clone();
        v.last_trade_seq = last_trade_seq;
        if let Some(order) = order {
            v.orders
                .insert(order.report.client_order_id.clone(), order.clone());
        }
        Ok(())
    }
}

//! `FlakyVenue`: wraps a real `Connector` (the paper exchange, say) and can be made to fail
//! every call, or to take its time, the way a venue in trouble does.

use crate::trading::connector::{Connector, ConnectorError};
use crate::trading::types::{Fees, OrderBook, OrderReport, OrderRequest};
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub struct FlakyVenue {
    inner: Arc<dyn Connector>,
    down: AtomicBool,
    /// Added to every call, in milliseconds.
    delay_ms: AtomicU64,
    /// Orders placed through it (refused ones included).
    placed: AtomicU64,
}

impl FlakyVenue {
    pub fn new(inner: Arc<dyn Connector>) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            placed: AtomicU64::new(0),
        }
    }

    /// Every call answers `Unavailable` while `down`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every call takes `delay` longer.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// How many `place` calls reached it.
    pub fn placed(&self) -> u64 {
        self.placed.load(Ordering::SeqCst)
    }

    async fn gate(&self) -> Result<(), ConnectorError> {
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(ConnectorError::Unavailable(
                "venue down (testkit)".to_owned(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for FlakyVenue {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn fees(&self) -> Fees {
        self.inner.fees()
    }

    async fn symbol_rules(
        &self,
        symbol: &str,
    ) -> Result<crate::trading::rules::SymbolRules, ConnectorError> {
        // Not gated: real connectors serve rules from their cache while the venue is down.
        self.inner.symbol_rules(symbol).await
    }

    async fn order_book(&self, symbol: &str, depth: usize) -> Result<OrderBook, ConnectorError> {
        self.gate().await?;
        self.inner.order_book(symbol, depth).await
    }

    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        self.gate().await?;
        self.inner.balances().await
    }

    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        self.placed.fetch_add(1, Ordering::SeqCst);
        self.gate().await?;
        self.inner.place(order).await
    }

    async fn cancel(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError> {
        self.gate().await?;
        self.inner.cancel(symbol, client_order_id).await
    }

    async fn order_status(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        self.gate().await?;
        self.inner.order_status(symbol, client_order_id).await
    }
}

//! One real venue's order books shared by its strategies for a moment (`trading.book_cache_ms`).
//!
//! Every strategy reads its symbol's book on every tick. On a real venue that is one REST call
//! each: 100 strategies on BTC-USDT ticking at 1 s made 100 depth requests a second, 6000+
//! weight a minute on Binance (over its 6000 budget, so the connector rightly held calls back),
//! and the same book fetched 100 times. Here a book fetched for (symbol, depth) answers every
//! caller for the next `ttl`; callers arriving while it is being fetched wait for that one
//! call (one request in flight per book), and a failed fetch answers them with its error for
//! the same `ttl` instead of each trying again behind it (a venue timing out would otherwise
//! hold the last of 100 callers for 100 timeouts). Everything else goes straight to the venue.

use actors::trading::connector::{AssetBalance, Connector, ConnectorError};
use actors::trading::rules::SymbolRules;
use actors::trading::types::{Fees, OrderBook, OrderReport, OrderRequest};
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Result<OrderBook, ConnectorError>)>>>;

pub struct SharedBooks {
    inner: Arc<dyn Connector>,
    ttl: Duration,
    slots: Mutex<HashMap<(String, usize), Slot>>,
}

impl SharedBooks {
    /// `inner` itself when `ttl` is zero (every caller fetches its own book).
    pub fn wrap(inner: Arc<dyn Connector>, ttl: Duration) -> Arc<dyn Connector> {
        if ttl.is_zero() {
            return inner;
        }
        Arc::new(Self {
            inner,
            ttl,
            slots: Mutex::default(),
        })
    }

    fn slot(&self, symbol: &str, depth: usize) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry((symbol.to_owned(), depth)).or_default())
    }
}

#[async_trait]
impl Connector for SharedBooks {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn mode(&self) -> &'static str {
        self.inner.mode()
    }

    fn fees(&self) -> Fees {
        self.inner.fees()
    }

    async fn symbol_rules(&self, symbol: &str) -> Result<SymbolRules, ConnectorError> {
        self.inner.symbol_rules(symbol).await
    }

    async fn order_book(&self, symbol: &str, depth: usize) -> Result<OrderBook, ConnectorError> {
        let slot = self.slot(symbol, depth);
        let mut cached = slot.lock().await;
        if let Some((at, answer)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            return answer.clone();
        }
        let answer = self.inner.order_book(symbol, depth).await;
        *cached = Some((Instant::now(), answer.clone()));
        answer
    }

    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        self.inner.balances().await
    }

    async fn balance_sheet(&self) -> Result<BTreeMap<String, AssetBalance>, ConnectorError> {
        self.inner.balance_sheet().await
    }

    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        self.inner.place(order).await
    }

    async fn cancel(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError> {
        self.inner.cancel(symbol, client_order_id).await
    }

    async fn order_status(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        self.inner.order_status(symbol, client_order_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::trading::types::Level;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Counts book fetches; each takes 20 ms; fails while `failing`.
    #[derive(Default)]
    struct Counting {
        fetches: AtomicU32,
        failing: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl Connector for Counting {
        fn name(&self) -> &str {
            "counting"
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
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(ConnectorError::Unavailable("timed out".into()));
            }
            Ok(OrderBook {
                symbol: symbol.to_owned(),
                bids: vec![Level {
                    price: Decimal::from(n),
                    qty: Decimal::ONE,
                }],
                asks: Vec::new(),
                ts_ms: i64::from(n),
            })
        }
        async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
            Ok(BTreeMap::new())
        }
        async fn place(&self, _: &OrderRequest) -> Result<OrderReport, ConnectorError> {
            Err(ConnectorError::Rejected("not here".into()))
        }
        async fn cancel(&self, _: &str, id: &str) -> Result<OrderReport, ConnectorError> {
            Err(ConnectorError::UnknownOrder(id.into()))
        }
        async fn order_status(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<OrderReport>, ConnectorError> {
            Ok(None)
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_until_it_is_stale() {
        let inner = Arc::new(Counting::default());
        let shared = SharedBooks::wrap(
            Arc::clone(&inner) as Arc<dyn Connector>,
            Duration::from_millis(300),
        );
        let books =
            futures::future::join_all((0..20).map(|_| shared.order_book("BTC-USDT", 20))).await;
        assert_eq!(
            inner.fetches.load(Ordering::SeqCst),
            1,
            "one request in flight"
        );
        assert!(books.iter().all(|b| b.as_ref().map(|b| b.ts_ms) == Ok(1)));
        // Another symbol or depth is another book.
        shared.order_book("ETH-USDT", 20).await.expect("book");
        shared.order_book("BTC-USDT", 5).await.expect("book");
        assert_eq!(inner.fetches.load(Ordering::SeqCst), 3);
        // Stale: fetched again.
        tokio::time::sleep(Duration::from_millis(350)).await;
        let book = shared.order_book("BTC-USDT", 20).await.expect("book");
        assert_eq!(book.ts_ms, 4);
    }

    #[tokio::test]
    async fn a_failure_answers_the_waiting_callers_instead_of_each_retrying() {
        let inner = Arc::new(Counting::default());
        inner.failing.store(true, Ordering::SeqCst);
        let shared = SharedBooks::wrap(
            Arc::clone(&inner) as Arc<dyn Connector>,
            Duration::from_millis(300),
        );
        let answers =
            futures::future::join_all((0..10).map(|_| shared.order_book("BTC-USDT", 20))).await;
        assert_eq!(inner.fetches.load(Ordering::SeqCst), 1);
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(ConnectorError::Unavailable(_))))
        );
        // Once it is stale the venue is asked again.
        inner.failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(shared.order_book("BTC-USDT", 20).await.is_ok());
        assert_eq!(inner.fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn zero_ttl_is_the_venue_itself() {
        let inner: Arc<dyn Connector> = Arc::new(Counting::default());
        let same = SharedBooks::wrap(Arc::clone(&inner), Duration::ZERO);
        assert!(Arc::ptr_eq(&inner, &same));
    }
}

//! `PaperExchange`: the paper venue as a `Connector`. Glues the pure state (`state.rs`,
//! `matching.rs`) to a price feed and a store, under one async lock so many strategies can
//! share a venue.
//!
//! Persistence discipline: every change is computed on a copy of the state, saved with one
//! atomic `PaperStore::save` (balances + sequence + the one order it touched), and only then
//! becomes the state. A failed save leaves memory as it was and returns `Unavailable`. While a
//! save is outstanding the state is marked in doubt: if the save errs (it may still have
//! committed) or the caller drops the future mid-save, the next call first reloads from the
//! store, which is the truth.

use super::feed::PriceFeed;
use super::state::VenueState;
use super::store::{PaperOrder, PaperSnapshot, PaperStore};
use crate::ports::DependencyError;
use crate::trading::connector::{Connector, ConnectorError};
use crate::trading::order::IllegalOrderTransition;
use crate::trading::types::{Fees, OrderBook, OrderReport, OrderRequest, split_symbol};
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone)]
pub struct PaperConfig {
    /// Venue name: the connector's name, the store key and the prefix of every id it mints.
    pub name: String,
    pub fees: Fees,
    /// Seeded only when the store has never seen this venue.
    pub initial_balances: BTreeMap<String, Decimal>,
    /// Levels per side the venue asks the feed for; it matches against those and `order_book`
    /// never returns more.
    pub depth: usize,
}

pub struct PaperExchange {
    config: PaperConfig,
    feed: Arc<dyn PriceFeed>,
    store: Arc<dyn PaperStore>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    inner: Mutex<Inner>,
}

struct Inner {
    state: VenueState,
    /// A save was started and not confirmed: reload from the store before trusting `state`.
    in_doubt: bool,
}

fn unavailable(e: DependencyError) -> ConnectorError {
    ConnectorError::Unavailable(format!("paper store: {e}"))
}

/// An illegal order transition is a bug in the venue, and retrying will not fix it.
fn bug(e: IllegalOrderTransition) -> ConnectorError {
    ConnectorError::Rejected(format!("paper venue refused its own update: {e}"))
}

fn unknown_symbol() -> ConnectorError {
    ConnectorError::Rejected("unknown symbol".into())
}

fn check_symbol(symbol: &str) -> Result<(), ConnectorError> {
    match split_symbol(symbol) {
        Some(_) => Ok(()),
        None => Err(ConnectorError::Rejected(format!(
            "invalid symbol {symbol:?}: expected BASE-QUOTE"
        ))),
    }
}

impl PaperExchange {
    /// Loads state from the store (or seeds initial_balances and saves them).
    pub async fn open(
        config: PaperConfig,
        feed: Arc<dyn PriceFeed>,
        store: Arc<dyn PaperStore>,
        clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Result<Self, ConnectorError> {
        let snapshot = match store.load(&config.name).await.map_err(unavailable)? {
            Some(snapshot) => snapshot,
            None => {
                store
                    .save(&config.name, &config.initial_balances, 0, None)
                    .await
                    .map_err(unavailable)?;
                PaperSnapshot {
                    balances: config.initial_balances.clone(),
                    ..PaperSnapshot::default()
                }
            }
        };
        let state = VenueState::new(config.name.clone(), config.fees, snapshot);
        Ok(Self {
            config,
            feed,
            store,
            clock,
            inner: Mutex::new(Inner {
                state,
                in_doubt: false,
            }),
        })
    }

    /// The state lock, with the state reloaded first if the last save is in doubt.
    async fn ready(&self) -> Result<MutexGuard<'_, Inner>, ConnectorError> {
        let mut inner = self.inner.lock().await;
        if inner.in_doubt {
            let snapshot = self
                .store
                .load(&self.config.name)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    ConnectorError::Unavailable(format!(
                        "paper store lost venue {}",
                        self.config.name
                    ))
                })?;
            inner.state.restore(snapshot);
            inner.in_doubt = false;
        }
        Ok(inner)
    }

    /// Applies `change` to a copy of the state and, if it touched an order, saves it; the copy
    /// becomes the state only once the store has it.
    async fn step<F>(
        &self,
        inner: &mut Inner,
        change: F,
    ) -> Result<Option<PaperOrder>, ConnectorError>
    where
        F: FnOnce(&mut VenueState) -> Result<Option<PaperOrder>, IllegalOrderTransition> + Send,
    {
        let mut next = inner.state.clone();
        let Some(order) = change(&mut next).map_err(bug)? else {
            return Ok(None);
        };
        inner.in_doubt = true;
        self.store
            .save(
                &self.config.name,
                &next.balances,
                next.last_seq,
                Some(&order),
            )
            .await
            .map_err(unavailable)?;
        inner.state = next;
        inner.in_doubt = false;
        Ok(Some(order))
    }

    /// Shows the venue the feed's current book for `symbol` and fills the resting orders it
    /// crosses, one saved step per order. `false` when the feed has no book for it; the feed's
    /// own error when it says why (a stale real-market feed: nothing is traded on it).
    async fn sync(
        &self,
        inner: &mut Inner,
        symbol: &str,
        now: i64,
    ) -> Result<bool, ConnectorError> {
        let Some(book) = self.feed.book(symbol, now, self.config.depth) else {
            return match self.feed.missing(symbol, now) {
                Some(e) => Err(e),
                None => Ok(false),
            };
        };
        inner.state.observe(symbol, book);
        for id in inner.state.matchable(symbol) {
            self.step(inner, |s| s.match_resting(&id, now)).await?;
        }
        Ok(true)
    }

    /// Brings a resting order up to date with its symbol's book.
    async fn sync_order(
        &self,
        inner: &mut Inner,
        client_order_id: &str,
        now: i64,
    ) -> Result<(), ConnectorError> {
        let symbol = inner
            .state
            .open_order(client_order_id)
            .map(|o| o.request.symbol.clone());
        if let Some(symbol) = symbol {
            self.sync(inner, &symbol, now).await?;
        }
        Ok(())
    }

    /// The order's report: resting ones from memory, finished ones from the store.
    async fn report_of(
        &self,
        inner: &Inner,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        if let Some(o) = inner.state.open_order(client_order_id) {
            return Ok(Some(o.report.clone()));
        }
        let stored = self
            .store
            .get_order(&self.config.name, client_order_id)
            .await
            .map_err(unavailable)?;
        Ok(stored.map(|o| o.report))
    }
}

#[async_trait]
impl Connector for PaperExchange {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn is_live(&self) -> bool {
        false
    }

    fn fees(&self) -> Fees {
        self.config.fees
    }

    /// What is left of the feed's book after our own fills, `min(depth, config.depth)` levels.
    async fn order_book(&self, symbol: &str, depth: usize) -> Result<OrderBook, ConnectorError> {
        check_symbol(symbol)?;
        let now = (self.clock)();
        let mut inner = self.ready().await?;
        if !self.sync(&mut inner, symbol, now).await? {
            return Err(unknown_symbol());
        }
        let mut book = inner
            .state
            .left_book(symbol)
            .cloned()
            .ok_or_else(unknown_symbol)?;
        book.bids.truncate(depth);
        book.asks.truncate(depth);
        Ok(book)
    }

    /// Free balances: totals minus what resting orders reserve.
    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        Ok(self.ready().await?.state.free_balances())
    }

    /// Invalid or unknown symbols and an empty id are `Err(Rejected)` (no order is created);
    /// a bad qty or price, or missing funds, give a `rejected` report (the order is recorded).
    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        let id = order.client_order_id.as_str();
        if id.is_empty() {
            return Err(ConnectorError::Rejected("empty client_order_id".into()));
        }
        let now = (self.clock)();
        let mut inner = self.ready().await?;
        self.sync_order(&mut inner, id, now).await?;
        if let Some(report) = self.report_of(&inner, id).await? {
            return Ok(report);
        }
        check_symbol(&order.symbol)?;
        if !self.sync(&mut inner, &order.symbol, now).await? {
            return Err(unknown_symbol());
        }
        let placed = self
            .step(&mut inner, |s| s.place(order, now).map(Some))
            .await?;
        placed
            .map(|o| o.report)
            .ok_or_else(|| ConnectorError::Unavailable("paper venue lost a placed order".into()))
    }

    /// Fills the book allowed before the cancel arrived are applied first, as at a real venue.
    async fn cancel(
        &self,
        _symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError> {
        let now = (self.clock)();
        let mut inner = self.ready().await?;
        self.sync_order(&mut inner, client_order_id, now).await?;
        if let Some(cancelled) = self.step(&mut inner, |s| s.cancel(client_order_id)).await? {
            return Ok(cancelled.report);
        }
        self.report_of(&inner, client_order_id)
            .await?
            .ok_or_else(|| ConnectorError::UnknownOrder(client_order_id.to_owned()))
    }

    async fn order_status(
        &self,
        _symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        let now = (self.clock)();
        let mut inner = self.ready().await?;
        self.sync_order(&mut inner, client_order_id, now).await?;
        self.report_of(&inner, client_order_id).await
    }
}

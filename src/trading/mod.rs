//! Trading on the database: the SQL implementations of the runtime's ports, the venues, and
//! the strategy queries the API reads.
//!
//! Layout:
//! - `store.rs`: `TradingStore` (strategies' state, transitions, orders, fills, positions).
//! - `paper_store.rs`: `PaperStore` (the paper exchange's balances and orders).
//! - `venues.rs`: the connectors strategies may name (paper venues, opened lazily).
//! - `binance.rs`: the `binance` connector, its mode and keys from the integration setting.
//! - `market_data.rs`: the real venues' public books for paper on real prices.
//! - `kraken_setup.rs`: the `kraken` connector's keys and mode from `default/kraken`.
//! - `nonce_store.rs`: `NonceStore` (Kraken's nonce reservation, kept across restarts).
//! - `strategies.rs`: strategy CRUD and history queries for the API.
//! - `pnl_history.rs`: cumulative realised PnL over time, replayed from the fills.
//! - `reconcile.rs`: real venues' balances against a baseline moved by our fills.

pub mod binance;
pub mod kraken_setup;
pub mod market_data;
pub mod nonce_store;
pub mod paper_store;
pub mod pnl_history;
pub mod reconcile;
pub mod rows;
pub mod shared_books;
pub mod store;
pub mod strategies;
pub mod venues;

use crate::config::TradingSettings;
use crate::crypto::Cipher;
use crate::db::DbHandle;
use actors::events::EventBus;
use actors::supervise::{ActorRef, Supervisor};
use actors::trading::runtime::{Clock, Deps, RuntimeConfig, TradingManager};
use std::sync::Arc;
use std::time::Duration;

/// How long the strategy engine gives one venue call before it counts as timed out (an
/// order's outcome unknown). Connectors keep their own waits under it.
pub const VENUE_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub use venues::Venues;

/// What the API needs of the running trading runtime.
#[derive(Clone)]
pub struct Trading {
    pub manager: ActorRef<TradingManager>,
    pub venues: Arc<Venues>,
    pub min_tick_interval_ms: u64,
    /// The Binance connector (also in `venues`), reloaded when its setting changes.
    pub binance: Option<Arc<binance::BinanceVenue>>,
    /// The Kraken connector (also in `venues`), re-read when its setting changes.
    pub kraken: Arc<crate::adapters::kraken::connector::KrakenConnector>,
    /// Real venues' balances against our fills (periodic, and on every balances read).
    pub reconciler: Arc<reconcile::Reconciler>,
}

/// Starts the trading manager under `supervisor` (it recovers running strategies itself),
/// and the market data poller when the paper venues trade on real prices.
pub fn start(
    supervisor: &mut Supervisor,
    settings: &TradingSettings,
    db: &DbHandle,
    cipher: Arc<Cipher>,
    events: EventBus,
    clock: Clock,
) -> anyhow::Result<Trading> {
    let real = market_data::real_feed(settings, supervisor.readiness(), &clock)?
        .map(|feed| feed as Arc<dyn actors::trading::paper::PriceFeed>);
    let mut venues =
        venues::paper_venues(settings, venues::sql_paper_store(db.clone()), &clock, real);
    let kraken = venues::kraken(settings, db, Arc::clone(&cipher))?;
    let book_ttl = Duration::from_millis(settings.book_cache_ms);
    venues.insert(
        crate::adapters::kraken::connector::NAME.to_owned(),
        shared_books::SharedBooks::wrap(
            Arc::clone(&kraken) as Arc<dyn actors::trading::connector::Connector>,
            book_ttl,
        ),
    );
    let binance = settings.binance.enabled.then(|| {
        let venue = Arc::new(binance::BinanceVenue::new(
            settings.binance.clone(),
            db.clone(),
            cipher,
            Arc::clone(&clock),
        ));
        venues.insert(
            crate::adapters::binance::VENUE.to_owned(),
            shared_books::SharedBooks::wrap(
                Arc::clone(&venue) as Arc<dyn actors::trading::connector::Connector>,
                book_ttl,
            ),
        );
        // Its mode is known once the database is: strategies resumed at start see it.
        let boot = Arc::clone(&venue);
        let db = db.clone();
        tokio::spawn(async move {
            if db.wait(Duration::from_secs(24 * 3600)).await.is_some() {
                boot.reload().await;
            }
        });
        venue
    });
    let reconciler = Arc::new(reconcile::Reconciler::new(
        db.clone(),
        venues.clone(),
        reconcile::ReconcileSettings {
            interval: Duration::from_secs(settings.reconcile_interval_secs),
            rel_tolerance: settings.reconcile_rel_tolerance,
            abs_tolerance: settings.reconcile_abs_tolerance,
        },
    ));
    Arc::clone(&reconciler).start();
    let deps = Arc::new(Deps {
        store: Arc::new(store::SqlTradingStore(db.clone())),
        venues: venues.clone(),
        events,
        config: RuntimeConfig {
            book_depth: settings.book_depth,
            max_consecutive_errors: settings.max_consecutive_errors,
            resume_on_restart: settings.resume_on_restart,
            venue_timeout: VENUE_CALL_TIMEOUT,
            max_restarts: 3,
            restart_window: Duration::from_secs(600),
        },
        clock,
    });
    let manager = supervisor.spawn("trading", move |child| {
        TradingManager::new(Arc::clone(&deps), child)
    });
    Ok(Trading {
        manager,
        venues: Arc::new(venues),
        min_tick_interval_ms: settings.min_tick_interval_ms,
        binance,
        kraken,
        reconciler,
    })
}

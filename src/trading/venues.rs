//! The venues strategies can name. Paper venues open lazily on first use, because the
//! database holding their balances may not be reachable yet when the service boots.

use crate::config::TradingSettings;
use crate::db::DbHandle;
use actors::trading::connector::{Connector, ConnectorError};
use actors::trading::paper::{PaperConfig, PaperExchange, PaperStore, PriceFeed, RandomWalkFeed};
use actors::trading::runtime::Clock;
use actors::trading::types::{Fees, OrderBook, OrderReport, OrderRequest};
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub type Venues = BTreeMap<String, Arc<dyn Connector>>;

/// A paper exchange opened on first use.
pub struct PaperVenue {
    config: PaperConfig,
    feed: Arc<dyn PriceFeed>,
    store: Arc<dyn PaperStore>,
    clock: Clock,
    cell: OnceCell<PaperExchange>,
}

impl PaperVenue {
    pub fn new(
        config: PaperConfig,
        feed: Arc<dyn PriceFeed>,
        store: Arc<dyn PaperStore>,
        clock: Clock,
    ) -> Self {
        Self {
            config,
            feed,
            store,
            clock,
            cell: OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&PaperExchange, ConnectorError> {
        self.cell
            .get_or_try_init(|| {
                PaperExchange::open(
                    self.config.clone(),
                    Arc::clone(&self.feed),
                    Arc::clone(&self.store),
                    Arc::clone(&self.clock),
                )
            })
            .await
    }
}

#[async_trait]
impl Connector for PaperVenue {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn is_live(&self) -> bool {
        false
    }

    fn fees(&self) -> Fees {
        self.config.fees
    }

    async fn order_book(&self, symbol: &str, depth: usize) -> Result<OrderBook, ConnectorError> {
        self.get().await?.order_book(symbol, depth).await
    }

    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        self.get().await?.balances().await
    }

    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        self.get().await?.place(order).await
    }

    async fn cancel(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError> {
        self.get().await?.cancel(symbol, client_order_id).await
    }

    async fn order_status(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        self.get()
            .await?
            .order_status(symbol, client_order_id)
            .await
    }
}

/// Paper venues from `[trading.paper]`: on `real` books when given (all venues share them),
/// otherwise each on its own random walk (seed + index).
pub fn paper_venues(
    settings: &TradingSettings,
    store: Arc<dyn PaperStore>,
    clock: &Clock,
    real: Option<Arc<dyn PriceFeed>>,
) -> Venues {
    let p = &settings.paper;
    // Environment keys arrive lower-cased (`…__INITIAL_BALANCES__USDT` → `usdt`).
    let balances: BTreeMap<String, Decimal> = p
        .initial_balances
        .iter()
        .map(|(k, v)| (k.to_uppercase(), *v))
        .collect();
    let mut venues = Venues::new();
    for (i, name) in p.venues.iter().enumerate() {
        let feed: Arc<dyn PriceFeed> = match &real {
            Some(real) => Arc::clone(real),
            None => Arc::new(RandomWalkFeed::new(
                p.seed.wrapping_add(i as u64),
                p.step_ms,
                p.start_price,
                p.vol_bps,
                p.spread_bps,
                p.level_qty,
            )),
        };
        let venue = PaperVenue::new(
            PaperConfig {
                name: name.clone(),
                fees: Fees {
                    maker: p.maker_fee,
                    taker: p.taker_fee,
                },
                initial_balances: balances.clone(),
                depth: settings.book_depth,
            },
            feed,
            Arc::clone(&store),
            Arc::clone(clock),
        );
        venues.insert(name.clone(), Arc::new(venue));
    }
    venues
}

/// Used by `paper_venues` callers that hold a database handle.
pub fn sql_paper_store(db: DbHandle) -> Arc<dyn PaperStore> {
    Arc::new(super::paper_store::SqlPaperStore(db))
}

/// The `kraken` connector (keys and mode from the integration setting `default/kraken`). It
/// reads the setting once at boot so `is_live` is right from the start.
pub fn kraken(
    settings: &TradingSettings,
    db: &DbHandle,
    cipher: Arc<crate::crypto::Cipher>,
) -> anyhow::Result<Arc<crate::adapters::kraken::connector::KrakenConnector>> {
    use crate::adapters::kraken::connector::{KrakenConfig, KrakenConnector};
    let k = &settings.kraken;
    let connector = Arc::new(KrakenConnector::new(
        KrakenConfig {
            base_url: k.base_url.clone(),
            fees: Fees {
                maker: k.maker_fee,
                taker: k.taker_fee,
            },
            rate_limit_pause: std::time::Duration::from_millis(k.rate_limit_pause_ms),
            request_timeout: std::time::Duration::from_millis(k.request_timeout_ms.max(1)),
            unknown_order_window: std::time::Duration::from_secs(k.unknown_order_window_secs),
        },
        Arc::new(super::kraken_setup::SqlKrakenSetup {
            db: db.clone(),
            cipher,
        }),
        Arc::new(super::nonce_store::SqlNonceStore(db.clone())),
    )?);
    let boot = Arc::clone(&connector);
    actix_web::rt::spawn(async move { boot.refresh_mode().await });
    Ok(connector)
}

//! The `binance` connector: Binance Spot with its mode and keys from the integration setting
//! `default/binance` (`sandbox` = the Spot testnet, `live` = real money). The setting is read
//! at start and again whenever the settings API changes it (`reload`), so switching to live
//! or changing keys needs no restart. Symbol rules are cached (`[trading.binance]
//! rules_refresh_secs`).

use crate::adapters::binance::limits::Limits;
use crate::adapters::binance::{
    API_KEY_SECRET, API_SECRET_SECRET, BinanceClient, ClientConfig, Credentials, ENVIRONMENT,
    PROVIDER, VENUE,
};
use crate::config::BinanceSettings;
use crate::crypto::Cipher;
use crate::db::{DbHandle, integrations};
use actors::trading::connector::{AssetBalance, Connector, ConnectorError};
use actors::trading::rules::SymbolRules;
use actors::trading::rules_cache::RulesCache;
use actors::trading::runtime::Clock;
use actors::trading::types::{Fees, OrderBook, OrderReport, OrderRequest};
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const UNLOADED: u8 = 0;
const UNCONFIGURED: u8 = 1;
const SANDBOX: u8 = 2;
const LIVE: u8 = 3;

pub struct BinanceVenue {
    settings: BinanceSettings,
    db: DbHandle,
    cipher: Arc<Cipher>,
    clock: Clock,
    /// Shared by every client this venue builds: a 429 pause or 418 ban outlives a reload.
    limits: Arc<Mutex<Limits>>,
    rules: RulesCache,
    mode: AtomicU8,
    client: tokio::sync::RwLock<Result<Arc<BinanceClient>, String>>,
}

impl BinanceVenue {
    pub fn new(settings: BinanceSettings, db: DbHandle, cipher: Arc<Cipher>, clock: Clock) -> Self {
        let refresh_ms =
            i64::try_from(settings.rules_refresh_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self {
            settings,
            db,
            cipher,
            clock,
            limits: Arc::default(),
            rules: RulesCache::new(refresh_ms),
            mode: AtomicU8::new(UNLOADED),
            client: tokio::sync::RwLock::new(Err("binance settings not loaded yet".to_owned())),
        }
    }

    /// Reads the integration setting again and builds a client for its mode and keys.
    #[tracing::instrument(skip_all)]
    pub async fn reload(&self) {
        let mut slot = self.client.write().await;
        let (mode, client) = match self.load().await {
            Ok(Some((live, creds))) => {
                let base = if live {
                    &self.settings.live_url
                } else {
                    &self.settings.testnet_url
                };
                let config = ClientConfig {
                    base_url: base.clone(),
                    recv_window_ms: self.settings.recv_window_ms,
                    request_timeout: Duration::from_millis(self.settings.request_timeout_ms),
                    slowdown_at: self
                        .settings
                        .weight_limit
                        .saturating_mul(self.settings.weight_slowdown_percent)
                        / 100,
                    max_weight_wait: Duration::from_millis(self.settings.weight_wait_max_ms),
                };
                let client = BinanceClient::new(config, creds, Arc::clone(&self.limits))
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                (if live { LIVE } else { SANDBOX }, client)
            }
            Ok(None) => (
                UNCONFIGURED,
                Err(format!(
                    "binance is not configured: PUT /v1/settings/integrations/{ENVIRONMENT}/{PROVIDER}"
                )),
            ),
            Err(e) => (UNLOADED, Err(format!("binance settings unreadable: {e}"))),
        };
        tracing::info!(mode = mode_name(mode), "binance connector (re)loaded");
        *slot = client;
        self.mode.store(mode, Ordering::SeqCst);
        // Other keys or another environment may mean other rules.
        self.rules.clear().await;
    }

    /// `Some((live, keys))` when the setting exists; keys are `None` until both are set.
    async fn load(&self) -> anyhow::Result<Option<(bool, Option<Credentials>)>> {
        let db = self
            .db
            .get()
            .ok_or_else(|| anyhow::anyhow!("database not connected"))?;
        let Some((setting, _)) = integrations::get(&db, ENVIRONMENT, PROVIDER).await? else {
            return Ok(None);
        };
        let key = integrations::secret(&db, &self.cipher, ENVIRONMENT, PROVIDER, API_KEY_SECRET);
        let secret =
            integrations::secret(&db, &self.cipher, ENVIRONMENT, PROVIDER, API_SECRET_SECRET);
        let creds = match (key.await?, secret.await?) {
            (Some(api_key), Some(api_secret)) => Some(Credentials {
                api_key,
                api_secret,
            }),
            _ => None,
        };
        Ok(Some((setting.mode == "live", creds)))
    }

    async fn client(&self) -> Result<Arc<BinanceClient>, ConnectorError> {
        if self.mode.load(Ordering::SeqCst) == UNLOADED {
            self.reload().await;
        }
        self.client
            .read()
            .await
            .clone()
            .map_err(ConnectorError::Unavailable)
    }
}

fn mode_name(mode: u8) -> &'static str {
    match mode {
        LIVE => "live",
        SANDBOX => "sandbox",
        UNCONFIGURED => "unconfigured",
        _ => "unloaded",
    }
}

#[async_trait]
impl Connector for BinanceVenue {
    fn name(&self) -> &str {
        VENUE
    }

    fn is_live(&self) -> bool {
        self.mode.load(Ordering::SeqCst) == LIVE
    }

    fn mode(&self) -> &'static str {
        mode_name(self.mode.load(Ordering::SeqCst))
    }

    fn fees(&self) -> Fees {
        Fees {
            maker: self.settings.maker_fee,
            taker: self.settings.taker_fee,
        }
    }

    async fn symbol_rules(&self, symbol: &str) -> Result<SymbolRules, ConnectorError> {
        let client = self.client().await?;
        self.rules
            .get(symbol, (self.clock)(), || client.symbol_rules(symbol))
            .await
    }

    async fn order_book(&self, symbol: &str, depth: usize) -> Result<OrderBook, ConnectorError> {
        self.client().await?.order_book(symbol, depth).await
    }

    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        self.client().await?.balances().await
    }

    async fn balance_sheet(&self) -> Result<BTreeMap<String, AssetBalance>, ConnectorError> {
        self.client().await?.balance_sheet().await
    }

    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        self.client().await?.place(order).await
    }

    async fn cancel(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError> {
        self.client().await?.cancel(symbol, client_order_id).await
    }

    async fn order_status(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        self.client()
            .await?
            .order_status(symbol, client_order_id)
            .await
    }
}

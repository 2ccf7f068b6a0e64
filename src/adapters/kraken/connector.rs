//! The `kraken` connector: Kraken Spot behind the `Connector` port.
//!
//! Keys and mode come from the integration setting `default/kraken` (secrets `api_key`,
//! `api_secret`), read through `KrakenSetup` and re-read every `SETUP_TTL`, so a key change or
//! a switch to live applies without a restart.
//!
//! Sandbox mode sends every order with `validate=true`: Kraken checks it (pair, minimums,
//! funds, signature) and places nothing. The order is then reported `expired` with the reason
//! `sandbox: validated by Kraken, not placed`, so a strategy sees a refusal as a rejection and
//! an accepted order as one that never filled: its position does not move, and it simply asks
//! again on a later tick (within its risk limits).
//!
//! Our client order ids (`ais-…`) become Kraken `cl_ord_id`s (a UUID derived from them), so
//! an order is found again by client id after a timeout or a restart. A timeout or 5xx on
//! `AddOrder` is answered by asking Kraken for that `cl_ord_id` at once: found, its report;
//! not found, `Unavailable` (the order stays `pending_submit`, the next tick asks again).
//! Until `unknown_order_window` has passed since it was sent, "not found" is reported as a
//! report still in `pending_submit` (Kraken can show an order a moment late), so the engine
//! keeps asking and never sends it again; only after the window does "not found" mean "never
//! placed".

use super::KrakenPairs;
use super::errors::KrakenError;
use super::nonce::{NonceStore, Nonces, system_micros};
use super::pairs::normalize_balance_asset;
use super::private::{KrakenClient, NewOrder, OrderInfo, cl_ord_id};
use super::public;
use actors::trading::connector::{AssetBalance, Connector, ConnectorError};
use actors::trading::order::OrderStatus;
use actors::trading::rules::SymbolRules;
use actors::trading::types::{
    Fees, FillReport, Liquidity, OrderBook, OrderKind, OrderReport, OrderRequest, split_symbol,
};
use async_trait::async_trait;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const NAME: &str = "kraken";
pub const ENVIRONMENT: &str = "default";
pub const PROVIDER: &str = "kraken";

/// How long a read of the integration setting is trusted.
const SETUP_TTL: Duration = Duration::from_secs(10);
/// `AssetPairs` changes rarely (listings); an hour keeps rules fresh enough.
const PAIRS_TTL: Duration = Duration::from_secs(3600);
const UNLOADED: u8 = 0;
const UNCONFIGURED: u8 = 1;
const SANDBOX: u8 = 2;
const LIVE: u8 = 3;
const SANDBOX_REASON: &str = "sandbox: validated by Kraken (validate=true), not placed";

/// Keys and mode, from wherever the service keeps them.
pub struct KrakenAccess {
    pub live: bool,
    pub api_key: SecretString,
    pub api_secret: SecretString,
}

#[async_trait]
pub trait KrakenSetup: Send + Sync + 'static {
    /// `Ok(None)`: not configured.
    async fn load(&self) -> Result<Option<KrakenAccess>, String>;
}

#[derive(Debug, Clone)]
pub struct KrakenConfig {
    pub base_url: String,
    pub fees: Fees,
    /// How long every call is held back after a rate-limit answer.
    pub rate_limit_pause: Duration,
    pub request_timeout: Duration,
    /// How long an order whose `AddOrder` outcome is unknown is looked for before "not found"
    /// is believed: Kraken can show an order a moment after it answered (or failed to).
    pub unknown_order_window: Duration,
}

struct Session {
    client: Arc<KrakenClient>,
    sandbox: bool,
    fingerprint: [u8; 32],
    loaded: Instant,
}

pub struct KrakenConnector {
    config: KrakenConfig,
    http: reqwest::Client,
    setup: Arc<dyn KrakenSetup>,
    nonce_store: Arc<dyn NonceStore>,
    /// `UNLOADED`, `SANDBOX` or `LIVE` (the setting as last read), `UNCONFIGURED` without one.
    mode: AtomicU8,
    session: Mutex<Option<Session>>,
    pairs: Mutex<Option<(Arc<KrakenPairs>, Instant)>>,
    /// Sandbox orders (validated, never placed) by our client order id, for `order_status`.
    validated: std::sync::Mutex<HashMap<String, OrderReport>>,
    /// Orders whose `AddOrder` was sent without a definite answer (a timeout, a 5xx, or the
    /// caller gave up waiting), by our client order id, with when it was sent. Within
    /// `unknown_order_window` "not found" is reported as still pending, never as "never
    /// placed" (which would let the engine give the order up while Kraken may yet show it).
    in_flight: std::sync::Mutex<HashMap<String, Instant>>,
    /// Orders this process was asked to place and knows it did not (refused before sending,
    /// a pause, a rate limit) while the engine still holds them `pending_submit`: "not found"
    /// means "never placed" at once for them, whatever their id's age.
    not_sent: std::sync::Mutex<HashSet<String>>,
}

fn unavailable(e: KrakenError) -> ConnectorError {
    match e {
        KrakenError::Rejected(m) => ConnectorError::Rejected(m),
        // Nothing was sent (or the venue refused it before acting): the engine skips the
        // tick without counting it towards faulting, as for Binance's 429. As `Unavailable`
        // a 15 s pause faulted every strategy on Kraken after 5 ticks (found by
        // `kraken_venue::a_kraken_rate_limit_pauses_many_strategies_and_faults_none`).
        e @ KrakenError::RateLimited(_) => ConnectorError::Paused(e.to_string()),
        other => ConnectorError::Unavailable(other.to_string()),
    }
}

impl KrakenConnector {
    pub fn new(
        config: KrakenConfig,
        setup: Arc<dyn KrakenSetup>,
        nonce_store: Arc<dyn NonceStore>,
    ) -> Result<Self, reqwest::Error> {
        let http = crate::adapters::http_client::builder()
            .timeout(config.request_timeout)
            .user_agent(concat!("ai-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            config,
            http,
            setup,
            nonce_store,
            mode: AtomicU8::new(UNLOADED),
            session: Mutex::new(None),
            pairs: Mutex::new(None),
            validated: std::sync::Mutex::new(HashMap::new()),
            in_flight: std::sync::Mutex::new(HashMap::new()),
            not_sent: std::sync::Mutex::new(HashSet::new()),
        })
    }

    /// The signed client for the current setting (re-read after `SETUP_TTL`; the client and
    /// its pause survive a re-read that changed nothing).
    async fn session(&self) -> Result<(Arc<KrakenClient>, bool), ConnectorError> {
        let mut cached = self.session.lock().await;
        if let Some(s) = cached.as_ref()
            && s.loaded.elapsed() < SETUP_TTL
        {
            return Ok((Arc::clone(&s.client), s.sandbox));
        }
        let access = self
            .setup
            .load()
            .await
            .map_err(|e| ConnectorError::Unavailable(format!("kraken settings: {e}")))?;
        let Some(access) = access else {
            self.mode.store(UNCONFIGURED, Ordering::SeqCst);
            *cached = None;
            return Err(ConnectorError::Unavailable(format!(
                "no Kraken keys: PUT /v1/settings/integrations/{ENVIRONMENT}/{PROVIDER} with secrets `api_key` and `api_secret`"
            )));
        };
        self.mode
            .store(if access.live { LIVE } else { SANDBOX }, Ordering::SeqCst);
        let mut h = sha2::Sha256::new();
        h.update(access.api_key.expose_secret().as_bytes());
        h.update([0]);
        h.update(access.api_secret.expose_secret().as_bytes());
        h.update([u8::from(access.live)]);
        let fingerprint: [u8; 32] = h.finalize().into();
        if let Some(s) = cached.as_mut()
            && s.fingerprint == fingerprint
        {
            s.loaded = Instant::now();
            return Ok((Arc::clone(&s.client), s.sandbox));
        }
        // The nonce belongs to the API key: one sequence per key, named by its hash.
        let key_id = hex8(&sha2::Sha256::digest(
            access.api_key.expose_secret().as_bytes(),
        ));
        let nonces = Nonces::new(
            Arc::clone(&self.nonce_store),
            &format!("kraken:{key_id}"),
            system_micros(),
        );
        let client = Arc::new(
            KrakenClient::new(
                self.http.clone(),
                &self.config.base_url,
                access.api_key,
                access.api_secret,
                nonces,
                self.config.rate_limit_pause,
            )
            .map_err(unavailable)?,
        );
        let sandbox = !access.live;
        *cached = Some(Session {
            client: Arc::clone(&client),
            sandbox,
            fingerprint,
            loaded: Instant::now(),
        });
        Ok((client, sandbox))
    }

    /// Reads the setting again now (its `PUT` calls this), so `mode`/`is_live` follow it at
    /// once. The client (and a rate-limit pause in it) is kept when keys and mode are unchanged.
    pub async fn reload(&self) {
        {
            let mut cached = self.session.lock().await;
            match (cached.as_mut(), Instant::now().checked_sub(SETUP_TTL)) {
                (Some(s), Some(stale)) => s.loaded = stale,
                // Within `SETUP_TTL` of the machine's boot: start over.
                (Some(_), None) => *cached = None,
                (None, _) => {}
            }
        }
        self.refresh_mode().await;
    }

    /// Reads the setting once now (at boot), so `is_live` is right before the first order.
    pub async fn refresh_mode(&self) {
        if let Err(e) = self.session().await {
            tracing::info!(error = %e, "kraken connector not configured yet");
        }
    }

    async fn pairs(&self) -> Result<Arc<KrakenPairs>, ConnectorError> {
        let mut cached = self.pairs.lock().await;
        if let Some((pairs, at)) = cached.as_ref()
            && at.elapsed() < PAIRS_TTL
        {
            return Ok(Arc::clone(pairs));
        }
        match public::asset_pairs(&self.http, &self.config.base_url).await {
            Ok(pairs) => {
                let pairs = Arc::new(pairs);
                *cached = Some((Arc::clone(&pairs), Instant::now()));
                Ok(pairs)
            }
            Err(e) => match cached.as_ref() {
                Some((pairs, _)) => Ok(Arc::clone(pairs)),
                None => Err(ConnectorError::Unavailable(format!("AssetPairs: {e}"))),
            },
        }
    }

    async fn altname(&self, symbol: &str) -> Result<String, ConnectorError> {
        let pairs = self.pairs().await?;
        pairs
            .get(symbol)
            .map(|p| p.altname.clone())
            .ok_or_else(|| ConnectorError::Rejected(format!("kraken does not list {symbol}")))
    }

    /// Our report for a Kraken order, with its fills from `TradesHistory` when it has any.
    async fn report(
        &self,
        client: &KrakenClient,
        symbol: &str,
        client_order_id: &str,
        txid: String,
        info: OrderInfo,
    ) -> Result<OrderReport, ConnectorError> {
        let status = match info.status.as_str() {
            "pending" => OrderStatus::Open,
            "open" if info.vol_exec > Decimal::ZERO => OrderStatus::PartiallyFilled,
            "open" => OrderStatus::Open,
            "closed" if info.vol_exec >= info.vol => OrderStatus::Filled,
            "closed" => OrderStatus::Expired,
            "canceled" => OrderStatus::Cancelled,
            "expired" => OrderStatus::Expired,
            other => {
                return Err(ConnectorError::Unavailable(format!(
                    "kraken order {txid} has an unknown status `{other}`"
                )));
            }
        };
        let mut fills = Vec::new();
        if info.vol_exec > Decimal::ZERO {
            // A second before the order opened: Kraken's `start` is exclusive.
            let start = info
                .opentm
                .and_then(|t| t.trunc().to_i64())
                .map_or(0, |t| t - 1);
            let trades = client.trades_since(start).await.map_err(unavailable)?;
            // TradesHistory's `fee` is "total fee (quote currency)": we never ask for fees in
            // the base asset (`oflags=fcib`), so it is the quote asset's amount as it is.
            let quote = split_symbol(symbol).map_or("", |(_, q)| q);
            for (trade_id, t) in trades {
                if t.ordertxid != txid {
                    continue;
                }
                fills.push(FillReport {
                    trade_id,
                    client_order_id: client_order_id.to_owned(),
                    qty: t.vol.normalize(),
                    price: t.price.normalize(),
                    fee: t.fee.normalize(),
                    fee_amount: t.fee.normalize(),
                    fee_asset: quote.to_owned(),
                    fee_valued: true,
                    liquidity: if t.maker == Some(true) {
                        Liquidity::Maker
                    } else {
                        Liquidity::Taker
                    },
                    ts_ms: (t.time * Decimal::from(1000)).trunc().to_i64().unwrap_or(0),
                });
            }
            fills.sort_by_key(|f| f.ts_ms);
        }
        Ok(OrderReport {
            client_order_id: client_order_id.to_owned(),
            venue_order_id: txid,
            status,
            filled_qty: info.vol_exec.normalize(),
            fills,
            reason: info.reason.filter(|r| !r.is_empty()),
        })
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn not_sent(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.not_sent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// "Not found" for an order that may have been sent with an unknown outcome: still
    /// pending (a report in `pending_submit`) within the window, `None` ("never placed")
    /// after it.
    ///
    /// The window runs from when `place` sent it, or, for an order this process never sent
    /// (a restart in between: `in_flight` is memory), from the creation time written in its
    /// client order id (`ais-<ms hex>-…`, committed on the order row before the call). Without
    /// that second source, a restart inside the window took an order Kraken had not shown yet
    /// as never placed, and the strategy could place its twin while the first one filled.
    fn not_found(&self, client_order_id: &str) -> Option<OrderReport> {
        let window = self.config.unknown_order_window;
        let sent = self.in_flight().get(client_order_id).copied();
        let within = match sent {
            Some(sent) => sent.elapsed() < window,
            None if self.not_sent().remove(client_order_id) => false,
            None => created_ms(client_order_id).is_some_and(|created| {
                let age = chrono::Utc::now()
                    .timestamp_millis()
                    .saturating_sub(created);
                // A clock a little behind the id's (negative age) counts as young: the safe
                // side. An id far in the future or past is outside the window.
                u128::from(age.unsigned_abs()) < window.as_millis()
            }),
        };
        if !within {
            if sent.is_some() {
                self.in_flight().remove(client_order_id);
                tracing::warn!(
                    client_order_id,
                    window_s = window.as_secs(),
                    "kraken never showed an order whose AddOrder outcome was unknown; concluding it was not placed"
                );
            }
            return None;
        }
        Some(OrderReport {
            client_order_id: client_order_id.to_owned(),
            venue_order_id: String::new(),
            status: OrderStatus::PendingSubmit,
            filled_qty: Decimal::ZERO,
            fills: vec![],
            reason: Some(format!(
                "not at kraken yet; AddOrder's outcome is unknown, asking again for up to {} s",
                window.as_secs()
            )),
        })
    }

    fn sandbox_report(&self, client_order_id: &str) -> Option<OrderReport> {
        self.validated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(client_order_id)
            .cloned()
    }
}

/// The creation time (Unix ms) the engine writes into its client order ids:
/// `ais-<ms hex>-<random hex>-<seq>`. `None` for any other shape.
fn created_ms(client_order_id: &str) -> Option<i64> {
    let mut parts = client_order_id.split('-');
    if parts.next()? != "ais" {
        return None;
    }
    let ms = i64::from_str_radix(parts.next()?, 16).ok()?;
    // Both the random part and the sequence follow: anything shorter is not ours.
    parts.next()?;
    parts.next()?;
    Some(ms)
}

fn hex8(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl Connector for KrakenConnector {
    fn name(&self) -> &str {
        NAME
    }

    /// Live once the integration setting says `live` (read at boot and every few seconds).
    fn is_live(&self) -> bool {
        self.mode.load(Ordering::SeqCst) == LIVE
    }

    fn mode(&self) -> &'static str {
        match self.mode.load(Ordering::SeqCst) {
            LIVE => "live",
            SANDBOX => "sandbox",
            UNCONFIGURED => "unconfigured",
            _ => "unloaded",
        }
    }

    /// From `AssetPairs`: `tick_size`, `10^-lot_decimals` steps, `ordermin` and `costmin`.
    /// Kraken lists no maximum; a pair not `online` (`cancel_only`, `delisted`, …) is not
    /// traded.
    async fn symbol_rules(&self, symbol: &str) -> Result<SymbolRules, ConnectorError> {
        let pairs = self.pairs().await?;
        let pair = pairs
            .get(symbol)
            .ok_or_else(|| ConnectorError::Rejected(format!("kraken does not list {symbol}")))?;
        Ok(SymbolRules {
            symbol: symbol.to_owned(),
            tick_size: pair.tick_size.unwrap_or(Decimal::ZERO),
            step_size: pair
                .lot_decimals
                .map_or(Decimal::ZERO, |dp| Decimal::new(1, dp)),
            min_qty: pair.ordermin.unwrap_or(Decimal::ZERO),
            max_qty: Decimal::ZERO,
            min_notional: pair.costmin.unwrap_or(Decimal::ZERO),
            trading: pair.status.as_deref().is_none_or(|st| st == "online"),
        })
    }

    fn fees(&self) -> Fees {
        self.config.fees
    }

    async fn order_book(&self, symbol: &str, depth: usize) -> Result<OrderBook, ConnectorError> {
        let altname = self.altname(symbol).await?;
        public::depth(&self.http, &self.config.base_url, &altname, symbol, depth)
            .await
            .map_err(unavailable)
    }

    /// Free spot balances (see `balance_sheet`).
    async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        Ok(self
            .balance_sheet()
            .await?
            .into_iter()
            .map(|(asset, b)| (asset, b.free))
            .collect())
    }

    /// `BalanceEx` by our asset names (`XXBT` → `BTC`): free = `balance` − `hold_trade`,
    /// locked = `hold_trade`. Staked/earn variants (`XBT.F`) are left out: they cannot be
    /// traded.
    async fn balance_sheet(&self) -> Result<BTreeMap<String, AssetBalance>, ConnectorError> {
        let (client, _) = self.session().await?;
        let raw = client.balance_ex().await.map_err(unavailable)?;
        let mut out: BTreeMap<String, AssetBalance> = BTreeMap::new();
        for (code, b) in raw {
            if code.contains('.') {
                continue;
            }
            let entry = out.entry(normalize_balance_asset(&code)).or_default();
            let hold = b.hold_trade.min(b.balance).max(Decimal::ZERO);
            entry.free += (b.balance - hold).normalize();
            entry.locked += hold.normalize();
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(venue = NAME, client_order_id = %order.client_order_id))]
    async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        // Until `AddOrder` is sent, this process knows the order is not at Kraken.
        self.not_sent().insert(order.client_order_id.clone());
        let res = self.place_once(order).await;
        if matches!(res, Ok(_) | Err(ConnectorError::Rejected(_))) {
            // Settled: the engine will not ask "was it placed?" about it.
            self.not_sent().remove(&order.client_order_id);
        }
        res
    }

    async fn cancel(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError> {
        self.cancel_order(symbol, client_order_id).await
    }

    async fn order_status(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        self.status_of(symbol, client_order_id).await
    }
}

impl KrakenConnector {
    async fn place_once(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        if let Some(report) = self.sandbox_report(&order.client_order_id) {
            return Ok(report);
        }
        let altname = self.altname(&order.symbol).await?;
        let (client, sandbox) = self.session().await?;
        let cl = cl_ord_id(&order.client_order_id);
        let (ordertype, price) = match order.kind {
            OrderKind::Market => ("market", None),
            OrderKind::Limit { price } => ("limit", Some(price)),
        };
        let new = NewOrder {
            pair: &altname,
            side: order.side.as_str(),
            ordertype,
            volume: order.qty,
            price,
            cl_ord_id: &cl,
            validate: sandbox,
        };
        if !sandbox {
            // Before sending: should this future be dropped mid-call (the engine's own
            // timeout), the order is still known to be possibly placed.
            self.not_sent().remove(&order.client_order_id);
            self.in_flight()
                .insert(order.client_order_id.clone(), Instant::now());
        }
        let res = client.add_order(&new).await;
        match &res {
            Err(KrakenError::UnknownOutcome(_)) => {}
            // A definite answer: placed (found from now on) or refused.
            Ok(_) | Err(KrakenError::Rejected(_)) => {
                self.in_flight().remove(&order.client_order_id);
            }
            // Not placed (a rate limit, a pause, bad keys), and still `pending_submit` for
            // the engine, which will ask.
            Err(_) => {
                self.in_flight().remove(&order.client_order_id);
                self.not_sent().insert(order.client_order_id.clone());
            }
        }
        match res {
            Ok(_) if sandbox => {
                let report = OrderReport {
                    client_order_id: order.client_order_id.clone(),
                    venue_order_id: format!("validated:{cl}"),
                    status: OrderStatus::Expired,
                    filled_qty: Decimal::ZERO,
                    fills: vec![],
                    reason: Some(SANDBOX_REASON.to_owned()),
                };
                self.validated
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(order.client_order_id.clone(), report.clone());
                Ok(report)
            }
            Ok(placed) => Ok(OrderReport {
                client_order_id: order.client_order_id.clone(),
                venue_order_id: placed.txid.first().cloned().unwrap_or_default(),
                status: OrderStatus::Open,
                filled_qty: Decimal::ZERO,
                fills: vec![],
                reason: None,
            }),
            Err(KrakenError::UnknownOutcome(why)) if !sandbox => {
                // It may have been placed: ask by client id before anything else.
                tracing::warn!(%why, "kraken AddOrder outcome unknown; asking by cl_ord_id");
                match client.order_by_cl_ord_id(&cl).await {
                    Ok(Some((txid, info))) => {
                        self.in_flight().remove(&order.client_order_id);
                        self.report(&client, &order.symbol, &order.client_order_id, txid, info)
                            .await
                    }
                    // Still unknown: the order stays `pending_submit` and is looked for again
                    // (within `unknown_order_window`), never sent again.
                    Ok(None) | Err(_) => Err(ConnectorError::Unavailable(format!(
                        "kraken AddOrder outcome unknown: {why}"
                    ))),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn cancel_order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError> {
        if let Some(report) = self.sandbox_report(client_order_id) {
            return Ok(report);
        }
        let (client, _) = self.session().await?;
        let cl = cl_ord_id(client_order_id);
        match client.cancel_by_cl_ord_id(&cl).await {
            Ok(_) => {}
            // Unknown to Kraken, or already closed: its status below says which.
            Err(KrakenError::Rejected(m)) if m.contains("Unknown order") => {}
            Err(e) => return Err(unavailable(e)),
        }
        self.status_of(symbol, client_order_id)
            .await?
            .ok_or_else(|| ConnectorError::UnknownOrder(client_order_id.to_owned()))
    }

    /// Kraken finds orders by `cl_ord_id` alone; `symbol` names the fees' quote asset.
    async fn status_of(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        if let Some(report) = self.sandbox_report(client_order_id) {
            return Ok(Some(report));
        }
        let (client, _) = self.session().await?;
        match client
            .order_by_cl_ord_id(&cl_ord_id(client_order_id))
            .await
            .map_err(unavailable)?
        {
            None => Ok(self.not_found(client_order_id)),
            Some((txid, info)) => {
                self.in_flight().remove(client_order_id);
                self.not_sent().remove(client_order_id);
                Ok(Some(
                    self.report(&client, symbol, client_order_id, txid, info)
                        .await?,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::created_ms;

    #[test]
    fn the_creation_time_is_read_from_our_client_order_ids() {
        assert_eq!(
            created_ms("ais-19ad3f2c1b0-1a2b3c4d-12"),
            Some(0x19ad3f2c1b0)
        );
        assert_eq!(created_ms("ais-1-aa-1"), Some(1));
        assert_eq!(created_ms("ais-late-1"), None);
        assert_eq!(created_ms("ais-19ad3f2c1b0"), None);
        assert_eq!(created_ms("xyz-19ad3f2c1b0-1a2b3c4d-12"), None);
    }
}

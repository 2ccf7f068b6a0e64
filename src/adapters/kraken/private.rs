//! Kraken's signed REST calls: `POST /0/private/<Method>` with a form body carrying `nonce`,
//! headers `API-Key` and `API-Sign` (`sign.rs`). What this client does about Kraken's errors
//! (`errors.rs`):
//! - `EAPI:Invalid nonce`: one retry with a fresh nonce (another process or a clock step may
//!   have used a higher one), then the error;
//! - rate limits and `EGeneral:Temporary lockout`: every call to the venue is refused for
//!   `pause` without being sent (Kraken's counters only decay while we are quiet);
//! - everything else is returned classified; the caller decides (an `UnknownOutcome` on
//!   `AddOrder` means: ask by client id before anything else).
//!
//! Private calls take turns: a call holds `turn` from taking its nonce until its answer is
//! read. Kraken checks each nonce against the highest it has *received*, so two calls in
//! flight at once can arrive in the other order and the smaller one is refused
//! (`EAPI:Invalid nonce`, seen with the strategy tick, reconciliation and the balances endpoint
//! calling together). One key's calls are few (a handful per tick), so queueing them costs
//! little; a refused order costs a retry or, twice in a row, the order.

use super::errors::KrakenError;
use super::nonce::Nonces;
use super::public::{self, VENUE};
use super::sign::api_sign;
use crate::adapters::venue_metrics::ORDER_LATENCY_SECONDS;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct KrakenClient {
    client: reqwest::Client,
    base_url: String,
    api_key: SecretString,
    /// Base64, as Kraken issued it; decoded for each signature.
    secret: SecretString,
    nonces: Nonces,
    pause: Duration,
    paused_until: Mutex<Option<Instant>>,
    /// Held from a call's nonce until its answer (module docs).
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KrakenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KrakenClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// `AddOrder`'s order, in Kraken's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder<'a> {
    /// The pair's altname (`XBTUSDT`).
    pub pair: &'a str,
    /// `buy` or `sell`.
    pub side: &'a str,
    /// `market` or `limit`.
    pub ordertype: &'a str,
    pub volume: Decimal,
    pub price: Option<Decimal>,
    pub cl_ord_id: &'a str,
    /// `validate=true`: Kraken checks the order and places nothing (the sandbox mode).
    pub validate: bool,
}

/// One asset of `BalanceEx`: `{"balance":"1.0","hold_trade":"0.1"}` (other fields, such as
/// `credit`, are ignored).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct BalanceEx {
    pub balance: Decimal,
    #[serde(default)]
    pub hold_trade: Decimal,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AddOrderResult {
    /// Empty when validating.
    #[serde(default)]
    pub txid: Vec<String>,
}

/// One order as `OpenOrders` / `ClosedOrders` show it (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct OrderInfo {
    #[serde(default)]
    pub cl_ord_id: Option<String>,
    /// `pending`, `open`, `closed`, `canceled`, `expired`.
    pub status: String,
    pub vol: Decimal,
    pub vol_exec: Decimal,
    /// Unix seconds (fractional) when the order opened.
    #[serde(default, deserialize_with = "public::opt_decimal_number")]
    pub opentm: Option<Decimal>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct OpenOrders {
    open: BTreeMap<String, OrderInfo>,
}

#[derive(Debug, Clone, Deserialize)]
struct ClosedOrders {
    closed: BTreeMap<String, OrderInfo>,
}

/// One fill from `TradesHistory`. `fee` is in the quote currency (Kraken's default).
#[derive(Debug, Clone, Deserialize)]
pub struct TradeInfo {
    pub ordertxid: String,
    pub pair: String,
    #[serde(deserialize_with = "public::decimal_number")]
    pub time: Decimal,
    #[serde(rename = "type")]
    pub side: String,
    pub price: Decimal,
    pub cost: Decimal,
    pub fee: Decimal,
    pub vol: Decimal,
    #[serde(default)]
    pub maker: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
struct TradesHistory {
    trades: BTreeMap<String, TradeInfo>,
}

#[derive(Debug, Clone, Deserialize)]
struct CancelResult {
    #[serde(default)]
    count: u32,
}

impl KrakenClient {
    /// `secret` is the base64 secret Kraken shows once; it is checked here.
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        api_key: SecretString,
        secret: SecretString,
        nonces: Nonces,
        pause: Duration,
    ) -> Result<Self, KrakenError> {
        super::sign::decode_secret(secret.expose_secret())
            .map_err(|e| KrakenError::Auth(e.to_string()))?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            secret,
            nonces,
            pause,
            paused_until: Mutex::new(None),
            turn: tokio::sync::Mutex::new(()),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn paused(&self) -> Option<Duration> {
        let until = *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.and_then(|u| u.checked_duration_since(Instant::now()))
    }

    fn pause_calls(&self) {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + self.pause);
    }

    /// One signed call, with the nonce retry and the pause described above.
    #[tracing::instrument(skip_all, fields(venue = VENUE, endpoint))]
    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        params: &[(&str, String)],
    ) -> Result<T, KrakenError> {
        let path = format!("/0/private/{endpoint}");
        let secret = super::sign::decode_secret(self.secret.expose_secret())
            .map_err(|e| KrakenError::Auth(e.to_string()))?;
        let mut retried = false;
        loop {
            let _turn = self.turn.lock().await;
            // Checked in turn: a call queued behind one that hit the limit is not sent.
            if let Some(left) = self.paused() {
                return Err(KrakenError::RateLimited(format!(
                    "calls paused for {} ms after a rate limit",
                    left.as_millis()
                )));
            }
            let nonce = self.nonces.next().await.map_err(|e| {
                KrakenError::Unavailable(format!("no nonce (its store failed): {e}"))
            })?;
            let body = {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("nonce", &nonce.to_string());
                for (k, v) in params {
                    form.append_pair(k, v);
                }
                form.finish()
            };
            let sign = api_sign(&secret, &path, nonce, &body);
            let res = self
                .client
                .post(format!("{}{path}", self.base_url))
                .header("API-Key", self.api_key.expose_secret())
                .header("API-Sign", sign)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(body)
                .send()
                .await;
            match public::read::<T>(endpoint, res).await {
                Err(KrakenError::InvalidNonce(m)) if !retried => {
                    tracing::warn!(error = %m, "kraken refused our nonce; retrying once with a new one");
                    retried = true;
                }
                Err(e @ KrakenError::RateLimited(_)) => {
                    tracing::warn!(error = %e, pause_ms = self.pause.as_millis(), "kraken rate limit: pausing calls");
                    self.pause_calls();
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// `AddOrder`; with `validate` Kraken answers without a `txid` and places nothing.
    pub async fn add_order(&self, o: &NewOrder<'_>) -> Result<AddOrderResult, KrakenError> {
        let mut params = vec![
            ("ordertype", o.ordertype.to_owned()),
            ("type", o.side.to_owned()),
            ("volume", o.volume.normalize().to_string()),
            ("pair", o.pair.to_owned()),
            ("cl_ord_id", o.cl_ord_id.to_owned()),
        ];
        if let Some(price) = o.price {
            params.push(("price", price.normalize().to_string()));
        }
        if o.validate {
            params.push(("validate", "true".to_owned()));
        }
        if self.paused().is_some() {
            // Refused without being sent: no round trip to time.
            return self.call("AddOrder", &params).await;
        }
        // Timed like Binance's `POST /api/v3/order`: from handing the request over to its
        // answer (a nonce retry included: that is the latency the order saw).
        let started = Instant::now();
        let res = self.call("AddOrder", &params).await;
        metrics::histogram!(ORDER_LATENCY_SECONDS, "venue" => VENUE)
            .record(started.elapsed().as_secs_f64());
        res
    }

    /// The order with our `cl_ord_id`: open ones first, then closed ones. `None`: Kraken has
    /// no such order (it was never placed).
    pub async fn order_by_cl_ord_id(
        &self,
        cl_ord_id: &str,
    ) -> Result<Option<(String, OrderInfo)>, KrakenError> {
        let params = [("cl_ord_id", cl_ord_id.to_owned())];
        let open: OpenOrders = self.call("OpenOrders", &params).await?;
        if let Some(found) = open.open.into_iter().next() {
            return Ok(Some(found));
        }
        let closed: ClosedOrders = self.call("ClosedOrders", &params).await?;
        Ok(closed.closed.into_iter().next())
    }

    /// `CancelOrder` by our `cl_ord_id`; `true` when an order was cancelled.
    pub async fn cancel_by_cl_ord_id(&self, cl_ord_id: &str) -> Result<bool, KrakenError> {
        let res: CancelResult = self
            .call("CancelOrder", &[("cl_ord_id", cl_ord_id.to_owned())])
            .await?;
        Ok(res.count > 0)
    }

    /// `TradesHistory` since `start` (Unix seconds), keyed by Kraken's trade id.
    pub async fn trades_since(
        &self,
        start: i64,
    ) -> Result<BTreeMap<String, TradeInfo>, KrakenError> {
        let res: TradesHistory = self
            .call("TradesHistory", &[("start", start.to_string())])
            .await?;
        Ok(res.trades)
    }

    /// `Balance`, by Kraken's asset codes (`XXBT`, `ZUSD`, `USDT`): totals, holds included.
    pub async fn balance(&self) -> Result<BTreeMap<String, Decimal>, KrakenError> {
        self.call("Balance", &[]).await
    }

    /// `BalanceEx`: per asset code the total `balance` and `hold_trade` (held by open orders);
    /// free = balance − hold_trade.
    pub async fn balance_ex(&self) -> Result<BTreeMap<String, BalanceEx>, KrakenError> {
        self.call("BalanceEx", &[]).await
    }

    /// Public `AssetPairs` through the same host.
    pub async fn asset_pairs(&self) -> Result<super::KrakenPairs, KrakenError> {
        public::asset_pairs(&self.client, &self.base_url).await
    }
}

/// Our client order id (`ais-…`, longer than Kraken's 18 free-text characters) as a
/// `cl_ord_id` Kraken accepts: a UUID derived from it, so the same order always gets the same
/// one and can be asked about after a restart.
pub fn cl_ord_id(client_order_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(client_order_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl_ord_ids_are_stable_uuids() {
        let a = cl_ord_id("ais-19ad3f2c1b0-1a2b3c4d-12");
        assert_eq!(a, cl_ord_id("ais-19ad3f2c1b0-1a2b3c4d-12"));
        assert_ne!(a, cl_ord_id("ais-19ad3f2c1b0-1a2b3c4d-13"));
        assert_eq!(a.len(), 36);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}

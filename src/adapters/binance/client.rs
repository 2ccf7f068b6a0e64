//! Binance Spot REST over reqwest: signing, clock offset, weight tracking, 429 pauses, 418
//! bans, and the error bodies turned into a typed error. Knows nothing of orders' meaning.

use super::limits::{Gate, Limits};
use super::sign::signature;
use super::wire;
use crate::adapters::venue_metrics::{
    ORDER_LATENCY_SECONDS, VENUE_CLOCK_OFFSET_SECONDS, VENUE_REQUESTS_TOTAL, VENUE_WEIGHT_USED,
};
use actors::trading::connector::ConnectorError;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub const VENUE: &str = "binance";

#[derive(Debug, thiserror::Error)]
pub enum BinanceError {
    /// A 4xx with Binance's error body.
    #[error("binance error {code}: {msg}")]
    Api { code: i64, msg: String },
    /// A 429: every call waits this long (`Retry-After`).
    #[error("rate limited by binance; calls paused for {0:?}")]
    RateLimited(Duration),
    /// A 418: banned.
    #[error("{0}")]
    Banned(String),
    /// 5xx, timeout or a broken connection: the request may or may not have been executed.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    #[error("unexpected answer from binance: {0}")]
    Decode(String),
    #[error("binance keys are not configured (secrets api_key and api_secret)")]
    NoKeys,
    /// The weight budget is nearly used and the next minute is further away than a call may
    /// wait: not sent (so no unknown outcome), worth trying again after this long.
    #[error("binance busy: request weight nearly used up; not sent, the budget refills in {0:?}")]
    Busy(Duration),
}

impl BinanceError {
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<BinanceError> for ConnectorError {
    fn from(e: BinanceError) -> Self {
        match e {
            // -2011: a cancel of an unknown order; -2013: "Order does not exist."
            BinanceError::Api {
                code: -2011 | -2013,
                msg,
            } => Self::UnknownOrder(msg),
            // -1013 filter failure, -2010 rejected (insufficient balance, duplicate), -1121
            // invalid symbol, -1022 bad signature, …: retrying the same request will not help.
            e @ (BinanceError::Api { .. } | BinanceError::NoKeys) => Self::Rejected(e.to_string()),
            BinanceError::Banned(why) => Self::Banned(why),
            e @ BinanceError::RateLimited(_) => Self::Paused(e.to_string()),
            e @ (BinanceError::Busy(_) | BinanceError::Unknown(_) | BinanceError::Decode(_)) => {
                Self::Unavailable(e.to_string())
            }
        }
    }
}

pub struct Credentials {
    pub api_key: SecretString,
    pub api_secret: SecretString,
}

pub struct ClientConfig {
    pub base_url: String,
    pub recv_window_ms: u64,
    pub request_timeout: Duration,
    /// Weight after which calls wait for the next minute.
    pub slowdown_at: u32,
    /// The longest such a wait may be. The engine gives a venue call 10 s; a wait for the
    /// next minute (up to 60 s) inside it would turn a deliberate pause into a timed-out,
    /// "unknown outcome" order. A longer wait is refused at once (`Busy`) instead.
    pub max_weight_wait: Duration,
}

pub struct BinanceClient {
    http: reqwest::Client,
    config: ClientConfig,
    creds: Option<Credentials>,
    limits: Arc<Mutex<Limits>>,
    /// Venue symbol (`BNBUSDT`) → its mid price and when it was read: values fees charged in
    /// a third asset without asking once per fill.
    pub(super) fee_price_cache:
        Mutex<std::collections::HashMap<String, (rust_decimal::Decimal, Instant)>>,
}

impl std::fmt::Debug for BinanceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceClient")
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

fn local_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl BinanceClient {
    /// `limits` outlives the client: a pause or ban survives a change of keys or mode.
    pub fn new(
        config: ClientConfig,
        creds: Option<Credentials>,
        limits: Arc<Mutex<Limits>>,
    ) -> Result<Self, BinanceError> {
        let http = crate::adapters::http_client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| BinanceError::Unknown(e.without_url().to_string()))?;
        Ok(Self {
            http,
            config: ClientConfig {
                base_url: config.base_url.trim_end_matches('/').to_owned(),
                ..config
            },
            creds,
            limits,
            fee_price_cache: Mutex::default(),
        })
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers that placing `client_order_id` had an unknown outcome.
    pub fn unknown_outcome(&self, client_order_id: &str) {
        let mut l = self.limits();
        let now = Instant::now();
        // Entries older than any recvWindow are of no use any more.
        l.in_flight
            .retain(|_, at| now.duration_since(*at) < Duration::from_secs(120));
        l.in_flight.insert(client_order_id.to_owned(), now);
    }

    /// Whether a request for `client_order_id` may still reach the venue: it was sent with an
    /// unknown outcome less than `recvWindow` (plus a second of clock slack) ago.
    pub fn may_still_arrive(&self, client_order_id: &str) -> bool {
        let window = Duration::from_millis(self.config.recv_window_ms + 1000);
        self.limits()
            .in_flight
            .get(client_order_id)
            .is_some_and(|at| at.elapsed() < window)
    }

    fn server_now_ms(&self) -> i64 {
        local_ms() + self.limits().offset_ms
    }

    /// Waits out the weight budget; refuses while paused (429) or banned (418).
    async fn gate(&self) -> Result<(), BinanceError> {
        loop {
            let server_now = self.server_now_ms();
            let gate = self
                .limits()
                .gate(Instant::now(), server_now, self.config.slowdown_at);
            match gate {
                Gate::Go => return Ok(()),
                Gate::Wait(d) if d > self.config.max_weight_wait => {
                    tracing::info!(
                        wait_ms = d.as_millis() as u64,
                        "binance weight budget nearly used; refusing rather than waiting past the call timeout"
                    );
                    return Err(BinanceError::Busy(d));
                }
                Gate::Wait(d) => {
                    tracing::info!(
                        wait_ms = d.as_millis() as u64,
                        "binance weight budget nearly used; waiting for the next minute"
                    );
                    tokio::time::sleep(d).await;
                }
                Gate::Paused(d) => return Err(BinanceError::RateLimited(d)),
                Gate::Banned(why) => return Err(BinanceError::Banned(why)),
            }
        }
    }

    /// Measures the offset between Binance's clock and ours (`GET /api/v3/time`), taking the
    /// middle of the round trip as the moment the server read its clock.
    #[tracing::instrument(skip_all)]
    pub async fn sync_clock(&self) -> Result<i64, BinanceError> {
        let before = local_ms();
        let t: wire::ServerTime = self.send(Method::GET, "/api/v3/time", &[], false).await?;
        let after = local_ms();
        let offset = t.server_time - (before + after) / 2;
        {
            let mut l = self.limits();
            l.offset_ms = offset;
            l.synced = true;
        }
        metrics::gauge!(VENUE_CLOCK_OFFSET_SECONDS, "venue" => VENUE).set(offset as f64 / 1000.0);
        tracing::info!(offset_ms = offset, "binance clock offset measured");
        Ok(offset)
    }

    /// A public (unsigned) call.
    pub async fn public<T: DeserializeOwned>(
        &self,
        path: &'static str,
        params: &[(&str, String)],
    ) -> Result<T, BinanceError> {
        self.send(Method::GET, path, params, false).await
    }

    /// A signed call. `-1021` (our timestamp outside recvWindow) resynchronises the clock and
    /// is retried once: the venue refused the request, so nothing was executed.
    pub async fn signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &'static str,
        params: &[(&str, String)],
    ) -> Result<T, BinanceError> {
        if self.creds.is_none() {
            return Err(BinanceError::NoKeys);
        }
        if !self.limits().synced {
            self.sync_clock().await?;
        }
        match self.send(method.clone(), path, params, true).await {
            Err(e) if e.code() == Some(-1021) => {
                tracing::warn!(
                    "binance says our timestamp is outside recvWindow; resyncing the clock and retrying once"
                );
                self.sync_clock().await?;
                self.send(method, path, params, true).await
            }
            res => res,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &'static str,
        params: &[(&str, String)],
        signed: bool,
    ) -> Result<T, BinanceError> {
        self.gate().await?;
        let mut request = if signed {
            let creds = self.creds.as_ref().ok_or(BinanceError::NoKeys)?;
            let mut q = encode(
                params,
                Some((self.config.recv_window_ms, self.server_now_ms())),
            );
            let sig = signature(creds.api_secret.expose_secret().as_bytes(), &q);
            q.push_str("&signature=");
            q.push_str(&sig);
            self.http
                .request(
                    method.clone(),
                    format!("{}{path}?{q}", self.config.base_url),
                )
                .header("X-MBX-APIKEY", creds.api_key.expose_secret())
        } else {
            let q = encode(params, None);
            let url = if q.is_empty() {
                format!("{}{path}", self.config.base_url)
            } else {
                format!("{}{path}?{q}", self.config.base_url)
            };
            self.http.request(method.clone(), url)
        };
        if let Some(creds) = self.creds.as_ref().filter(|_| !signed) {
            // Public market data needs no key; sending it anyway identifies us for limits.
            request = request.header("X-MBX-APIKEY", creds.api_key.expose_secret());
        }
        // Open from the request until its body is read: the time spent on the wire and at
        // the venue, which `bench/trading.sh` subtracts from an order's round trip.
        let http = tracing::debug_span!("venue_http", endpoint = path);
        let started = Instant::now();
        let res = request.send().await;
        if method == Method::POST && path == "/api/v3/order" {
            metrics::histogram!(ORDER_LATENCY_SECONDS, "venue" => VENUE)
                .record(started.elapsed().as_secs_f64());
        }
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                metrics::counter!(VENUE_REQUESTS_TOTAL, "venue" => VENUE, "endpoint" => path, "status" => "error").increment(1);
                // Without the URL: it carries the signature.
                let why = if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    e.without_url().to_string()
                };
                return Err(BinanceError::Unknown(why));
            }
        };
        let status = res.status();
        metrics::counter!(VENUE_REQUESTS_TOTAL, "venue" => VENUE, "endpoint" => path, "status" => status.as_u16().to_string()).increment(1);
        if let Some(used) = header_u32(&res, "x-mbx-used-weight-1m") {
            let now = self.server_now_ms();
            self.limits().record_weight(used, now);
            metrics::gauge!(VENUE_WEIGHT_USED, "venue" => VENUE).set(f64::from(used));
        }
        let retry_after = header_u32(&res, "retry-after").map(|s| Duration::from_secs(s.into()));
        match status.as_u16() {
            429 => {
                let wait = retry_after.unwrap_or(Duration::from_secs(60));
                self.limits().paused_until = Some(Instant::now() + wait);
                tracing::warn!(
                    wait_s = wait.as_secs(),
                    "binance rate limit (429): pausing every call"
                );
                return Err(BinanceError::RateLimited(wait));
            }
            418 => {
                let wait = retry_after.unwrap_or(Duration::from_secs(120));
                let why = format!(
                    "binance banned this IP (418) for {}s after rate-limit violations",
                    wait.as_secs()
                );
                self.limits().banned = Some((Instant::now() + wait, why.clone()));
                tracing::error!(wait_s = wait.as_secs(), "binance IP ban (418)");
                return Err(BinanceError::Banned(why));
            }
            s if s >= 500 => {
                return Err(BinanceError::Unknown(format!("binance answered HTTP {s}")));
            }
            _ => {}
        }
        let body = res
            .bytes()
            .await
            .map_err(|e| BinanceError::Unknown(e.without_url().to_string()))?;
        drop(http);
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| BinanceError::Decode(e.to_string()));
        }
        match serde_json::from_slice::<wire::ApiError>(&body) {
            Ok(e) => Err(BinanceError::Api {
                code: e.code,
                msg: e.msg,
            }),
            Err(_) => Err(BinanceError::Decode(format!(
                "HTTP {status} without an error body"
            ))),
        }
    }
}

/// The query string: `params`, then (signed) `recvWindow` and `timestamp`. The string signed
/// is exactly the one sent.
fn encode(params: &[(&str, String)], signed: Option<(u64, i64)>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    if let Some((recv_window, timestamp)) = signed {
        query.append_pair("recvWindow", &recv_window.to_string());
        query.append_pair("timestamp", &timestamp.to_string());
    }
    query.finish()
}

fn header_u32(res: &reqwest::Response, name: &str) -> Option<u32> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

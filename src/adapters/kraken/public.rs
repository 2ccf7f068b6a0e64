//! Kraken's public REST calls (no keys): `AssetPairs` (names and order rules) and `Depth`
//! (the book), plus the `{"error":[…],"result":…}` envelope every Kraken answer has.

use super::errors::KrakenError;
use super::pairs::{KrakenPairs, RawPair};
use crate::adapters::venue_metrics::VENUE_REQUESTS_TOTAL;
use actors::trading::types::{Level, OrderBook};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

pub const VENUE: &str = "kraken";

/// Kraken's times are JSON numbers (`1688667796.8802`); money is strings. Decimal from a
/// number, through its shortest text form.
pub fn decimal_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.to_string()
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&n.to_string()))
        .map_err(serde::de::Error::custom)
}

pub fn opt_decimal_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Decimal>, D::Error> {
    decimal_number(d).map(Some)
}

/// `venue_requests_total` for one Kraken call: its HTTP status, `error` when none came back.
pub fn count(endpoint: &'static str, status: &str) {
    metrics::counter!(VENUE_REQUESTS_TOTAL, "venue" => VENUE, "endpoint" => endpoint, "status" => status.to_owned())
        .increment(1);
}

/// Every Kraken answer: a non-empty `error` is a failure even with HTTP 200.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    #[serde(default)]
    pub error: Vec<String>,
    pub result: Option<T>,
}

/// Reads an answer: HTTP status first (5xx: outcome unknown), then the envelope. Records
/// `venue_requests_total`.
pub async fn read<T: DeserializeOwned>(
    endpoint: &'static str,
    res: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, KrakenError> {
    let res = match res {
        Ok(res) => res,
        Err(e) => {
            count(endpoint, "error");
            // A timeout may have reached Kraken; a refused connection did not. Callers that
            // change state treat both as unknown (they ask by client id afterwards).
            return Err(KrakenError::UnknownOutcome(format!(
                "{endpoint}: no answer: {e}"
            )));
        }
    };
    let status = res.status();
    let body = res.bytes().await;
    if status.is_server_error() {
        count(endpoint, status.as_str());
        return Err(KrakenError::UnknownOutcome(format!(
            "{endpoint}: HTTP {status}"
        )));
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            count(endpoint, "error");
            return Err(KrakenError::UnknownOutcome(format!(
                "{endpoint}: answer cut: {e}"
            )));
        }
    };
    if status.as_u16() == 429 {
        count(endpoint, status.as_str());
        return Err(KrakenError::RateLimited(format!("{endpoint}: HTTP 429")));
    }
    let envelope: Envelope<T> = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            count(endpoint, status.as_str());
            return Err(KrakenError::Unavailable(format!(
                "{endpoint}: HTTP {status}, not Kraken's JSON: {e}"
            )));
        }
    };
    if !envelope.error.is_empty() {
        count(endpoint, status.as_str());
        return Err(KrakenError::from_messages(&envelope.error));
    }
    count(endpoint, status.as_str());
    envelope
        .result
        .ok_or_else(|| KrakenError::Unavailable(format!("{endpoint}: no result")))
}

/// `url?k=v&…`, encoded.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> Result<url::Url, KrakenError> {
    let mut url = url::Url::parse(url)
        .map_err(|e| KrakenError::Unavailable(format!("bad Kraken URL {url}: {e}")))?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url)
}

/// `GET /0/public/AssetPairs`.
pub async fn asset_pairs(
    client: &reqwest::Client,
    base_url: &str,
) -> Result<KrakenPairs, KrakenError> {
    let url = format!("{}/0/public/AssetPairs", base_url.trim_end_matches('/'));
    let raw: BTreeMap<String, RawPair> = read("AssetPairs", client.get(url).send().await).await?;
    Ok(KrakenPairs::from_asset_pairs(raw))
}

/// One side's level: `[price, volume, timestamp]`.
#[derive(Debug, Deserialize)]
struct RawLevel(Decimal, Decimal, #[allow(dead_code)] serde_json::Value);

#[derive(Debug, Deserialize)]
struct RawBook {
    asks: Vec<RawLevel>,
    bids: Vec<RawLevel>,
}

/// `GET /0/public/Depth?pair=<altname>&count=<levels>` for our `symbol`. The result is keyed
/// by Kraken's pair key, not by what we asked: one pair asked, one entry taken.
pub async fn depth(
    client: &reqwest::Client,
    base_url: &str,
    altname: &str,
    symbol: &str,
    levels: usize,
) -> Result<OrderBook, KrakenError> {
    let count = levels.clamp(1, 500).to_string();
    let url = with_query(
        &format!("{}/0/public/Depth", base_url.trim_end_matches('/')),
        &[("pair", altname), ("count", &count)],
    )?;
    let res = client.get(url).send().await;
    let result: BTreeMap<String, RawBook> = read("Depth", res).await?;
    let book = result
        .into_values()
        .next()
        .ok_or_else(|| KrakenError::Unavailable("Depth: empty result".to_owned()))?;
    let side = |levels: Vec<RawLevel>| -> Vec<Level> {
        levels
            .into_iter()
            .map(|RawLevel(price, qty, _)| Level {
                price: price.normalize(),
                qty: qty.normalize(),
            })
            .collect()
    };
    Ok(OrderBook {
        symbol: symbol.to_owned(),
        bids: side(book.bids),
        asks: side(book.asks),
        ts_ms: 0,
    })
}

//! Binance's public book: `GET /api/v3/depth?symbol=BTCUSDT&limit=N` on the market-data host
//! (`data-api.binance.vision`), answering `{"lastUpdateId":…,"bids":[["price","qty"],…],
//! "asks":[…]}`; errors are `{"code":-1121,"msg":"Invalid symbol."}` with a 4xx.

use super::{DepthSource, MarketDataError};
use crate::adapters::venue_metrics::VENUE_REQUESTS_TOTAL;
use actors::trading::types::{Level, OrderBook, split_symbol};
use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::Deserialize;

pub const VENUE: &str = "binance";

/// The `limit` values Binance's depth endpoint accepts (weight grows with them).
const LIMITS: [usize; 8] = [5, 10, 20, 50, 100, 500, 1000, 5000];

pub struct BinanceDepth {
    client: reqwest::Client,
    base_url: String,
}

impl BinanceDepth {
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }
}

/// `BTC-USDT` → `BTCUSDT`.
pub fn binance_symbol(symbol: &str) -> Option<String> {
    let (base, quote) = split_symbol(symbol)?;
    Some(format!("{base}{quote}").to_ascii_uppercase())
}

#[derive(Deserialize)]
struct RawDepth {
    bids: Vec<(Decimal, Decimal)>,
    asks: Vec<(Decimal, Decimal)>,
}

#[derive(Deserialize)]
struct RawError {
    code: i64,
    msg: String,
}

fn levels(raw: Vec<(Decimal, Decimal)>) -> Vec<Level> {
    raw.into_iter()
        .map(|(price, qty)| Level {
            price: price.normalize(),
            qty: qty.normalize(),
        })
        .collect()
}

fn count(status: &str) {
    metrics::counter!(VENUE_REQUESTS_TOTAL, "venue" => VENUE, "endpoint" => "depth", "status" => status.to_owned())
        .increment(1);
}

#[async_trait]
impl DepthSource for BinanceDepth {
    fn venue(&self) -> &'static str {
        VENUE
    }

    async fn depth(&self, symbol: &str, wanted: usize) -> Result<OrderBook, MarketDataError> {
        let pair = binance_symbol(symbol)
            .ok_or_else(|| MarketDataError::UnknownSymbol(format!("not a symbol: {symbol}")))?;
        let limit = LIMITS
            .iter()
            .copied()
            .find(|l| *l >= wanted)
            .unwrap_or(5000)
            .to_string();
        let mut url = url::Url::parse(&format!("{}/api/v3/depth", self.base_url))
            .map_err(|e| MarketDataError::Unavailable(format!("bad Binance URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("symbol", &pair)
            .append_pair("limit", &limit);
        let res = self.client.get(url).send().await;
        let res = match res {
            Ok(res) => res,
            Err(e) => {
                count("error");
                return Err(MarketDataError::Unavailable(format!("no answer: {e}")));
            }
        };
        let status = res.status();
        count(status.as_str());
        let body = res
            .bytes()
            .await
            .map_err(|e| MarketDataError::Unavailable(format!("answer cut: {e}")))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<RawError>(&body) {
                // -1121 Invalid symbol: Binance does not list it.
                Ok(e) if e.code == -1121 => {
                    MarketDataError::UnknownSymbol(format!("{} ({})", e.msg, e.code))
                }
                Ok(e) => {
                    MarketDataError::Unavailable(format!("HTTP {status}: {} ({})", e.msg, e.code))
                }
                Err(_) => MarketDataError::Unavailable(format!("HTTP {status}")),
            });
        }
        let raw: RawDepth = serde_json::from_slice(&body)
            .map_err(|e| MarketDataError::Unavailable(format!("not a depth answer: {e}")))?;
        let mut book = OrderBook {
            symbol: symbol.to_owned(),
            bids: levels(raw.bids),
            asks: levels(raw.asks),
            ts_ms: 0,
        };
        book.bids.truncate(wanted);
        book.asks.truncate(wanted);
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_concatenated() {
        assert_eq!(binance_symbol("BTC-USDT").as_deref(), Some("BTCUSDT"));
        assert_eq!(binance_symbol("eth-btc").as_deref(), Some("ETHBTC"));
        assert_eq!(binance_symbol("BTCUSDT"), None);
    }

    #[test]
    fn the_documented_depth_answer_parses() {
        let raw: RawDepth = serde_json::from_str(
            r#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#,
        )
        .expect("parses");
        let bids = levels(raw.bids);
        assert_eq!(bids[0].price.to_string(), "4");
        assert_eq!(levels(raw.asks)[0].price.to_string(), "4.000002");
    }
}

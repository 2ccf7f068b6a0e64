//! Binance Spot JSON shapes (numbers as strings, as Binance sends them) and their mapping to
//! the `Connector` port's types.

use actors::trading::order::OrderStatus;
use actors::trading::rules::SymbolRules;
use actors::trading::types::{FillReport, Level, Liquidity, OrderReport};
use rust_decimal::Decimal;
use serde::Deserialize;

/// Every error body: `{"code":-1121,"msg":"Invalid symbol."}`.
#[derive(Debug, Deserialize)]
pub struct ApiError {
    pub code: i64,
    pub msg: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    pub server_time: i64,
}

#[derive(Debug, Deserialize)]
pub struct ExchangeInfo {
    pub symbols: Vec<SymbolInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    pub symbol: String,
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub filters: Vec<serde_json::Value>,
}

fn dec_field(v: &serde_json::Value, name: &str) -> Decimal {
    v.get(name)
        .and_then(serde_json::Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(Decimal::ZERO)
}

impl SymbolInfo {
    /// PRICE_FILTER, LOT_SIZE and NOTIONAL / MIN_NOTIONAL → our rules (`symbol`: ours).
    /// Filters we do not know are ignored; a missing one means no such rule.
    pub fn rules(&self, symbol: &str) -> SymbolRules {
        let mut r = SymbolRules::unrestricted(symbol);
        r.trading = self.status == "TRADING";
        for f in &self.filters {
            match f.get("filterType").and_then(serde_json::Value::as_str) {
                Some("PRICE_FILTER") => r.tick_size = dec_field(f, "tickSize"),
                Some("LOT_SIZE") => {
                    r.step_size = dec_field(f, "stepSize");
                    r.min_qty = dec_field(f, "minQty");
                    r.max_qty = dec_field(f, "maxQty");
                }
                Some("NOTIONAL" | "MIN_NOTIONAL") => {
                    r.min_notional = r.min_notional.max(dec_field(f, "minNotional"));
                }
                _ => {}
            }
        }
        r
    }
}

#[derive(Debug, Deserialize)]
pub struct Depth {
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
}

pub fn levels(side: &[(Decimal, Decimal)], depth: usize) -> Vec<Level> {
    side.iter()
        .take(depth)
        .map(|&(price, qty)| Level { price, qty })
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct Account {
    pub balances: Vec<AccountBalance>,
}

#[derive(Debug, Deserialize)]
pub struct AccountBalance {
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
}

/// `POST/GET/DELETE /api/v3/order` (FULL response for POST: with `fills`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: i64,
    pub client_order_id: String,
    /// A cancel answers with the cancel's own id here and ours in `origClientOrderId`.
    pub orig_client_order_id: Option<String>,
    pub status: String,
    pub executed_qty: Decimal,
    pub transact_time: Option<i64>,
    #[serde(default)]
    pub fills: Vec<OrderFill>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub trade_id: i64,
}

/// `GET /api/v3/myTrades`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trade {
    pub id: i64,
    pub order_id: i64,
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub time: i64,
    pub is_maker: bool,
}

/// Binance's order statuses → ours. `None`: a status we do not know (kept as it was).
pub fn status(s: &str) -> Option<OrderStatus> {
    Some(match s {
        "NEW" | "PENDING_NEW" | "PENDING_CANCEL" => OrderStatus::Open,
        "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
        "FILLED" => OrderStatus::Filled,
        "CANCELED" => OrderStatus::Cancelled,
        "REJECTED" => OrderStatus::Rejected,
        "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Expired,
        _ => return None,
    })
}

/// `GET /api/v3/ticker/bookTicker?symbol=`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookTicker {
    pub bid_price: Decimal,
    pub ask_price: Decimal,
}

/// Prices of third assets fees were charged in (`BNB` → its price in the fill's quote asset),
/// looked up by the connector before building fill reports.
pub type FeePrices = std::collections::BTreeMap<String, Decimal>;

/// A fee valued in the quote asset, for PnL: charged in the quote asset it is what it is, in
/// the base asset it is worth `commission × price`, in a third asset (BNB discounts) it is
/// worth `commission × that asset's price in quote` when the venue gave one. `None`: a third
/// asset with no known price — recorded unvalued, never counted as free.
pub fn fee_in_quote(
    commission: Decimal,
    asset: &str,
    price: Decimal,
    base: &str,
    quote: &str,
    third: &FeePrices,
) -> Option<Decimal> {
    if asset == quote {
        Some(commission)
    } else if asset == base {
        Some(commission * price)
    } else if commission.is_zero() {
        Some(Decimal::ZERO)
    } else {
        third.get(asset).map(|p| (commission * p).normalize())
    }
}

/// The fee fields of a `FillReport`: (quote-valued, amount, asset, valued).
fn fee_fields(
    commission: Decimal,
    asset: &str,
    price: Decimal,
    base: &str,
    quote: &str,
    third: &FeePrices,
) -> (Decimal, Decimal, String, bool) {
    let valued = fee_in_quote(commission, asset, price, base, quote, third);
    (
        valued.unwrap_or(Decimal::ZERO),
        commission.normalize(),
        asset.to_owned(),
        valued.is_some(),
    )
}

impl Order {
    /// Our report of this order. `fills`: its trades (from the FULL response or `myTrades`).
    pub fn report(&self, ours: &str, fills: Vec<FillReport>) -> OrderReport {
        let status = status(&self.status).unwrap_or(OrderStatus::Open);
        OrderReport {
            client_order_id: ours.to_owned(),
            venue_order_id: self.order_id.to_string(),
            status,
            filled_qty: self.executed_qty,
            fills,
            reason: matches!(status, OrderStatus::Rejected | OrderStatus::Expired)
                .then(|| format!("binance: {}", self.status)),
        }
    }
}

/// The third assets (neither base nor quote) fees in `fills` were charged in.
pub fn third_assets<'a>(
    fills: impl Iterator<Item = (&'a str, Decimal)>,
    base: &str,
    quote: &str,
) -> Vec<String> {
    let mut out: Vec<String> = fills
        .filter(|(a, c)| *a != base && *a != quote && !c.is_zero())
        .map(|(a, _)| a.to_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl OrderFill {
    pub fn report(
        &self,
        ours: &str,
        (base, quote): (&str, &str),
        third: &FeePrices,
        ts_ms: i64,
    ) -> FillReport {
        let (fee, fee_amount, fee_asset, fee_valued) = fee_fields(
            self.commission,
            &self.commission_asset,
            self.price,
            base,
            quote,
            third,
        );
        FillReport {
            trade_id: self.trade_id.to_string(),
            client_order_id: ours.to_owned(),
            qty: self.qty,
            price: self.price,
            fee,
            fee_amount,
            fee_asset,
            fee_valued,
            // Fills in the order's own response happened as it arrived: it took liquidity.
            liquidity: Liquidity::Taker,
            ts_ms,
        }
    }
}

impl Trade {
    pub fn report(&self, ours: &str, (base, quote): (&str, &str), third: &FeePrices) -> FillReport {
        let (fee, fee_amount, fee_asset, fee_valued) = fee_fields(
            self.commission,
            &self.commission_asset,
            self.price,
            base,
            quote,
            third,
        );
        FillReport {
            trade_id: self.id.to_string(),
            client_order_id: ours.to_owned(),
            qty: self.qty,
            price: self.price,
            fee,
            fee_amount,
            fee_asset,
            fee_valued,
            liquidity: if self.is_maker {
                Liquidity::Maker
            } else {
                Liquidity::Taker
            },
            ts_ms: self.time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn filters_become_rules() {
        let info: ExchangeInfo = serde_json::from_str(
            r#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT",
            "filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
            {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
            {"filterType":"ICEBERG_PARTS","limit":10},
            {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5}]}]}"#,
        )
        .expect("exchangeInfo");
        let r = info.symbols[0].rules("BTC-USDT");
        assert_eq!(r.tick_size, dec!(0.01));
        assert_eq!(r.step_size, dec!(0.00001));
        assert_eq!(r.min_qty, dec!(0.00001));
        assert_eq!(r.max_qty, dec!(9000));
        assert_eq!(r.min_notional, dec!(5));
        assert!(r.trading);
    }

    #[test]
    fn the_documented_full_response_maps() {
        let o: Order = serde_json::from_str(
            r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"6gCrw2kRUAF9CvJDGP16IP",
            "transactTime":1507725176595,"price":"0.00000000","origQty":"10.00000000",
            "executedQty":"10.00000000","cummulativeQuoteQty":"10.00000000","status":"FILLED",
            "timeInForce":"GTC","type":"MARKET","side":"SELL","workingTime":1507725176595,
            "selfTradePreventionMode":"NONE",
            "fills":[{"price":"4000.00000000","qty":"1.00000000","commission":"4.00000000","commissionAsset":"USDT","tradeId":56}]}"#,
        )
        .expect("order");
        let fills = o
            .fills
            .iter()
            .map(|f| f.report("ours", ("BTC", "USDT"), &FeePrices::new(), 1))
            .collect();
        let r = o.report("ours", fills);
        assert_eq!(r.status, OrderStatus::Filled);
        assert_eq!(r.venue_order_id, "28");
        assert_eq!(r.fills[0].trade_id, "56");
        assert_eq!(r.fills[0].fee, dec!(4));
        assert_eq!(
            (r.fills[0].fee_amount, r.fills[0].fee_asset.as_str()),
            (dec!(4), "USDT")
        );
        // A fee in the base asset is valued at the fill price; a third asset at its price
        // when the venue gave one, and never guessed (`None`: unvalued) when it did not.
        let none = FeePrices::new();
        let bnb = FeePrices::from([("BNB".to_owned(), dec!(600))]);
        assert_eq!(
            fee_in_quote(dec!(0.001), "BTC", dec!(4000), "BTC", "USDT", &none),
            Some(dec!(4))
        );
        assert_eq!(
            fee_in_quote(dec!(0.01), "BNB", dec!(4000), "BTC", "USDT", &bnb),
            Some(dec!(6))
        );
        assert_eq!(
            fee_in_quote(dec!(0.01), "BNB", dec!(4000), "BTC", "USDT", &none),
            None
        );
    }
}

//! The venue operations the `Connector` port needs, in Binance's terms: symbol rules, depth,
//! balances, and orders placed, cancelled and looked up by *our* client order id
//! (`newClientOrderId` / `origClientOrderId`), fills from `myTrades`.

use super::client::{BinanceClient, BinanceError};
use super::wire;
use actors::trading::connector::{AssetBalance, ConnectorError};
use actors::trading::rules::SymbolRules;
use actors::trading::symbols::{GluedSymbols, SymbolMap};
use actors::trading::types::{OrderBook, OrderKind, OrderReport, OrderRequest, Side, split_symbol};
use reqwest::Method;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// How long a third asset's price (for valuing fees) is reused.
const FEE_PRICE_TTL: Duration = Duration::from_secs(60);

/// `BTC-USDT` → (`BTCUSDT`, `BTC`, `USDT`).
fn venue_symbol(symbol: &str) -> Result<(String, String, String), ConnectorError> {
    let bad = || ConnectorError::Rejected(format!("`{symbol}` is not a BASE-QUOTE symbol"));
    let (base, quote) = split_symbol(symbol).ok_or_else(bad)?;
    let theirs = GluedSymbols::binance().to_venue(symbol).ok_or_else(bad)?;
    Ok((
        theirs,
        base.to_ascii_uppercase(),
        quote.to_ascii_uppercase(),
    ))
}

/// The smallest depth Binance serves that covers `depth`.
fn depth_limit(depth: usize) -> usize {
    [5, 10, 20, 50, 100, 500, 1000, 5000]
        .into_iter()
        .find(|&l| l >= depth)
        .unwrap_or(5000)
}

fn plain(d: Decimal) -> String {
    d.normalize().to_string()
}

impl BinanceClient {
    #[tracing::instrument(skip_all, fields(symbol))]
    pub async fn symbol_rules(&self, symbol: &str) -> Result<SymbolRules, ConnectorError> {
        let (theirs, _, _) = venue_symbol(symbol)?;
        let info: wire::ExchangeInfo = self
            .public("/api/v3/exchangeInfo", &[("symbol", theirs.clone())])
            .await?;
        info.symbols
            .iter()
            .find(|s| s.symbol == theirs)
            .map(|s| s.rules(symbol))
            .ok_or_else(|| ConnectorError::Rejected(format!("binance does not list {theirs}")))
    }

    pub async fn order_book(
        &self,
        symbol: &str,
        depth: usize,
    ) -> Result<OrderBook, ConnectorError> {
        let (theirs, _, _) = venue_symbol(symbol)?;
        let d: wire::Depth = self
            .public(
                "/api/v3/depth",
                &[
                    ("symbol", theirs),
                    ("limit", depth_limit(depth).to_string()),
                ],
            )
            .await?;
        Ok(OrderBook {
            symbol: symbol.to_owned(),
            bids: wire::levels(&d.bids, depth),
            asks: wire::levels(&d.asks, depth),
            ts_ms: chrono::Utc::now().timestamp_millis(),
        })
    }

    /// Free balance of every asset held (free or locked).
    pub async fn balances(&self) -> Result<BTreeMap<String, Decimal>, ConnectorError> {
        Ok(self
            .balance_sheet()
            .await?
            .into_iter()
            .map(|(asset, b)| (asset, b.free))
            .collect())
    }

    /// Free and locked of every asset held.
    #[tracing::instrument(skip_all)]
    pub async fn balance_sheet(&self) -> Result<BTreeMap<String, AssetBalance>, ConnectorError> {
        let a: wire::Account = self.signed(Method::GET, "/api/v3/account", &[]).await?;
        Ok(a.balances
            .into_iter()
            .filter(|b| !(b.free.is_zero() && b.locked.is_zero()))
            .map(|b| {
                let (free, locked) = (b.free, b.locked);
                (b.asset, AssetBalance { free, locked })
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(client_order_id = %order.client_order_id))]
    pub async fn place(&self, order: &OrderRequest) -> Result<OrderReport, ConnectorError> {
        let (theirs, base, quote) = venue_symbol(&order.symbol)?;
        let side = match order.side {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        };
        let mut params = vec![
            ("symbol", theirs),
            ("side", side.to_owned()),
            ("quantity", plain(order.qty)),
            ("newClientOrderId", order.client_order_id.clone()),
            ("newOrderRespType", "FULL".to_owned()),
        ];
        match order.kind {
            OrderKind::Market => params.push(("type", "MARKET".to_owned())),
            OrderKind::Limit { price } => {
                params.push(("type", "LIMIT".to_owned()));
                params.push(("timeInForce", "GTC".to_owned()));
                params.push(("price", plain(price)));
            }
        }
        let placed: Result<wire::Order, _> =
            self.signed(Method::POST, "/api/v3/order", &params).await;
        match placed {
            Ok(o) => {
                let ts = o
                    .transact_time
                    .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
                let third = wire::third_assets(
                    o.fills
                        .iter()
                        .map(|f| (f.commission_asset.as_str(), f.commission)),
                    &base,
                    &quote,
                );
                let prices = self.fee_prices(&third, &quote).await;
                let fills = o
                    .fills
                    .iter()
                    .map(|f| {
                        f.report(
                            &order.client_order_id,
                            (base.as_str(), quote.as_str()),
                            &prices,
                            ts,
                        )
                    })
                    .collect();
                Ok(o.report(&order.client_order_id, fills))
            }
            // Our id is already there: the first attempt got through. Report that order,
            // never a second one.
            Err(BinanceError::Api { code: -2010, msg }) if msg.contains("Duplicate") => self
                .order_status(&order.symbol, &order.client_order_id)
                .await?
                .ok_or_else(|| ConnectorError::Rejected(format!("binance error -2010: {msg}"))),
            // Held back before sending: the venue never saw it, so the order is refused (a
            // known outcome) and the strategy may ask again once the weight budget refills.
            Err(e @ BinanceError::Busy(_)) => Err(ConnectorError::Rejected(e.to_string())),
            Err(e) => {
                if matches!(e, BinanceError::Unknown(_) | BinanceError::Decode(_)) {
                    self.unknown_outcome(&order.client_order_id);
                }
                Err(e.into())
            }
        }
    }

    #[tracing::instrument(skip_all, fields(client_order_id))]
    pub async fn cancel(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, ConnectorError> {
        let (theirs, base, quote) = venue_symbol(symbol)?;
        let params = [
            ("symbol", theirs.clone()),
            ("origClientOrderId", client_order_id.to_owned()),
        ];
        match self
            .signed::<wire::Order>(Method::DELETE, "/api/v3/order", &params)
            .await
        {
            Ok(o) => {
                self.with_trades(o, client_order_id, &theirs, &base, &quote)
                    .await
            }
            // -2011: not open any more (filled, cancelled) or never there: say which.
            Err(BinanceError::Api { code: -2011, msg }) => self
                .order_status(symbol, client_order_id)
                .await?
                .ok_or(ConnectorError::UnknownOrder(msg)),
            Err(e) => Err(e.into()),
        }
    }

    /// `None` (-2013): Binance never saw an order with this client id.
    #[tracing::instrument(skip_all, fields(client_order_id))]
    pub async fn order_status(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ConnectorError> {
        let (theirs, base, quote) = venue_symbol(symbol)?;
        let params = [
            ("symbol", theirs.clone()),
            ("origClientOrderId", client_order_id.to_owned()),
        ];
        match self
            .signed::<wire::Order>(Method::GET, "/api/v3/order", &params)
            .await
        {
            Ok(o) => self
                .with_trades(o, client_order_id, &theirs, &base, &quote)
                .await
                .map(Some),
            // Not there yet, but a request sent moments ago could still arrive: ask again
            // later rather than give the order up while it may execute.
            Err(BinanceError::Api { code: -2013, .. })
                if self.may_still_arrive(client_order_id) =>
            {
                Err(ConnectorError::Unavailable(format!(
                    "order {client_order_id} not at the venue yet; its request may still arrive"
                )))
            }
            Err(BinanceError::Api { code: -2013, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The order's report with its fills from `myTrades` (when anything executed).
    async fn with_trades(
        &self,
        o: wire::Order,
        ours: &str,
        theirs: &str,
        base: &str,
        quote: &str,
    ) -> Result<OrderReport, ConnectorError> {
        let fills = if o.executed_qty.is_zero() {
            Vec::new()
        } else {
            let trades: Vec<wire::Trade> = self
                .signed(
                    Method::GET,
                    "/api/v3/myTrades",
                    &[
                        ("symbol", theirs.to_owned()),
                        ("orderId", o.order_id.to_string()),
                    ],
                )
                .await?;
            let trades: Vec<&wire::Trade> =
                trades.iter().filter(|t| t.order_id == o.order_id).collect();
            let third = wire::third_assets(
                trades
                    .iter()
                    .map(|t| (t.commission_asset.as_str(), t.commission)),
                base,
                quote,
            );
            let prices = self.fee_prices(&third, quote).await;
            trades
                .iter()
                .map(|t| t.report(ours, (base, quote), &prices))
                .collect()
        };
        Ok(o.report(ours, fills))
    }

    /// The price in `quote` of each asset a fee was charged in (BNB), from the venue's book
    /// ticker (`BNBUSDT`, mid price), reused for `FEE_PRICE_TTL`. An asset the venue has no
    /// such pair for, or cannot price right now, is left out: its fee is recorded unvalued.
    async fn fee_prices(&self, assets: &[String], quote: &str) -> wire::FeePrices {
        let mut out = wire::FeePrices::new();
        for asset in assets {
            let symbol = format!("{asset}{quote}");
            let cached = self
                .fee_price_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&symbol)
                .filter(|(_, at)| at.elapsed() < FEE_PRICE_TTL)
                .map(|(p, _)| *p);
            if let Some(p) = cached {
                out.insert(asset.clone(), p);
                continue;
            }
            match self
                .public::<wire::BookTicker>(
                    "/api/v3/ticker/bookTicker",
                    &[("symbol", symbol.clone())],
                )
                .await
            {
                Ok(t) if t.bid_price > Decimal::ZERO && t.ask_price > Decimal::ZERO => {
                    let mid = (t.bid_price + t.ask_price) / Decimal::TWO;
                    self.fee_price_cache
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(symbol, (mid, Instant::now()));
                    out.insert(asset.clone(), mid);
                }
                Ok(_) => tracing::warn!(%symbol, "no price to value a fee in {asset}"),
                Err(e) => {
                    tracing::warn!(%symbol, error = %e, "could not price a fee in {asset}; recorded unvalued")
                }
            }
        }
        out
    }
}

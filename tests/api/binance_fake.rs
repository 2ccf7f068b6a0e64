//! A local fake of Binance Spot REST serving the documented JSON shapes and error bodies:
//! `/api/v3/{time,exchangeInfo,depth,account,order,myTrades}`. It checks the HMAC signature
//! and the timestamp against its own (shiftable) clock, matches market orders and crossing
//! limit orders against its book, enforces PRICE_FILTER / LOT_SIZE / NOTIONAL (-1013) and the
//! balance (-2010), and can be scripted to fail the next order call in the ways a real venue
//! does (5xx, executed-then-5xx, executed-then-slow, 429, 418).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use ai_service::adapters::binance::sign::signature;
use rust_decimal::{Decimal, dec};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub const API_KEY: &str = "fake-binance-api-key-0001";
pub const API_SECRET: &str = "fake-binance-api-secret-0123456789";

/// What the next order placement (`POST /api/v3/order`) does instead of its normal work.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answer this HTTP status (500, 503…) without executing anything.
    Status(u16),
    /// Execute the order, then answer 500 (the outcome is unknown to the caller).
    ExecuteThen500,
    /// Execute the order, then answer only after this long (longer than the client waits).
    ExecuteThenStall(Duration),
    /// 429 with `Retry-After` seconds.
    TooMany(u64),
    /// 418 with `Retry-After` seconds.
    Banned(u64),
}

#[derive(Debug, Clone)]
pub struct FakeOrder {
    pub order_id: i64,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub kind: String,
    pub price: Decimal,
    pub qty: Decimal,
    pub executed: Decimal,
    pub quote: Decimal,
    pub status: String,
    pub time: i64,
}

#[derive(Debug, Clone)]
pub struct FakeTrade {
    pub id: i64,
    pub order_id: i64,
    pub symbol: String,
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub time: i64,
    pub is_maker: bool,
}

pub struct State {
    /// Added to the fake's clock (ms): a positive value makes our timestamps look late.
    pub clock_offset_ms: i64,
    pub bid: Decimal,
    pub ask: Decimal,
    pub balances: BTreeMap<String, Decimal>,
    pub orders: Vec<FakeOrder>,
    pub trades: Vec<FakeTrade>,
    pub script: Vec<Script>,
    /// Applied to the next request of any kind (a 418 meets whatever comes next).
    pub next_any: Option<Script>,
    /// Every request: (method, path, query parameters).
    pub calls: Vec<(String, String, BTreeMap<String, String>)>,
    /// Every request as served: when it arrived, its status, and how long the fake itself
    /// took (lock + routing, not HTTP parsing or a scripted stall). The pause test reads the
    /// times; `bench/trading.sh` subtracts nothing from these, it reports them as the fake's.
    pub served: Vec<Served>,
    /// `X-MBX-USED-WEIGHT-1M` sent back: one per request, back to zero each calendar minute
    /// as on Binance (a benchmark runs thousands of requests a minute for minutes).
    pub weight: u32,
    /// Charge commission in BNB (the fee discount) instead of the asset received: 0.075 % of
    /// the quote notional, converted at the `BNBUSDT` ticker (or at 600 when there is none).
    pub fees_in_bnb: bool,
    /// `GET /api/v3/ticker/bookTicker` answers: symbol → (bid, ask). Unknown symbols: -1121.
    pub tickers: BTreeMap<String, (Decimal, Decimal)>,
    /// Keep `weight` across minute boundaries (a test that sets a high weight must not see it
    /// reset by the first request of a new minute).
    pub weight_pinned: bool,
    weight_minute: i64,
    next_id: i64,
}

#[derive(Debug, Clone)]
pub struct Served {
    pub at: std::time::Instant,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Read by `bench/trading.sh` (examples/bench_trading), not by the tests.
    #[allow(dead_code)]
    pub took: Duration,
}

impl Default for State {
    fn default() -> Self {
        Self {
            clock_offset_ms: 0,
            bid: dec!(99.99),
            ask: dec!(100.01),
            balances: BTreeMap::from([
                ("USDT".to_owned(), dec!(10000)),
                ("BTC".to_owned(), dec!(1)),
                ("BNB".to_owned(), dec!(0)),
            ]),
            orders: Vec::new(),
            trades: Vec::new(),
            script: Vec::new(),
            next_any: None,
            calls: Vec::new(),
            served: Vec::new(),
            weight: 0,
            fees_in_bnb: false,
            tickers: BTreeMap::from([("BNBUSDT".to_owned(), (dec!(599.9), dec!(600.1)))]),
            weight_pinned: false,
            weight_minute: 0,
            next_id: 1000,
        }
    }
}

#[derive(Clone)]
pub struct FakeBinance {
    pub state: Arc<Mutex<State>>,
    pub url: String,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn err(status: u16, code: i64, msg: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .json(json!({"code": code, "msg": msg}))
}

fn s(d: Decimal) -> String {
    format!("{d:.8}")
}

impl FakeBinance {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake");
        let port = listener.local_addr().expect("addr").port();
        let fake = Self {
            state: Arc::default(),
            url: format!("http://127.0.0.1:{port}"),
        };
        let data = web::Data::new(fake.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::route().to(handle))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        fake
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls of `method` on `path` so far.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|(m, p, _)| m == method && p == path)
            .count()
    }

    pub fn set_book(&self, bid: Decimal, ask: Decimal) {
        let mut st = self.lock();
        st.bid = bid;
        st.ask = ask;
    }

    /// Fills `qty` of the resting order `client_order_id` at its price (a maker fill).
    pub fn fill(&self, client_order_id: &str, qty: Decimal) {
        let mut st = self.lock();
        let i = st
            .orders
            .iter()
            .position(|o| o.client_order_id == client_order_id)
            .expect("order");
        let price = st.orders[i].price;
        execute(&mut st, i, qty, price, true);
    }
}

/// Books one trade of order `i` and moves balances (fee: 0.1 % of what is received).
fn execute(st: &mut State, i: usize, qty: Decimal, price: Decimal, is_maker: bool) {
    st.next_id += 1;
    let id = st.next_id;
    let o = &mut st.orders[i];
    o.executed += qty;
    o.quote += qty * price;
    o.status = if o.executed >= o.qty {
        "FILLED".into()
    } else {
        "PARTIALLY_FILLED".into()
    };
    let (got, got_qty, gave, gave_qty) = if o.side == "BUY" {
        ("BTC", qty, "USDT", qty * price)
    } else {
        ("USDT", qty * price, "BTC", qty)
    };
    let (commission, commission_asset) = if st.fees_in_bnb {
        let bnb = st
            .tickers
            .get("BNBUSDT")
            .map_or(dec!(600), |(b, a)| (b + a) / dec!(2));
        ((qty * price * dec!(0.00075) / bnb).round_dp(8), "BNB")
    } else {
        (got_qty * dec!(0.001), got)
    };
    let trade = FakeTrade {
        id,
        order_id: o.order_id,
        symbol: o.symbol.clone(),
        price,
        qty,
        commission,
        commission_asset: commission_asset.to_owned(),
        time: now_ms(),
        is_maker,
    };
    *st.balances.entry(got.to_owned()).or_default() += got_qty;
    *st.balances.entry(commission_asset.to_owned()).or_default() -= commission;
    *st.balances.entry(gave.to_owned()).or_default() -= gave_qty;
    st.trades.push(trade);
}

fn order_json(o: &FakeOrder, trades: &[FakeTrade], full: bool) -> Value {
    let mut v = json!({
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1,
        "clientOrderId": o.client_order_id, "transactTime": o.time,
        "price": s(o.price), "origQty": s(o.qty), "executedQty": s(o.executed),
        "cummulativeQuoteQty": s(o.quote), "status": o.status, "timeInForce": "GTC",
        "type": o.kind, "side": o.side, "workingTime": o.time, "selfTradePreventionMode": "NONE",
    });
    if full {
        v["fills"] = trades
            .iter()
            .filter(|t| t.order_id == o.order_id)
            .map(|t| {
                json!({"price": s(t.price), "qty": s(t.qty), "commission": s(t.commission),
                       "commissionAsset": t.commission_asset, "tradeId": t.id})
            })
            .collect();
    }
    v
}

fn is_multiple(v: Decimal, step: Decimal) -> bool {
    (v / step).fract().is_zero()
}

async fn handle(req: HttpRequest, fake: web::Data<FakeBinance>) -> HttpResponse {
    let path = req.path().to_owned();
    let method = req.method().as_str().to_owned();
    let raw = req.query_string().to_owned();
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let at = std::time::Instant::now();
    let (stall, resp) = {
        let mut st = fake.lock();
        st.calls
            .push((method.clone(), path.clone(), params.clone()));
        let minute = now_ms().div_euclid(60_000);
        if minute != st.weight_minute && !st.weight_pinned {
            st.weight_minute = minute;
            st.weight = 0;
        }
        st.weight += 1;
        let weight = st.weight;
        let (stall, mut resp) = route(&mut st, &method, &path, &raw, &params, &req);
        resp.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-mbx-used-weight-1m"),
            actix_web::http::header::HeaderValue::from(weight),
        );
        let status = resp.status().as_u16();
        st.served.push(Served {
            at,
            method,
            path,
            status,
            took: at.elapsed(),
        });
        (stall, resp)
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    resp
}

fn route(
    st: &mut State,
    method: &str,
    path: &str,
    raw: &str,
    p: &BTreeMap<String, String>,
    req: &HttpRequest,
) -> (Option<Duration>, HttpResponse) {
    let signed = matches!(
        path,
        "/api/v3/account" | "/api/v3/order" | "/api/v3/myTrades"
    );
    let script = if let Some(any) = st.next_any.take() {
        Some(any)
    } else if method == "POST" && path == "/api/v3/order" && !st.script.is_empty() {
        Some(st.script.remove(0))
    } else {
        None
    };
    if let Some(script) = script {
        match script {
            Script::Status(code) => {
                return (None, err(code, -1000, "An unknown error occurred."));
            }
            Script::TooMany(secs) => {
                let mut r = err(429, -1003, "Too much request weight used.");
                r.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(secs),
                );
                return (None, r);
            }
            Script::Banned(secs) => {
                let mut r = err(418, -1003, "Way too much request weight used; IP banned.");
                r.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(secs),
                );
                return (None, r);
            }
            Script::ExecuteThen500 => {
                let _ = place(st, p);
                return (None, err(500, -1000, "An unknown error occurred."));
            }
            Script::ExecuteThenStall(d) => {
                let r = place(st, p);
                return (Some(d), r);
            }
        }
    }
    if signed {
        let key = req
            .headers()
            .get("X-MBX-APIKEY")
            .and_then(|v| v.to_str().ok());
        if key != Some(API_KEY) {
            return (
                None,
                err(
                    401,
                    -2015,
                    "Invalid API-key, IP, or permissions for action.",
                ),
            );
        }
        let Some((payload, sig)) = raw.rsplit_once("&signature=") else {
            return (
                None,
                err(400, -1102, "Mandatory parameter 'signature' was not sent."),
            );
        };
        if signature(API_SECRET.as_bytes(), payload) != sig {
            return (
                None,
                err(400, -1022, "Signature for this request is not valid."),
            );
        }
        let ts: i64 = p.get("timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
        let window: i64 = p
            .get("recvWindow")
            .and_then(|t| t.parse().ok())
            .unwrap_or(5000);
        let server = now_ms() + st.clock_offset_ms;
        if ts > server + 1000 || server - ts > window {
            return (
                None,
                err(
                    400,
                    -1021,
                    "Timestamp for this request is outside of the recvWindow.",
                ),
            );
        }
    }
    let resp = match (method, path) {
        ("GET", "/api/v3/time") => {
            HttpResponse::Ok().json(json!({"serverTime": now_ms() + st.clock_offset_ms}))
        }
        ("GET", "/api/v3/exchangeInfo") => {
            if p.get("symbol").map(String::as_str) != Some("BTCUSDT") {
                return (None, err(400, -1121, "Invalid symbol."));
            }
            HttpResponse::Ok().json(json!({"timezone": "UTC", "serverTime": now_ms(), "symbols": [{
                "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                    {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true, "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
                ]}]}))
        }
        ("GET", "/api/v3/depth") => {
            if p.get("symbol").map(String::as_str) != Some("BTCUSDT") {
                return (None, err(400, -1121, "Invalid symbol."));
            }
            HttpResponse::Ok().json(json!({"lastUpdateId": 1027024,
                "bids": [[s(st.bid), "10.00000000"], [s(st.bid - dec!(1)), "10.00000000"]],
                "asks": [[s(st.ask), "10.00000000"], [s(st.ask + dec!(1)), "10.00000000"]]}))
        }
        ("GET", "/api/v3/ticker/bookTicker") => {
            let symbol = p.get("symbol").cloned().unwrap_or_default();
            match st.tickers.get(&symbol) {
                Some((bid, ask)) => HttpResponse::Ok().json(json!({"symbol": symbol,
                    "bidPrice": s(*bid), "bidQty": "10.00000000", "askPrice": s(*ask), "askQty": "10.00000000"})),
                None => return (None, err(400, -1121, "Invalid symbol.")),
            }
        }
        ("GET", "/api/v3/account") => HttpResponse::Ok().json(json!({
            "makerCommission": 10, "takerCommission": 10, "canTrade": true, "accountType": "SPOT",
            "balances": st.balances.iter().map(|(a, v)| json!({"asset": a, "free": s(*v), "locked": "0.00000000"})).collect::<Vec<_>>()
        })),
        ("POST", "/api/v3/order") => place(st, p),
        ("GET", "/api/v3/order") => match find(st, p) {
            Some(o) => HttpResponse::Ok().json(order_json(&o, &[], false)),
            None => err(400, -2013, "Order does not exist."),
        },
        ("DELETE", "/api/v3/order") => match find(st, p) {
            Some(o) if matches!(o.status.as_str(), "NEW" | "PARTIALLY_FILLED") => {
                let i = st.orders.iter().position(|x| x.order_id == o.order_id).expect("order");
                st.orders[i].status = "CANCELED".into();
                let mut v = order_json(&st.orders[i], &[], false);
                v["origClientOrderId"] = json!(o.client_order_id);
                v["clientOrderId"] = json!("cancel-by-fake");
                HttpResponse::Ok().json(v)
            }
            _ => err(400, -2011, "Unknown order sent."),
        },
        ("GET", "/api/v3/myTrades") => {
            let order_id: Option<i64> = p.get("orderId").and_then(|v| v.parse().ok());
            let trades: Vec<Value> = st
                .trades
                .iter()
                .filter(|t| order_id.is_none_or(|id| t.order_id == id))
                .map(|t| {
                    json!({"symbol": t.symbol, "id": t.id, "orderId": t.order_id, "orderListId": -1,
                        "price": s(t.price), "qty": s(t.qty), "quoteQty": s(t.price * t.qty),
                        "commission": s(t.commission), "commissionAsset": t.commission_asset,
                        "time": t.time, "isBuyer": true, "isMaker": t.is_maker, "isBestMatch": true})
                })
                .collect();
            HttpResponse::Ok().json(trades)
        }
        _ => HttpResponse::NotFound().json(json!({"code": -1000, "msg": "no such endpoint"})),
    };
    (None, resp)
}

fn find(st: &State, p: &BTreeMap<String, String>) -> Option<FakeOrder> {
    let id = p.get("origClientOrderId")?;
    st.orders
        .iter()
        .find(|o| &o.client_order_id == id && Some(&o.symbol) == p.get("symbol"))
        .cloned()
}

fn place(st: &mut State, p: &BTreeMap<String, String>) -> HttpResponse {
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    if get("symbol") != "BTCUSDT" {
        return err(400, -1121, "Invalid symbol.");
    }
    let cid = get("newClientOrderId");
    if st.orders.iter().any(|o| {
        o.client_order_id == cid && matches!(o.status.as_str(), "NEW" | "PARTIALLY_FILLED")
    }) {
        return err(400, -2010, "Duplicate order sent.");
    }
    let qty: Decimal = get("quantity").parse().unwrap_or_default();
    let kind = get("type");
    let side = get("side");
    let price: Decimal = if kind == "LIMIT" {
        get("price").parse().unwrap_or_default()
    } else if side == "BUY" {
        st.ask
    } else {
        st.bid
    };
    if kind == "LIMIT" && !is_multiple(price, dec!(0.01)) {
        return err(400, -1013, "Filter failure: PRICE_FILTER");
    }
    if qty < dec!(0.00001) || !is_multiple(qty, dec!(0.00001)) {
        return err(400, -1013, "Filter failure: LOT_SIZE");
    }
    if qty * price < dec!(5) {
        return err(400, -1013, "Filter failure: NOTIONAL");
    }
    let (asset, need) = if side == "BUY" {
        ("USDT", qty * price)
    } else {
        ("BTC", qty)
    };
    if st.balances.get(asset).copied().unwrap_or_default() < need {
        return err(
            400,
            -2010,
            "Account has insufficient balance for requested action.",
        );
    }
    st.next_id += 1;
    let order = FakeOrder {
        order_id: st.next_id,
        client_order_id: cid,
        symbol: "BTCUSDT".into(),
        side: side.clone(),
        kind: kind.clone(),
        price: if kind == "LIMIT" {
            price
        } else {
            Decimal::ZERO
        },
        qty,
        executed: Decimal::ZERO,
        quote: Decimal::ZERO,
        status: "NEW".into(),
        time: now_ms(),
    };
    st.orders.push(order);
    let i = st.orders.len() - 1;
    let crosses = kind == "MARKET"
        || (side == "BUY" && price >= st.ask)
        || (side == "SELL" && price <= st.bid);
    if crosses {
        let at = if side == "BUY" { st.ask } else { st.bid };
        execute(st, i, qty, at, false);
    }
    let o = st.orders[i].clone();
    HttpResponse::Ok().json(order_json(&o, &st.trades, true))
}

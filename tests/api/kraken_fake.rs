//! A local fake of Kraken Spot REST speaking its documented shapes: every answer is
//! `{"error":[…],"result":…}` with HTTP 200, errors included. Public `AssetPairs` and `Depth`
//! come from the recorded fixtures (`shift` moves every price); private calls check `API-Key`,
//! `API-Sign` (recomputed from the secret) and that the nonce grows, then act on an in-memory
//! account: market orders fill at once against the recorded best level (fee 0.4 % in quote),
//! limit orders rest, `validate=true` places nothing; `BalanceEx` follows the fills. `script` makes the next AddOrder calls
//! misbehave the way Kraken can.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use ai_service::adapters::kraken::sign::{api_sign, decode_secret};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub const API_KEY: &str = "fake-kraken-api-key";
/// The secret from Kraken's authentication guide (base64).
pub const SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
pub const FILL_BUY: &str = "91852.4";
pub const FILL_SELL: &str = "91852.3";

/// How the next AddOrder behaves.
#[derive(Debug, Clone)]
pub enum Script {
    /// An error in the 200 body; nothing placed.
    Error(&'static str),
    /// `EAPI:Invalid nonce` however big the nonce; nothing placed.
    InvalidNonce,
    /// The order is placed, but the answer is `EService:Unavailable`.
    UnavailableButPlaced,
    /// The order is placed, but the answer comes after this long (past the client's timeout).
    SlowButPlaced(Duration),
    /// The order is placed, the answer is `EService:Unavailable`, and the next this many
    /// `OpenOrders`/`ClosedOrders` pairs do not show it yet (Kraken's books lagging).
    UnavailablePlacedShownLate(u32),
}

#[derive(Debug, Clone)]
pub struct FakeOrder {
    pub txid: String,
    pub cl_ord_id: String,
    pub pair: String,
    pub side: String,
    pub ordertype: String,
    pub vol: Decimal,
    pub vol_exec: Decimal,
    pub status: &'static str,
    /// Lookups (`ClosedOrders`, the second of each pair) still to miss it.
    pub hidden_for: u32,
}

#[derive(Default)]
pub struct State {
    pub script: VecDeque<Script>,
    /// Every private call: method and form fields.
    pub calls: Vec<(String, HashMap<String, String>)>,
    /// When each of `calls` arrived (same order).
    pub call_times: Vec<Instant>,
    /// When each scripted AddOrder error was answered, with the error.
    pub errors_served: Vec<(Instant, &'static str)>,
    pub orders: Vec<FakeOrder>,
    pub trades: Vec<(String, Value)>,
    pub last_nonce: u64,
    pub bad_signatures: u32,
    /// Added to every public book price (a moving market).
    pub shift: Decimal,
    /// `BalanceEx` by Kraken asset code: (balance, hold_trade). `None`: the recorded account
    /// (`XXBT` 0.5 with 0.1 held, `ZUSD` 1000, `USDT` 2500.5, staked `XBT.F` 0.1).
    pub balances: Option<BTreeMap<String, (Decimal, Decimal)>>,
    /// Every private call is held this long after it arrives (calls overlapping in time).
    pub hold: Option<Duration>,
    /// Private calls being answered now, and the most there ever were at once.
    pub in_flight: u32,
    pub max_in_flight: u32,
    seq: u64,
}

/// The account `Balance` and `BalanceEx` describe until a test sets `State::balances`.
pub fn recorded_balances() -> BTreeMap<String, (Decimal, Decimal)> {
    let d = |s: &str| s.parse::<Decimal>().expect("decimal");
    BTreeMap::from([
        ("XXBT".to_owned(), (d("0.5000000000"), d("0.1000000000"))),
        ("ZUSD".to_owned(), (d("1000.0000"), d("0.0000"))),
        ("USDT".to_owned(), (d("2500.50000000"), d("0"))),
        ("XBT.F".to_owned(), (d("0.1000000000"), d("0"))),
    ])
}

#[derive(Clone)]
pub struct FakeKraken {
    state: Arc<Mutex<State>>,
    pub url: String,
}

fn ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"error": [], "result": result}))
}

fn err(e: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({"error": [e]}))
}

fn shifted_depth(shift: Decimal) -> Value {
    let mut v: Value =
        serde_json::from_str(crate::market_data_fake::KRAKEN_DEPTH).expect("fixture");
    for side in ["asks", "bids"] {
        for level in v["result"]["XBTUSDT"][side].as_array_mut().expect("levels") {
            let p: Decimal = level[0].as_str().expect("price").parse().expect("dec");
            level[0] = json!((p + shift).to_string());
        }
    }
    v
}

fn info(o: &FakeOrder) -> Value {
    json!({
        "refid": null, "userref": 0, "cl_ord_id": o.cl_ord_id, "status": o.status,
        "opentm": 1_764_671_200.123_4, "starttm": 0, "expiretm": 0,
        "descr": {"pair": o.pair, "type": o.side, "ordertype": o.ordertype, "price": "0", "price2": "0",
                  "leverage": "none", "order": format!("{} {} {} @ {}", o.side, o.vol, o.pair, o.ordertype), "close": ""},
        "vol": o.vol.to_string(), "vol_exec": o.vol_exec.to_string(), "cost": "0", "fee": "0", "price": "0",
        "stopprice": "0", "limitprice": "0", "misc": "", "oflags": "fciq"
    })
}

async fn public(req: HttpRequest, fake: web::Data<FakeKraken>) -> HttpResponse {
    match req.match_info().get("method") {
        Some("AssetPairs") => HttpResponse::Ok()
            .content_type("application/json")
            .body(crate::market_data_fake::KRAKEN_ASSET_PAIRS),
        Some("Depth") => {
            let shift = fake.lock().shift;
            HttpResponse::Ok().json(shifted_depth(shift))
        }
        _ => err("EGeneral:Unknown method"),
    }
}

async fn private(req: HttpRequest, body: web::Bytes, fake: web::Data<FakeKraken>) -> HttpResponse {
    let hold = {
        let mut s = fake.lock();
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.hold
    };
    if let Some(d) = hold {
        tokio::time::sleep(d).await;
    }
    let res = answer(req, body, &fake).await;
    fake.lock().in_flight -= 1;
    res
}

async fn answer(req: HttpRequest, body: web::Bytes, fake: &FakeKraken) -> HttpResponse {
    let method = req
        .match_info()
        .get("method")
        .unwrap_or_default()
        .to_owned();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let body = String::from_utf8_lossy(&body).into_owned();
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let nonce: u64 = form
        .get("nonce")
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    let expected = api_sign(
        &decode_secret(SECRET).expect("secret"),
        &format!("/0/private/{method}"),
        nonce,
        &body,
    );
    let slow = {
        let mut s = fake.lock();
        s.calls.push((method.clone(), form.clone()));
        s.call_times.push(Instant::now());
        if header("API-Key") != API_KEY || header("API-Sign") != expected {
            s.bad_signatures += 1;
            return err("EAPI:Invalid signature");
        }
        if nonce <= s.last_nonce {
            return err("EAPI:Invalid nonce");
        }
        s.last_nonce = nonce;
        let script = if method == "AddOrder" {
            s.script.pop_front()
        } else {
            None
        };
        match script {
            Some(Script::Error(e)) => {
                s.errors_served.push((Instant::now(), e));
                return err(e);
            }
            Some(Script::InvalidNonce) => return err("EAPI:Invalid nonce"),
            Some(Script::UnavailableButPlaced) => {
                s.add_order(&form);
                return err("EService:Unavailable");
            }
            Some(Script::UnavailablePlacedShownLate(n)) => {
                s.add_order(&form);
                if let Some(o) = s.orders.last_mut() {
                    o.hidden_for = n;
                }
                return err("EService:Unavailable");
            }
            Some(Script::SlowButPlaced(d)) => {
                s.add_order(&form);
                Some(d)
            }
            None => None,
        }
    };
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
        return err("EService:Deadline elapsed");
    }
    let mut s = fake.lock();
    let cl = form.get("cl_ord_id").cloned().unwrap_or_default();
    match method.as_str() {
        "Balance" => {
            let b = s.balances.clone().unwrap_or_else(recorded_balances);
            ok(json!(
                b.iter()
                    .map(|(k, (total, _))| (k.clone(), json!(total.to_string())))
                    .collect::<serde_json::Map<_, _>>()
            ))
        }
        "BalanceEx" => {
            let b = s.balances.clone().unwrap_or_else(recorded_balances);
            ok(json!(
                b.iter()
                    .map(|(k, (total, hold))| (
                        k.clone(),
                        json!({"balance": total.to_string(), "hold_trade": hold.to_string()})
                    ))
                    .collect::<serde_json::Map<_, _>>()
            ))
        }
        "AddOrder" => {
            if form.get("validate").map(String::as_str) == Some("true") {
                return ok(json!({"descr": {"order": format!("{} {} {} @ {}",
                    form["type"], form["volume"], form["pair"], form["ordertype"])}}));
            }
            let txid = s.add_order(&form);
            ok(json!({"descr": {"order": "…"}, "txid": [txid]}))
        }
        "OpenOrders" => {
            let open: serde_json::Map<String, Value> = s
                .orders
                .iter()
                .filter(|o| o.cl_ord_id == cl && o.status == "open" && o.hidden_for == 0)
                .map(|o| (o.txid.clone(), info(o)))
                .collect();
            ok(json!({"open": open}))
        }
        "ClosedOrders" => {
            let mut hidden = false;
            for o in s.orders.iter_mut().filter(|o| o.cl_ord_id == cl) {
                if o.hidden_for > 0 {
                    o.hidden_for -= 1;
                    hidden = true;
                }
            }
            let closed: serde_json::Map<String, Value> = s
                .orders
                .iter()
                .filter(|o| o.cl_ord_id == cl && o.status != "open" && !hidden)
                .map(|o| (o.txid.clone(), info(o)))
                .collect();
            let count = closed.len();
            ok(json!({"closed": closed, "count": count}))
        }
        "CancelOrder" => match s
            .orders
            .iter_mut()
            .find(|o| o.cl_ord_id == cl && o.status == "open")
        {
            Some(o) => {
                o.status = "canceled";
                ok(json!({"count": 1}))
            }
            None => err("EOrder:Unknown order"),
        },
        "TradesHistory" => {
            let trades: serde_json::Map<String, Value> = s.trades.iter().cloned().collect();
            let count = trades.len();
            ok(json!({"trades": trades, "count": count}))
        }
        _ => err("EGeneral:Unknown method"),
    }
}

impl State {
    /// Places an order from AddOrder's form; market orders fill at once.
    fn add_order(&mut self, form: &HashMap<String, String>) -> String {
        self.seq += 1;
        let txid = format!("O{:05}-FAKE-KRKN", self.seq);
        let vol: Decimal = form["volume"].parse().expect("volume");
        let market = form["ordertype"] == "market";
        let side = form["type"].clone();
        self.orders.push(FakeOrder {
            txid: txid.clone(),
            cl_ord_id: form.get("cl_ord_id").cloned().unwrap_or_default(),
            pair: form["pair"].clone(),
            side: side.clone(),
            ordertype: form["ordertype"].clone(),
            vol,
            vol_exec: if market { vol } else { Decimal::ZERO },
            status: if market { "closed" } else { "open" },
            hidden_for: 0,
        });
        if market {
            let price: Decimal = if side == "buy" { FILL_BUY } else { FILL_SELL }
                .parse()
                .expect("price");
            let cost = price * vol;
            let fee = (cost * Decimal::new(4, 3)).round_dp(5);
            // The account follows its fills: base in or out, quote out or in, the fee (in
            // quote, as TradesHistory reports it) out.
            let (base, quote) = ("XXBT", "USDT");
            let b = self.balances.get_or_insert_with(recorded_balances);
            let sign = if side == "buy" {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            };
            b.entry(base.to_owned()).or_default().0 += sign * vol;
            b.entry(quote.to_owned()).or_default().0 -= sign * cost + fee;
            // Now, as Kraken stamps a trade: reconciliation counts fills after its baseline.
            let time = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
            self.trades.push((
                format!("T{:05}-FAKE-TRDE", self.seq),
                json!({"ordertxid": txid, "postxid": "TKH2SE-M7IF5-CFI7LT", "pair": "XBTUSDT",
                       "time": time, "type": side, "ordertype": "market",
                       "price": price.to_string(), "cost": cost.to_string(), "fee": fee.to_string(),
                       "vol": vol.to_string(), "margin": "0.00000", "misc": "", "trade_id": self.seq,
                       "maker": false}),
            ));
        }
        txid
    }
}

impl FakeKraken {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake");
        let port = listener.local_addr().expect("addr").port();
        let fake = Self {
            state: Arc::new(Mutex::new(State::default())),
            url: format!("http://127.0.0.1:{port}"),
        };
        let data = web::Data::new(fake.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/0/public/{method}", web::get().to(public))
                .route("/0/private/{method}", web::post().to(private))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        fake
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many private calls of `method` were made.
    pub fn count(&self, method: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|(m, _)| m == method)
            .count()
    }
}

//! A local fake of the venues' public market data, serving the recorded answers in
//! tests/fixtures: Binance `GET /api/v3/depth` (`BTCUSDT` only; anything else is -1121
//! Invalid symbol) and Kraken `GET /0/public/AssetPairs` and `/0/public/Depth` (`XBTUSDT`
//! only; anything else is `EQuery:Unknown asset pair` in a 200 body). `down` makes every
//! call a 503, as a venue in maintenance answers.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub const BINANCE_DEPTH: &str = include_str!("../fixtures/binance/depth_btcusdt.json");
pub const KRAKEN_ASSET_PAIRS: &str = include_str!("../fixtures/kraken/asset_pairs.json");
pub const KRAKEN_DEPTH: &str = include_str!("../fixtures/kraken/depth_xbtusdt.json");

#[derive(Default)]
pub struct State {
    pub down: bool,
    /// Every request: path and query.
    pub requests: Vec<String>,
}

#[derive(Clone)]
pub struct FakeMarket {
    state: Arc<Mutex<State>>,
    pub url: String,
}

fn json(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

async fn handle(req: HttpRequest, fake: web::Data<FakeMarket>) -> HttpResponse {
    let query: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    {
        let mut state = fake.lock();
        state
            .requests
            .push(format!("{}?{}", req.path(), req.query_string()));
        if state.down {
            return HttpResponse::ServiceUnavailable().finish();
        }
    }
    let arg = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    match req.path() {
        "/api/v3/depth" if arg("symbol") == "BTCUSDT" => json(BINANCE_DEPTH),
        "/api/v3/depth" => HttpResponse::BadRequest()
            .content_type("application/json")
            .body(r#"{"code":-1121,"msg":"Invalid symbol."}"#),
        "/0/public/AssetPairs" => json(KRAKEN_ASSET_PAIRS),
        "/0/public/Depth" if arg("pair") == "XBTUSDT" => json(KRAKEN_DEPTH),
        "/0/public/Depth" => json(r#"{"error":["EQuery:Unknown asset pair"]}"#),
        _ => HttpResponse::NotFound().finish(),
    }
}

impl FakeMarket {
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
                .default_service(web::to(handle))
        })
        .workers(1)
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
}

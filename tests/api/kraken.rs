//! The `kraken` connector against a local fake Kraken (documented shapes, errors inside 200
//! bodies): signed calls and balances, market fills from TradesHistory with the fee, symbol
//! mapping, insufficient funds, the nonce retry, the rate-limit pause, an unknown outcome
//! (EService:Unavailable, a timeout) resolved by client id without placing twice, cancel by
//! client id, sandbox (`validate=true`: nothing placed), nonces increasing across restarts over
//! one database, and a grid strategy deployed on `kraken` in sandbox through the API.

use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::kraken_fake::{API_KEY, FakeKraken, SECRET, Script};
use crate::on_both_backends;
use crate::trading_api::{command, create};
use actors::trading::connector::{Connector, ConnectorError};
use actors::trading::order::OrderStatus;
use actors::trading::types::{Fees, Liquidity, OrderKind, OrderRequest, Side};
use ai_service::adapters::kraken::connector::{
    KrakenAccess, KrakenConfig, KrakenConnector, KrakenSetup,
};
use ai_service::adapters::kraken::nonce::{MemoryNonceStore, MicrosClock, NonceStore, Nonces};
use ai_service::db::{Db, DbHandle};
use ai_service::trading::nonce_store::SqlNonceStore;
use async_trait::async_trait;
use rust_decimal::{Decimal, dec};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(nonces_increase_across_restarts_over_one_database);

struct Setup {
    live: bool,
}

#[async_trait]
impl KrakenSetup for Setup {
    async fn load(&self) -> Result<Option<KrakenAccess>, String> {
        Ok(Some(KrakenAccess {
            live: self.live,
            api_key: SecretString::from(API_KEY),
            api_secret: SecretString::from(SECRET),
        }))
    }
}

fn connector(fake: &FakeKraken, live: bool) -> KrakenConnector {
    connector_with_window(fake, live, Duration::from_secs(60))
}

fn connector_with_window(
    fake: &FakeKraken,
    live: bool,
    unknown_order_window: Duration,
) -> KrakenConnector {
    KrakenConnector::new(
        KrakenConfig {
            base_url: fake.url.clone(),
            fees: Fees {
                maker: dec!(0.0025),
                taker: dec!(0.004),
            },
            rate_limit_pause: Duration::from_secs(60),
            request_timeout: Duration::from_millis(500),
            unknown_order_window,
        },
        Arc::new(Setup { live }),
        Arc::new(MemoryNonceStore::default()),
    )
    .expect("connector")
}

fn connector_with_pause(fake: &FakeKraken, rate_limit_pause: Duration) -> KrakenConnector {
    KrakenConnector::new(
        KrakenConfig {
            base_url: fake.url.clone(),
            fees: Fees {
                maker: dec!(0.0025),
                taker: dec!(0.004),
            },
            rate_limit_pause,
            request_timeout: Duration::from_millis(500),
            unknown_order_window: Duration::from_secs(60),
        },
        Arc::new(Setup { live: true }),
        Arc::new(MemoryNonceStore::default()),
    )
    .expect("connector")
}

fn market_buy(id: &str, qty: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: id.to_owned(),
        symbol: "BTC-USDT".to_owned(),
        side: Side::Buy,
        kind: OrderKind::Market,
        qty,
    }
}

#[actix_web::test]
async fn signed_calls_and_balances_by_our_asset_names() {
    let fake = FakeKraken::start().await;
    let k = connector(&fake, true);
    let balances = k.balances().await.expect("balances");
    // Free: BalanceEx's balance minus hold_trade (0.5 − 0.1 held by open orders).
    assert_eq!(balances.get("BTC"), Some(&dec!(0.4)), "{balances:?}");
    assert_eq!(balances.get("USD"), Some(&dec!(1000)));
    assert_eq!(balances.get("USDT"), Some(&dec!(2500.5)));
    assert_eq!(balances.len(), 3, "staked XBT.F left out: {balances:?}");
    let sheet = k.balance_sheet().await.expect("balance sheet");
    assert_eq!(
        (sheet["BTC"].free, sheet["BTC"].locked, sheet["BTC"].total()),
        (dec!(0.4), dec!(0.1), dec!(0.5))
    );
    assert_eq!(sheet["USDT"].locked, dec!(0));
    assert_eq!(fake.lock().bad_signatures, 0);
    let book = k.order_book("BTC-USDT", 3).await.expect("book");
    assert_eq!(book.best_ask(), Some(dec!(91852.4)));
    assert_eq!(
        book.asks.len(),
        5,
        "Kraken's count=3 is the fake's to honour"
    );
    let e = k.order_book("FOO-BAR", 3).await.expect_err("unlisted");
    assert!(matches!(e, ConnectorError::Rejected(m) if m.contains("does not list FOO-BAR")));
}

#[actix_web::test]
async fn a_live_market_order_fills_from_trades_history_with_its_fee() {
    let fake = FakeKraken::start().await;
    let k = connector(&fake, true);
    let placed = k
        .place(&market_buy("ais-1-aa-1", dec!(0.01)))
        .await
        .expect("placed");
    assert_eq!(placed.status, OrderStatus::Open);
    assert_eq!(placed.venue_order_id, "O00001-FAKE-KRKN");
    {
        let s = fake.lock();
        let (_, form) = s.calls.iter().find(|(m, _)| m == "AddOrder").expect("sent");
        assert_eq!(
            form["pair"], "XBTUSDT",
            "BTC-USDT mapped through AssetPairs"
        );
        assert_eq!(form["ordertype"], "market");
        assert_eq!(form["volume"], "0.01");
        assert!(
            uuid::Uuid::parse_str(&form["cl_ord_id"]).is_ok(),
            "{form:?}"
        );
        assert!(!form.contains_key("validate"));
    }
    let report = k
        .order_status("BTC-USDT", "ais-1-aa-1")
        .await
        .expect("status")
        .expect("known");
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(report.filled_qty, dec!(0.01));
    assert_eq!(report.fills.len(), 1);
    let fill = &report.fills[0];
    assert_eq!(fill.trade_id, "T00001-FAKE-TRDE");
    assert_eq!(fill.price, dec!(91852.4));
    assert_eq!(
        fill.fee,
        dec!(3.6741),
        "0.4 % of 918.524 USDT, in the quote asset"
    );
    // TradesHistory's `fee` is in the quote currency: reported as charged, valued as is.
    assert_eq!(
        (fill.fee_amount, fill.fee_asset.as_str(), fill.fee_valued),
        (dec!(3.6741), "USDT", true)
    );
    assert_eq!(fill.liquidity, Liquidity::Taker);
    // Asked again, the same trade id: the engine deduplicates fills on it.
    let again = k
        .order_status("BTC-USDT", "ais-1-aa-1")
        .await
        .expect("status")
        .expect("known");
    assert_eq!(again.fills[0].trade_id, fill.trade_id);
    assert_eq!(
        k.order_status("BTC-USDT", "ais-never-sent")
            .await
            .expect("asked"),
        None
    );
}

#[actix_web::test]
async fn insufficient_funds_in_a_200_body_is_a_rejection() {
    let fake = FakeKraken::start().await;
    fake.lock()
        .script
        .push_back(Script::Error("EOrder:Insufficient funds"));
    let k = connector(&fake, true);
    let e = k
        .place(&market_buy("ais-2-aa-1", dec!(5)))
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, ConnectorError::Rejected(m) if m.contains("EOrder:Insufficient funds")),
        "{e}"
    );
    assert!(fake.lock().orders.is_empty());
}

#[actix_web::test]
async fn an_invalid_nonce_is_retried_once_with_a_new_nonce() {
    let fake = FakeKraken::start().await;
    fake.lock().script.push_back(Script::InvalidNonce);
    let k = connector(&fake, true);
    k.place(&market_buy("ais-3-aa-1", dec!(0.01)))
        .await
        .expect("placed on the retry");
    assert_eq!(fake.count("AddOrder"), 2);
    assert_eq!(fake.lock().orders.len(), 1);
    let nonces: Vec<u64> = fake
        .lock()
        .calls
        .iter()
        .filter(|(m, _)| m == "AddOrder")
        .map(|(_, f)| f["nonce"].parse().expect("nonce"))
        .collect();
    assert!(nonces[1] > nonces[0], "{nonces:?}");

    // Twice in a row: the error, not a loop.
    fake.lock()
        .script
        .extend([Script::InvalidNonce, Script::InvalidNonce]);
    let e = k
        .place(&market_buy("ais-3-aa-2", dec!(0.01)))
        .await
        .expect_err("given up");
    assert!(
        matches!(&e, ConnectorError::Unavailable(m) if m.contains("Invalid nonce")),
        "{e}"
    );
}

/// Kraken checks a nonce against the highest it has received: calls in flight together can
/// arrive in the other order and the smaller nonce is refused. One key's private calls take
/// turns, so concurrent callers (tick, reconciliation, the balances endpoint) never overlap.
#[actix_web::test]
async fn concurrent_private_calls_take_turns_so_nonces_arrive_in_order() {
    let fake = FakeKraken::start().await;
    fake.lock().hold = Some(Duration::from_millis(15));
    let k = Arc::new(connector(&fake, true));
    let calls = (0..8).map(|_| {
        let k = Arc::clone(&k);
        tokio::spawn(async move { k.balances().await })
    });
    for r in futures::future::join_all(calls).await {
        r.expect("joined").expect("balances");
    }
    let s = fake.lock();
    assert_eq!(s.max_in_flight, 1, "private calls overlapped");
    assert_eq!(s.calls.len(), 8, "no call refused and retried");
}

#[actix_web::test]
async fn a_rate_limit_pauses_every_call_to_the_venue() {
    let fake = FakeKraken::start().await;
    fake.lock()
        .script
        .push_back(Script::Error("EAPI:Rate limit exceeded"));
    let k = connector(&fake, true);
    let e = k
        .place(&market_buy("ais-4-aa-1", dec!(0.01)))
        .await
        .expect_err("limited");
    assert!(
        matches!(&e, ConnectorError::Paused(m) if m.contains("rate limit")),
        "{e}"
    );
    let calls = fake.lock().calls.len();
    let e = k.balances().await.expect_err("paused");
    assert!(
        matches!(&e, ConnectorError::Paused(m) if m.contains("paused")),
        "{e}"
    );
    assert_eq!(
        fake.lock().calls.len(),
        calls,
        "nothing was sent while paused"
    );

    let fake = FakeKraken::start().await;
    fake.lock()
        .script
        .push_back(Script::Error("EGeneral:Temporary lockout"));
    let k = connector(&fake, true);
    k.place(&market_buy("ais-4-aa-2", dec!(0.01)))
        .await
        .expect_err("locked out");
    k.balances().await.expect_err("paused after a lockout too");
    assert_eq!(fake.count("Balance"), 0);
}

#[actix_web::test]
async fn an_unknown_outcome_is_resolved_by_client_id_without_placing_twice() {
    // EService:Unavailable, yet Kraken placed it.
    let fake = FakeKraken::start().await;
    fake.lock().script.push_back(Script::UnavailableButPlaced);
    let k = connector(&fake, true);
    let report = k
        .place(&market_buy("ais-5-aa-1", dec!(0.01)))
        .await
        .expect("found by client id");
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(report.fills.len(), 1);
    assert_eq!(fake.count("AddOrder"), 1);
    assert_eq!(fake.lock().orders.len(), 1);

    // A timeout (the answer comes after the client gave up), the order placed.
    let fake = FakeKraken::start().await;
    fake.lock()
        .script
        .push_back(Script::SlowButPlaced(Duration::from_millis(1500)));
    let k = connector(&fake, true);
    let report = k
        .place(&market_buy("ais-5-aa-2", dec!(0.02)))
        .await
        .expect("found by client id");
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(report.filled_qty, dec!(0.02));
    assert_eq!(fake.count("AddOrder"), 1, "not sent twice");
    assert!(fake.count("OpenOrders") >= 1);
}

#[actix_web::test]
async fn an_order_kraken_shows_late_stays_pending_and_is_never_sent_twice() {
    // EService:Unavailable, placed, but invisible to the next two lookups.
    let fake = FakeKraken::start().await;
    fake.lock()
        .script
        .push_back(Script::UnavailablePlacedShownLate(3));
    let k = connector(&fake, true);
    // Asked at once after the unknown outcome: not there yet (1st lookup).
    let e = k
        .place(&market_buy("ais-late-1", dec!(0.01)))
        .await
        .expect_err("outcome unknown");
    assert!(matches!(e, ConnectorError::Unavailable(_)), "{e:?}");
    // The next ticks ask again: still not shown, so still pending — not "never placed".
    for _ in 0..2 {
        let r = k
            .order_status("BTC-USDT", "ais-late-1")
            .await
            .expect("asked")
            .expect("still possibly placed");
        assert_eq!(r.status, OrderStatus::PendingSubmit);
    }
    // The 4th lookup finds it, filled.
    let r = k
        .order_status("BTC-USDT", "ais-late-1")
        .await
        .expect("asked")
        .expect("found");
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.fills.len(), 1);
    assert_eq!(fake.count("AddOrder"), 1, "never sent again");
    assert!(fake.count("ClosedOrders") >= 4);

    // Past the window, an order Kraken never shows is taken as never placed.
    let fake = FakeKraken::start().await;
    fake.lock()
        .script
        .push_back(Script::Error("EService:Unavailable"));
    let short = connector_with_window(&fake, true, Duration::ZERO);
    let e = short
        .place(&market_buy("ais-late-2", dec!(0.01)))
        .await
        .expect_err("outcome unknown");
    assert!(matches!(e, ConnectorError::Unavailable(_)), "{e:?}");
    assert_eq!(
        short
            .order_status("BTC-USDT", "ais-late-2")
            .await
            .expect("asked"),
        None
    );
}

#[actix_web::test]
async fn a_restart_inside_the_unknown_order_window_keeps_the_order_pending() {
    // Placed, answered EService:Unavailable, and not shown by the next three lookups.
    let fake = FakeKraken::start().await;
    fake.lock()
        .script
        .push_back(Script::UnavailablePlacedShownLate(3));
    // An id the way the engine writes them: its creation time (ms, hex) first.
    let now = chrono::Utc::now().timestamp_millis();
    let id = format!("ais-{now:x}-0badcafe-1");
    let before = connector(&fake, true);
    before
        .place(&market_buy(&id, dec!(0.01)))
        .await
        .expect_err("outcome unknown");
    drop(before);
    // A restart: a new connector that never saw the order (memory gone). The engine's first
    // tick asks about its `pending_submit` order; "not found" must not mean "never placed"
    // (the engine would give it up and the strategy place its twin while it fills).
    let after = connector(&fake, true);
    for _ in 0..2 {
        let r = after
            .order_status("BTC-USDT", &id)
            .await
            .expect("asked")
            .expect("still possibly placed after a restart");
        assert_eq!(r.status, OrderStatus::PendingSubmit, "{r:?}");
    }
    let r = after
        .order_status("BTC-USDT", &id)
        .await
        .expect("asked")
        .expect("found");
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.fills.len(), 1);
    assert_eq!(fake.count("AddOrder"), 1, "never sent again");

    // Created longer ago than the window and not shown: never placed, after a restart too.
    let old = format!("ais-{:x}-0badcafe-2", now - 61_000);
    assert_eq!(
        after.order_status("BTC-USDT", &old).await.expect("asked"),
        None
    );
    // Refused in this process (a rate limit: nothing placed): never placed at once when
    // asked, however young its id.
    let fake = FakeKraken::start().await;
    fake.lock()
        .script
        .push_back(Script::Error("EGeneral:Too many requests"));
    let k = connector_with_pause(&fake, Duration::ZERO);
    let limited = format!("ais-{now:x}-0badcafe-3");
    let e = k
        .place(&market_buy(&limited, dec!(0.01)))
        .await
        .expect_err("rate limited");
    assert!(
        matches!(&e, ConnectorError::Paused(m) if m.contains("rate limit")),
        "{e}"
    );
    assert_eq!(
        k.order_status("BTC-USDT", &limited).await.expect("asked"),
        None
    );
}

#[actix_web::test]
async fn a_limit_order_is_cancelled_by_client_id() {
    let fake = FakeKraken::start().await;
    let k = connector(&fake, true);
    let order = OrderRequest {
        kind: OrderKind::Limit { price: dec!(80000) },
        ..market_buy("ais-6-aa-1", dec!(0.01))
    };
    let placed = k.place(&order).await.expect("placed");
    assert_eq!(placed.status, OrderStatus::Open);
    let cancelled = k.cancel("BTC-USDT", "ais-6-aa-1").await.expect("cancelled");
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    let e = k
        .cancel("BTC-USDT", "ais-unknown")
        .await
        .expect_err("unknown");
    assert!(matches!(e, ConnectorError::UnknownOrder(_)));
}

#[actix_web::test]
async fn sandbox_validates_and_places_nothing() {
    let fake = FakeKraken::start().await;
    let k = connector(&fake, false);
    let report = k
        .place(&market_buy("ais-7-aa-1", dec!(0.01)))
        .await
        .expect("validated");
    assert_eq!(report.status, OrderStatus::Expired);
    assert!(
        report
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("validate=true")),
        "{report:?}"
    );
    assert!(fake.lock().orders.is_empty());
    {
        let s = fake.lock();
        let (_, form) = s.calls.iter().find(|(m, _)| m == "AddOrder").expect("sent");
        assert_eq!(form["validate"], "true");
    }
    assert_eq!(
        k.order_status("BTC-USDT", "ais-7-aa-1")
            .await
            .expect("status"),
        Some(report)
    );
    assert!(!k.is_live());
    assert_eq!(k.mode(), "sandbox");
    let rules = k.symbol_rules("BTC-USDT").await.expect("rules");
    assert_eq!(
        (
            rules.tick_size,
            rules.step_size,
            rules.min_qty,
            rules.min_notional
        ),
        (dec!(0.1), dec!(0.00000001), dec!(0.00005), dec!(0.5)),
        "from AssetPairs"
    );
    assert!(rules.trading);
}

fn fixed(us: u64) -> MicrosClock {
    Arc::new(move || us)
}

async fn nonces_increase_across_restarts_over_one_database(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let store: Arc<dyn NonceStore> = Arc::new(SqlNonceStore(DbHandle::connected(db.clone())));
    let first = Nonces::new(Arc::clone(&store), "kraken:k1", fixed(1_000));
    let a = first.next().await.expect("nonce");
    let b = first.next().await.expect("nonce");
    assert!(b > a);
    // A second instance (a restart) whose clock is behind the first's.
    let second = Nonces::new(Arc::clone(&store), "kraken:k1", fixed(10));
    let c = second.next().await.expect("nonce");
    assert!(c > b, "{c} > {b}");
    // And a third after the clock jumped ahead: still increasing, from the clock.
    let third = Nonces::new(store, "kraken:k1", fixed(5_000_000_000_000_000));
    let d = third.next().await.expect("nonce");
    assert!(d > c);
    db.close().await;
}

#[actix_web::test]
async fn a_grid_strategy_runs_in_sandbox_end_to_end() {
    let fake = FakeKraken::start().await;
    let test_db = TestDb::new(Backend::Sqlite).await;
    let mut settings = test_settings(test_db.url());
    settings.trading.kraken.base_url = fake.url.clone();
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(test_db);
    let admin = app.token_for("admin").await;
    let res = app
        .call(
            "PUT",
            "/v1/settings/integrations/default/kraken",
            Some(&admin),
            Some(json!({"mode": "sandbox", "secrets": {"api_key": API_KEY, "api_secret": SECRET}})),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let connectors: Value = app
        .call("GET", "/v1/trading/connectors", Some(&admin), None)
        .await
        .json()
        .await
        .expect("json");
    let kraken = connectors
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["name"] == "kraken")
        .cloned()
        .expect("kraken listed");
    assert_eq!(kraken["live"], false);

    let token = app.token_for("trader").await;
    let id = create(
        &app,
        &token,
        json!({
            "name": "kraken-grid", "kind": "grid", "connector": "kraken", "symbols": ["BTC-USDT"],
            "params": {"lower": "90000", "upper": "94000", "levels": 8, "order_qty": "0.001"},
            "tick_interval_ms": 100,
            "risk": {"max_order_notional": "1000", "max_open_position": "10000", "max_orders_per_minute": 60, "daily_loss_limit": "1000"}
        }),
    )
    .await;
    command(&app, &token, "deploy", &id).await;
    // The grid learns where the price is, then the market falls two levels: it buys.
    eventually(
        Duration::from_secs(10),
        "the grid has read the book",
        || async {
            let ticks = ticks(&app, &token, &id).await;
            if ticks >= 2 { Ok(()) } else { Err(ticks) }
        },
    )
    .await;
    fake.lock().shift = dec!(-1000);
    let path = format!("/v1/trading/strategies/{id}/orders");
    let orders: Vec<Value> = eventually(Duration::from_secs(10), "a sandbox order", || async {
        let orders: Value = app
            .call("GET", &path, Some(&token), None)
            .await
            .json()
            .await
            .expect("json");
        let orders = orders.as_array().cloned().unwrap_or_default();
        if orders.iter().any(|o| o["status"] == "expired") {
            Ok(orders)
        } else {
            Err(orders)
        }
    })
    .await;
    let o = &orders[0];
    assert_eq!(o["side"], "buy");
    assert_eq!(o["filled_qty"], "0");
    assert!(
        o["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not placed")),
        "{o:#}"
    );
    {
        let s = fake.lock();
        let add: Vec<_> = s.calls.iter().filter(|(m, _)| m == "AddOrder").collect();
        assert!(!add.is_empty());
        assert!(add.iter().all(|(_, f)| f["validate"] == "true"));
        assert!(s.orders.is_empty(), "nothing placed in sandbox");
    }
    // AddOrder's round trip is timed like Binance's.
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("order_latency_seconds_bucket{venue=\"kraken\""),
        "kraken order latency missing"
    );
    app.stop().await;
}

/// Ticks the strategy has done (the grid's first tick only learns the price).
async fn ticks(app: &TestApp, token: &str, id: &str) -> i64 {
    crate::trading_api::strategy(app, token, id).await["ticks"]
        .as_i64()
        .unwrap_or(0)
}

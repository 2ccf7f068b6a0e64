//! Charts over HTTP: `GET /v1/financial/reports/spending.png` and `GET /v1/trading/pnl.png`
//! answer real PNGs (signature and IHDR checked by decoding), a picture saying "no data" for an
//! empty range, problem JSON naming the bad query field, and 401 without credentials.
//!
//! The pictures' heights say what was drawn: a spending chart is 120 px + 34 px per bar, a PnL
//! chart 480 px, and "no data" 240 px (all 800 px wide).

use crate::finance_api::{account, post};
use crate::helpers::{Backend, TestApp, test_settings};
use crate::on_both_backends;
use crate::trading_api::{always_buy, create};
use actors::TraceId;
use actors::trading::pnl::Position;
use actors::trading::runtime::{FillRecord, PositionRecord, TradingStore};
use actors::trading::types::{Liquidity, Side};
use ai_service::db::{Db, DbHandle};
use ai_service::trading::pnl_history::{PnlWindow, cumulative_realised};
use ai_service::trading::store::SqlTradingStore;
use rust_decimal::Decimal;
use serde_json::{Value, json};

on_both_backends!(
    spending_chart_draws_one_currency_by_category,
    pnl_chart_replays_the_fills,
    bad_chart_queries_name_the_field
);

const WIDTH: u32 = 800;
const NO_DATA: u32 = 240;

fn bars(n: u32) -> u32 {
    120 + 34 * n
}

/// GETs `path` and decodes the PNG: (width, height).
async fn png(app: &TestApp, token: &str, path: &str) -> (u32, u32) {
    let res = app.call("GET", path, Some(token), None).await;
    assert_eq!(res.status().as_u16(), 200, "{path}");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/png"),
        "{path}"
    );
    let bytes = res.bytes().await.expect("body");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{path}: PNG signature"
    );
    let reader = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()))
        .read_info()
        .expect("a PNG that decodes");
    let info = reader.info();
    (info.width, info.height)
}

/// The status and problem body of a refused GET.
async fn refused(app: &TestApp, token: Option<&str>, path: &str) -> (u16, Value) {
    let res = app.call("GET", path, token, None).await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("problem json"))
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn spending_chart_draws_one_currency_by_category(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let viewer = app.token_for("viewer").await;
    let eur = account(&app, &token, "Checking", "EUR").await;
    let usd = account(&app, &token, "Travel", "USD").await;
    let food = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Food", "kind": "expense"}),
    )
    .await;
    let rent = post(
        &app,
        &token,
        "/v1/financial/categories",
        json!({"name": "Rent", "kind": "expense"}),
    )
    .await;
    let (food, rent) = (food["id"].clone(), rent["id"].clone());
    let rows = [
        (&eur, "2026-01-05", "-10.25", Some(&food)),
        (&eur, "2026-01-20", "-4.75", Some(&food)),
        (&eur, "2026-01-01", "-900.00", Some(&rent)),
        (&eur, "2026-01-09", "-7.00", None),
        (&eur, "2026-01-25", "1000.00", None),
        (&usd, "2026-01-12", "-12.00", Some(&food)),
    ];
    for (acc, date, amount, category) in rows {
        let mut body =
            json!({"account_id": acc, "booked_date": date, "amount": amount, "description": "x"});
        if let Some(c) = category {
            body["category_id"] = c.clone();
        }
        post(&app, &token, "/v1/financial/transactions", body).await;
    }
    let base = "/v1/financial/reports/spending.png";
    // EUR has the most transactions: Rent, Food, Uncategorized (income is not spending).
    assert_eq!(png(&app, &viewer, base).await, (WIDTH, bars(3)));
    assert_eq!(
        png(
            &app,
            &viewer,
            &format!("{base}?from=2026-01-01&to=2026-01-31&currency=USD")
        )
        .await,
        (WIDTH, bars(1))
    );
    assert_eq!(
        png(
            &app,
            &viewer,
            &format!("{base}?account_id={}&from=2026-01-06", eur.as_str())
        )
        .await,
        (WIDTH, bars(2)),
        "Food (the 20th) and Uncategorized (the 9th)"
    );
    assert_eq!(
        png(&app, &viewer, &format!("{base}?from=2027-01-01")).await,
        (WIDTH, NO_DATA)
    );
    assert_eq!(
        png(&app, &viewer, &format!("{base}?currency=JPY")).await,
        (WIDTH, NO_DATA)
    );

    let (status, _) = refused(&app, None, base).await;
    assert_eq!(status, 401, "no credentials");
    app.stop().await;
}

fn fill(
    strategy: &str,
    n: u32,
    side: Side,
    qty: Decimal,
    price: Decimal,
    ts_ms: i64,
) -> FillRecord {
    FillRecord {
        venue: "paper".into(),
        trade_id: format!("t-{strategy}-{n}"),
        client_order_id: format!("c-{strategy}-{n}"),
        strategy_id: strategy.into(),
        symbol: "BTC-USDT".into(),
        side,
        qty,
        price,
        fee: Decimal::new(1, 1),
        fee_amount: Decimal::new(1, 1),
        fee_asset: "USDT".into(),
        fee_valued: true,
        liquidity: Liquidity::Taker,
        ts_ms,
        trace_id: TraceId::new("charts-test"),
        live: false,
    }
}

async fn pnl_chart_replays_the_fills(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_for("trader").await;
    let trader_strategy = create(&app, &token, always_buy("pnl-chart")).await;
    let quiet = create(&app, &token, always_buy("no-fills")).await;
    // Fills written through the runtime's own store (fills + positions + event), as a running
    // strategy would: buy 1 @ 100, buy 1 @ 110, sell 2 @ 120; 0.1 fee each.
    let url = app.db.as_ref().expect("test db").url().to_owned();
    let db = Db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let store = SqlTradingStore(DbHandle::connected(db.clone()));
    let day = 1_767_225_600_000_i64; // 2026-01-01T00:00:00Z
    let mut position = Position::default();
    let steps = [
        (Side::Buy, 100, day + 3_600_000),
        (Side::Buy, 110, day + 86_400_000),
        (Side::Sell, 120, day + 2 * 86_400_000),
    ];
    for (n, (side, price, ts)) in (0u32..).zip(steps) {
        let qty = if side == Side::Sell {
            Decimal::TWO
        } else {
            Decimal::ONE
        };
        let f = fill(&trader_strategy, n, side, qty, Decimal::from(price), ts);
        position.apply(f.side, f.qty, f.price, f.fee);
        let pos = PositionRecord {
            venue: "paper".into(),
            symbol: "BTC-USDT".into(),
            position: position.clone(),
            mark: Some(f.price),
        };
        assert!(store.record_fill(&f, &pos).await.expect("fill stored"));
    }
    // (120 − 105) × 2 − 0.3 fees = 29.7; the replay agrees with the positions table.
    let curves = cumulative_realised(&db, &PnlWindow::default(), chrono::Utc::now())
        .await
        .expect("replay");
    let expected = Decimal::new(297, 1);
    assert_eq!(curves["USDT"].last().map(|p| p.1), Some(expected));
    let report = app.call("GET", "/v1/trading/pnl", Some(&token), None).await;
    let report: Value = report.json().await.expect("json");
    assert_eq!(report["totals"]["USDT"]["realised"], "29.7");
    // A window opening after the buys counts only the sale: 2 × (120 − 105) − 0.1.
    let window = PnlWindow {
        strategy_id: Some(trader_strategy.clone()),
        from: chrono::DateTime::from_timestamp_millis(day + 2 * 86_400_000 - 1),
        to: None,
    };
    let curves = cumulative_realised(&db, &window, chrono::Utc::now())
        .await
        .expect("replay");
    assert_eq!(
        curves["USDT"].last().map(|p| p.1),
        Some(Decimal::new(299, 1))
    );
    db.close().await;

    let viewer = app.token_for("viewer").await;
    let base = "/v1/trading/pnl.png";
    assert_eq!(png(&app, &viewer, base).await, (WIDTH, 480));
    assert_eq!(
        png(&app, &viewer, &format!("{base}?strategy_id={trader_strategy}&from=2026-01-01&to=2026-01-31T00:00:00Z&currency=USDT")).await,
        (WIDTH, 480)
    );
    assert_eq!(
        png(&app, &viewer, &format!("{base}?strategy_id={quiet}")).await,
        (WIDTH, NO_DATA),
        "a strategy without fills"
    );
    assert_eq!(
        png(&app, &viewer, &format!("{base}?from=2026-02-01")).await,
        (WIDTH, NO_DATA)
    );
    assert_eq!(
        png(&app, &viewer, &format!("{base}?currency=EUR")).await,
        (WIDTH, NO_DATA)
    );

    let (status, _) = refused(&app, Some(&viewer), &format!("{base}?strategy_id=nope")).await;
    assert_eq!(status, 404);
    let (status, _) = refused(&app, None, base).await;
    assert_eq!(status, 401, "no credentials");
    app.stop().await;
}

async fn bad_chart_queries_name_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let viewer = app.token_for("viewer").await;
    let invalid: [(&str, &[&str]); 5] = [
        (
            "/v1/financial/reports/spending.png?from=2026-13-01",
            &["from"],
        ),
        (
            "/v1/financial/reports/spending.png?to=yesterday&currency=euro",
            &["to", "currency"],
        ),
        ("/v1/trading/pnl.png?from=01/02/2026", &["from"]),
        ("/v1/trading/pnl.png?from=2026-02-01&to=2026-01-01", &["to"]),
        ("/v1/trading/pnl.png?currency=usd%20t", &["currency"]),
    ];
    for (path, want) in invalid {
        let (status, problem) = refused(&app, Some(&viewer), path).await;
        assert_eq!(status, 422, "{path}: {problem:#}");
        assert_eq!(fields(&problem), *want, "{path}: {problem:#}");
    }
    // A parameter the route does not know is refused by the extractor, which names it.
    for (path, name) in [
        ("/v1/financial/reports/spending.png?colour=red", "colour"),
        ("/v1/trading/pnl.png?limit=3", "limit"),
    ] {
        let (status, problem) = refused(&app, Some(&viewer), path).await;
        assert_eq!(status, 422, "{path}: {problem:#}");
        assert_eq!(fields(&problem), [name], "{path}: {problem:#}");
    }
    app.stop().await;
}

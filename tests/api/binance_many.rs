//! Many strategies on one venue (the `binance` connector in sandbox, against the local fake):
//! every one gets its orders through, and one 429 + `Retry-After` pauses all of them — no call
//! reaches the venue during the pause, none faults, and they trade again after it. They
//! share the venue's book reads (`trading.book_cache_ms`).

use crate::binance_fake::{FakeBinance, Script};
use crate::binance_venue::{orders, set_mode, spawn, strategy_body};
use crate::helpers::{Backend, eventually};
use crate::on_both_backends;
use crate::trading_api::{command, create, strategy};
use rust_decimal::Decimal;
use serde_json::json;
use std::time::Duration;

on_both_backends!(many_strategies_trade_on_one_venue_and_a_429_pauses_them_all);

/// 20 rather than the benchmark's 100: enough to share one venue, quick in a debug build.
const STRATEGIES: usize = 20;
/// The pause the fake asks for (s).
const RETRY_AFTER: u64 = 4;
/// Requests already on their way when the 429 was answered may still arrive this long after
/// it; anything later in the pause would be a call we sent while paused.
const IN_FLIGHT: Duration = Duration::from_secs(1);

async fn filled(app: &crate::helpers::TestApp, token: &str, ids: &[String]) -> Vec<usize> {
    let mut counts = Vec::new();
    for id in ids {
        let list = orders(app, token, id).await;
        counts.push(list.iter().filter(|o| o["status"] == "filled").count());
    }
    counts
}

async fn many_strategies_trade_on_one_venue_and_a_429_pauses_them_all(backend: Backend) {
    let fake = FakeBinance::start().await;
    fake.lock()
        .balances
        .insert("USDT".to_owned(), Decimal::from(1_000_000));
    let app = spawn(backend, &fake).await;
    let admin = app.token_for("admin").await;
    let trader = app.token_for("trader").await;
    set_mode(&app, &admin, "sandbox").await;
    // Each buys 0.1 while the mid (100) is under 101 and sells it above 102.
    let mut ids = Vec::new();
    for i in 0..STRATEGIES {
        let mut body = strategy_body(
            &format!("many-{i:02}"),
            "threshold",
            json!({"buy_below": "101", "sell_above": "102", "order_qty": "0.1", "max_position": "0.1"}),
            "paper",
        );
        body["tick_interval_ms"] = json!(200);
        let id = create(&app, &trader, body).await;
        command(&app, &trader, "deploy", &id).await;
        ids.push(id);
    }
    eventually(
        Duration::from_secs(60),
        "every strategy's buy filled",
        || async {
            let counts = filled(&app, &trader, &ids).await;
            if counts.iter().all(|&c| c == 1) {
                Ok(())
            } else {
                Err(counts)
            }
        },
    )
    .await;
    assert_eq!(fake.count("POST", "/api/v3/order"), STRATEGIES);

    // The next request, whichever strategy sends it, meets a 429.
    fake.lock().next_any = Some(Script::TooMany(RETRY_AFTER));
    let limited_at = eventually(Duration::from_secs(10), "the 429 served", || async {
        fake.lock()
            .served
            .iter()
            .find(|s| s.status == 429)
            .map(|s| s.at)
            .ok_or("not yet")
    })
    .await;
    // Above 102: once the pause is over, every strategy sells what it holds.
    fake.set_book(Decimal::new(10299, 2), Decimal::new(10301, 2));
    eventually(
        Duration::from_secs(60),
        "every strategy's sell filled after the pause",
        || async {
            let counts = filled(&app, &trader, &ids).await;
            if counts.iter().all(|&c| c == 2) {
                Ok(())
            } else {
                Err(counts)
            }
        },
    )
    .await;
    let pause_end = limited_at + Duration::from_secs(RETRY_AFTER);
    let during: Vec<String> = fake
        .lock()
        .served
        .iter()
        .filter(|s| s.at > limited_at + IN_FLIGHT && s.at < pause_end)
        .map(|s| format!("{} {} {}", s.method, s.path, s.status))
        .collect();
    assert!(during.is_empty(), "called while paused: {during:?}");
    // Calls resumed after the pause (the sells above went through it).
    assert!(fake.lock().served.iter().any(|s| s.at >= pause_end));
    // A pause is not a failure: no strategy faulted over the skipped ticks.
    let mut ticks = 0;
    for id in &ids {
        let s = strategy(&app, &trader, id).await;
        assert_eq!(s["state"], "live", "{s:#}");
        ticks += s["ticks"].as_i64().expect("ticks");
    }
    // One book read serves every strategy on the symbol for `trading.book_cache_ms` (200 ms):
    // 20 strategies ticking every 200 ms share each depth request (one each, before).
    let depth = i64::try_from(fake.count("GET", "/api/v3/depth")).expect("count");
    assert!(
        depth * 4 < ticks,
        "{depth} depth requests for {ticks} ticks: books are not shared"
    );
    app.stop().await;
}

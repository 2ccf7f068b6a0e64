//! Trading runtime benchmark (not a test), two runs (`bench/trading.sh` does both):
//! - `paper` (default): N live paper strategies (default 100) ticking at 1 s inside the real
//!   service; the process's CPU share of one core (target ≤ 5 %) and its RSS.
//! - `--venue binance`: N strategies (grid/threshold mix) on the `binance` connector in sandbox
//!   mode against the API tests' fake Binance, run in a child process on 127.0.0.1 (its CPU is
//!   not ours). Adds the order round trip: from the strategy's decision until the venue's
//!   answer is applied and committed, minus the HTTP calls inside it (wire + fake), as p50 /
//!   p99 / max (target p99 ≤ 1 ms), next to the HTTP time and the fake's own handler time.
//!
//! SQLite by default, or `--postgres URL`. Run via `bench/trading.sh`.
#![allow(clippy::print_stdout)]

mod fake_venue;
mod round_trips;

use ai_service::config::{Secret, SecretUrl, Settings};
use ai_service::db::Db;
use ai_service::startup::Application;
use ai_service::trading::store::StrategyRow;
use std::time::{Duration, Instant};

/// utime + stime of this process, in clock ticks (100 Hz on Linux).
fn cpu_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("odd /proc/self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).copied().unwrap_or("0").parse()?;
    let stime: u64 = fields.get(12).copied().unwrap_or("0").parse()?;
    Ok(utime + stime)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn strategy(i: usize, binance: bool) -> StrategyRow {
    // Half grid, half threshold, around the start price (100), so they trade. The fake Binance
    // lists BTCUSDT only, swings ±1.5 and wants ≥ 5 USDT a order (0.1 × 100).
    let (kind, params) = match (i.is_multiple_of(2), binance) {
        (true, false) => (
            "grid",
            serde_json::json!({"lower": "95", "upper": "105", "levels": 20, "order_qty": "0.01"}),
        ),
        (false, false) => (
            "threshold",
            serde_json::json!({"buy_below": "99.9", "sell_above": "100.1", "order_qty": "0.01", "max_position": "0.05"}),
        ),
        (true, true) => (
            "grid",
            serde_json::json!({"lower": "97", "upper": "103", "levels": 12, "order_qty": "0.1"}),
        ),
        (false, true) => (
            "threshold",
            serde_json::json!({"buy_below": "99.5", "sell_above": "100.5", "order_qty": "0.1", "max_position": "0.3"}),
        ),
    };
    let symbol = if binance || i % 4 < 2 {
        "BTC-USDT"
    } else {
        "ETH-USDT"
    };
    StrategyRow {
        id: format!("bench-{i:03}"),
        name: format!("bench-{i:03}"),
        kind: kind.to_owned(),
        params: params.to_string(),
        connector: if binance { "binance" } else { "paper" }.to_owned(),
        symbols: serde_json::json!([symbol]).to_string(),
        // On a sandbox venue a strategy runs as paper: only a live venue takes `live` ones.
        mode: "paper".to_owned(),
        tick_interval_ms: 1000,
        max_order_notional: "100".to_owned(),
        max_open_position: "1000".to_owned(),
        max_orders_per_minute: 30,
        daily_loss_limit: "1000".to_owned(),
        // Stored as live: with `resume_on_restart` the service resumes them all at boot.
        state: "live".to_owned(),
        state_version: 1,
        state_since: 0,
        state_reason: None,
        last_tick_at: None,
        ticks: 0,
        slow_ticks: 0,
        pnl_day: None,
        pnl_day_start: None,
        created_at: 0,
        updated_at: 0,
    }
}

const TICKS: &str = "SELECT CAST(COALESCE(SUM(ticks), 0) AS BIGINT) FROM strategies";
/// The master key of secrets at rest in this throwaway database.
const MASTER_KEY: [u8; 32] = [9; 32];

#[actix_web::main]
async fn main() {
    // Exit at once on error: unwinding the runtime with the app's tasks still in it would
    // hide the error behind their drop-time panics.
    let res = if std::env::args().any(|a| a == fake_venue::CHILD_FLAG) {
        fake_venue::serve().await
    } else {
        run().await
    };
    if let Err(e) = res {
        eprintln!("bench_trading: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

/// Stores the `binance` integration in sandbox mode with the fake's keys, as the settings API
/// would.
async fn configure_binance(db: &Db) -> anyhow::Result<()> {
    use ai_service::adapters::binance::{API_KEY_SECRET, API_SECRET_SECRET, ENVIRONMENT, PROVIDER};
    use ai_service::api::settings::aad;
    use ai_service::db::integrations::{SecretWrite, upsert};
    let cipher = ai_service::crypto::Cipher::new(&MASTER_KEY);
    let mut put = Vec::new();
    for (name, value) in [
        (API_KEY_SECRET, fake_venue::API_KEY),
        (API_SECRET_SECRET, fake_venue::API_SECRET),
    ] {
        put.push(SecretWrite {
            name: name.to_owned(),
            ciphertext: cipher.encrypt(value.as_bytes(), &aad(ENVIRONMENT, PROVIDER, name))?,
            last4: String::new(),
        });
    }
    upsert(db, ENVIRONMENT, PROVIDER, "sandbox", "bench", &put, &[]).await?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut postgres = None;
    let mut binance = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--postgres" => postgres = args.next(),
            "--venue" => binance = args.next().as_deref() == Some("binance"),
            _ => {}
        }
    }
    let n: usize = std::env::var("STRATEGIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let secs: u64 = std::env::var("SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let round_trips = round_trips::RoundTrips::default();
    {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry()
            .with(
                round_trips
                    .clone()
                    .with_filter(tracing_subscriber::filter::filter_fn(round_trips::wanted)),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
            )
            .init();
    }
    let mut fake = if binance {
        Some(fake_venue::FakeProcess::spawn()?)
    } else {
        None
    };
    let dir = tempfile::tempdir()?;
    let url = match &postgres {
        Some(admin) => {
            let name = format!("bench_trading_{}", std::process::id());
            let admin_db = Db::connect(&settings_for(admin).database).await?;
            admin_db.execute(format!("CREATE DATABASE {name}")).await?;
            admin_db.close().await;
            let (base, _) = admin.rsplit_once('/').unwrap_or((admin.as_str(), ""));
            format!("{base}/{name}")
        }
        None => format!("sqlite://{}/bench.db", dir.path().display()),
    };
    let mut settings = settings_for(&url);
    if let Some(fake) = &fake {
        settings.trading.binance.testnet_url = fake.url.clone();
        settings.trading.binance.live_url = fake.url.clone();
        // Each strategy polls the depth every tick: 100 strategies make 6000+ requests a
        // minute, over Binance's weight budget, and the connector would rightly wait for the
        // next minute. The budget is not what this run measures.
        settings.trading.binance.weight_limit = 1_000_000_000;
    }
    let db = Db::connect(&settings.database).await?;
    db.migrate().await?;
    if binance {
        configure_binance(&db).await?;
    }
    for i in 0..n {
        ai_service::trading::strategies::insert(&db, &strategy(i, binance)).await?;
    }

    let mut app = Application::build(settings).await?;
    let stop = app.stop_handle();
    let rss_before = rss_mib();
    let server = actix_web::rt::spawn(app.run_until_stopped());
    // Warm-up: the venues open, every strategy reconciles and starts ticking.
    tokio::time::sleep(Duration::from_secs(5)).await;
    round_trips.take();
    if let Some(fake) = &mut fake {
        fake.stats()?;
    }
    let (t0, c0) = (Instant::now(), cpu_ticks()?);
    let ticks0: i64 = db.fetch_scalar(TICKS).await?;
    let orders0: i64 = db.fetch_scalar("SELECT COUNT(*) FROM orders").await?;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (c1, elapsed) = (cpu_ticks()?, t0.elapsed().as_secs_f64());
    let samples = round_trips.take();
    let fake_stats = match &mut fake {
        Some(fake) => Some(fake.stats()?),
        None => None,
    };
    let ticks1: i64 = db.fetch_scalar(TICKS).await?;
    let orders1: i64 = db.fetch_scalar("SELECT COUNT(*) FROM orders").await?;
    #[allow(clippy::cast_precision_loss)]
    let cpu = (c1 - c0) as f64 / 100.0 / elapsed * 100.0;
    println!(
        "backend: {}, venue: {}",
        if postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        if binance {
            "binance (sandbox, fake on 127.0.0.1 in a child process)"
        } else {
            "paper"
        }
    );
    println!("strategies live: {n} (tick 1 s), measured over {elapsed:.1} s after 5 s warm-up");
    #[allow(clippy::cast_precision_loss)]
    let per_s = |v: i64| v as f64 / elapsed;
    println!(
        "ticks: {} ({:.1}/s), orders: {} ({:.1}/s), {orders1} in all",
        ticks1 - ticks0,
        per_s(ticks1 - ticks0),
        orders1 - orders0,
        per_s(orders1 - orders0),
    );
    #[allow(clippy::cast_precision_loss)]
    let per_strategy = cpu / n as f64;
    println!(
        "CPU: {cpu:.2} % of one core, {per_strategy:.3} % per strategy (target <= 5 % in all)"
    );
    println!(
        "RSS: {:.1} MiB (before strategies started: {rss_before:.1} MiB)",
        rss_mib()
    );
    if binance {
        let mut ours: Vec<Duration> = samples.iter().map(round_trips::Sample::ours).collect();
        let mut http: Vec<Duration> = samples.iter().map(|s| s.http).collect();
        let mut db_writes: Vec<Duration> = samples.iter().map(|s| s.db).collect();
        let mut total: Vec<Duration> = samples.iter().map(|s| s.total).collect();
        let line = |name: &str, v: &mut [Duration]| match round_trips::percentiles(v) {
            Some((p50, p99, max)) => println!(
                "{name}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                ms(p50),
                ms(p99),
                ms(max)
            ),
            None => println!("{name}: no samples"),
        };
        println!("order round trips timed: {}", samples.len());
        line(
            "  ours (decision -> committed, minus HTTP; target p99 <= 1 ms)",
            &mut ours,
        );
        line(
            "    of which the store's writes (insert, fills, update; queueing included)",
            &mut db_writes,
        );
        line("  HTTP calls inside (wire + fake)", &mut http);
        line("  whole round trip", &mut total);
        if let Some(f) = fake_stats {
            println!(
                "  fake's own handler time over {} placements: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                f.orders,
                ms(f.p50),
                ms(f.p99),
                ms(f.max)
            );
        }
    }
    if let Some(stop) = stop {
        stop.stop();
    }
    server.await??;
    db.close().await;
    if let Some(fake) = fake {
        fake.stop()?;
    }
    if let Some(admin) = &postgres {
        // The throwaway database goes with the run.
        let name = format!("bench_trading_{}", std::process::id());
        let admin_db = Db::connect(&settings_for(admin).database).await?;
        admin_db
            .execute(format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
        admin_db.close().await;
    }
    Ok(())
}

fn settings_for(url: &str) -> Settings {
    use base64::Engine as _;
    let mut s = Settings::default();
    s.server.host = "127.0.0.1".to_owned();
    s.server.port = 0;
    s.server.workers = 1;
    s.database.url = SecretUrl::new(url);
    s.auth.jwt_secret = Secret::new("bench-signing-key-0123456789-abcdefghijklmnop");
    s.security.master_key =
        Secret::new(base64::engine::general_purpose::STANDARD.encode(MASTER_KEY));
    s.trading.resume_on_restart = true;
    s.telemetry.log_level = "warn".to_owned();
    s
}

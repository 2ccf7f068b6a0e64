//! Trading runtime benchmark (not a test): N live paper strategies (default 100) ticking at
//! 1 s inside the real service (SQLite by default, or `--postgres URL`), then the process's
//! CPU share of one core and its RSS. Target: ≤ 5 % of one core. Run via `bench/trading.sh`.
#![allow(clippy::print_stdout)]

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

fn strategy(i: usize) -> StrategyRow {
    // Half grid, half threshold, around the paper feed's start price (100), so they trade.
    let (kind, params) = if i.is_multiple_of(2) {
        (
            "grid",
            serde_json::json!({"lower": "95", "upper": "105", "levels": 20, "order_qty": "0.01"}),
        )
    } else {
        (
            "threshold",
            serde_json::json!({"buy_below": "99.9", "sell_above": "100.1", "order_qty": "0.01", "max_position": "0.05"}),
        )
    };
    let symbol = if i % 4 < 2 { "BTC-USDT" } else { "ETH-USDT" };
    StrategyRow {
        id: format!("bench-{i:03}"),
        name: format!("bench-{i:03}"),
        kind: kind.to_owned(),
        params: params.to_string(),
        connector: "paper".to_owned(),
        symbols: serde_json::json!([symbol]).to_string(),
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

#[actix_web::main]
async fn main() {
    // Exit at once on error: unwinding the runtime with the app's tasks still in it would
    // hide the error behind their drop-time panics.
    if let Err(e) = run().await {
        eprintln!("bench_trading: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

async fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut postgres = None;
    while let Some(a) = args.next() {
        if a == "--postgres" {
            postgres = args.next();
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
    let settings = settings_for(&url);
    let db = Db::connect(&settings.database).await?;
    db.migrate().await?;
    for i in 0..n {
        ai_service::trading::strategies::insert(&db, &strategy(i)).await?;
    }

    let mut app = Application::build(settings).await?;
    let stop = app.stop_handle();
    let rss_before = rss_mib();
    let server = actix_web::rt::spawn(app.run_until_stopped());
    // Warm-up: the paper venues open, every strategy reconciles and starts ticking.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (t0, c0) = (Instant::now(), cpu_ticks()?);
    let ticks0: i64 = db.fetch_scalar(TICKS).await?;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (c1, elapsed) = (cpu_ticks()?, t0.elapsed().as_secs_f64());
    let ticks1: i64 = db.fetch_scalar(TICKS).await?;
    let orders: i64 = db.fetch_scalar("SELECT COUNT(*) FROM orders").await?;
    #[allow(clippy::cast_precision_loss)]
    let cpu = (c1 - c0) as f64 / 100.0 / elapsed * 100.0;
    println!(
        "backend: {}",
        if postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    println!("strategies live: {n} (tick 1 s), measured over {elapsed:.1} s after 5 s warm-up");
    println!(
        "ticks: {} ({:.1}/s), orders so far: {orders}",
        ticks1 - ticks0,
        (ticks1 - ticks0) as f64 / elapsed
    );
    println!("CPU: {cpu:.2} % of one core (target <= 5 %)");
    println!(
        "RSS: {:.1} MiB (before strategies started: {rss_before:.1} MiB)",
        rss_mib()
    );
    if let Some(stop) = stop {
        stop.stop();
    }
    server.await??;
    db.close().await;
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
    let mut s = Settings::default();
    s.server.host = "127.0.0.1".to_owned();
    s.server.port = 0;
    s.server.workers = 1;
    s.database.url = SecretUrl::new(url);
    s.auth.jwt_secret = Secret::new("bench-signing-key-0123456789-abcdefghijklmnop");
    s.trading.resume_on_restart = true;
    s.telemetry.log_level = "warn".to_owned();
    s
}

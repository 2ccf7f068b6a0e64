//! Telegram benchmark (not a test). Two modes:
//! - default: 1000 `/status` commands from a linked user through the real service and the
//!   `TelegramActor` (long polling against a local fake Bot API in this file); prints the
//!   command→reply latency (from the update being queued at the fake to `sendMessage`
//!   arriving there). Target: p99 ≤ 20 ms. Pacing is opened up (Telegram's 1 msg/s per chat
//!   would measure Telegram's limits, not our code).
//! - `--idle-rss on|off`: starts the service with Telegram enabled (polling the fake) or not,
//!   waits, prints the RSS. Target: on ≤ off + 2 MB.
//!
//! Run via `bench/telegram.sh`.
#![allow(clippy::print_stdout)]

use actix_web::{App, HttpResponse, HttpServer, web};
use ai_service::config::{Secret, SecretUrl, Settings};
use ai_service::startup::Application;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

const TOKEN: &str = "1:bench";
const CHAT: i64 = 4242;

#[derive(Clone)]
struct Fake {
    queue: Arc<Mutex<VecDeque<Value>>>,
    wake: Arc<Notify>,
    replies: mpsc::UnboundedSender<Instant>,
}

async fn method(
    fake: web::Data<Fake>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> HttpResponse {
    let ok = |v: Value| HttpResponse::Ok().json(json!({"ok": true, "result": v}));
    match path.1.as_str() {
        "getUpdates" => {
            let offset = body["offset"].as_i64();
            let deadline =
                Instant::now() + Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
            loop {
                let wait = fake.wake.notified();
                {
                    let mut q = fake.queue.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(o) = offset {
                        q.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
                    }
                    if !q.is_empty() || Instant::now() >= deadline {
                        return ok(json!(q.iter().cloned().collect::<Vec<_>>()));
                    }
                }
                let _ =
                    tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), wait)
                        .await;
            }
        }
        "sendMessage" => {
            let _ = fake.replies.send(Instant::now());
            ok(json!({"message_id": 1, "chat": {"id": CHAT, "type": "private"}, "date": 0}))
        }
        "getMe" => {
            ok(json!({"id": 1, "is_bot": true, "first_name": "Bench", "username": "bench_bot"}))
        }
        _ => ok(json!(true)),
    }
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

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let idle = args
        .iter()
        .position(|a| a == "--idle-rss")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let (tx, mut replies) = mpsc::unbounded_channel();
    let fake = Fake {
        queue: Arc::default(),
        wake: Arc::new(Notify::new()),
        replies: tx,
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(fake.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/bot{token}/{method}", web::post().to(method))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    actix_web::rt::spawn(server);

    let dir = tempfile::tempdir()?;
    let mut s = Settings::default();
    s.server.port = 0;
    s.server.workers = 1;
    s.database.url = SecretUrl::new(format!("sqlite://{}/data/bench.db", dir.path().display()));
    s.auth.jwt_secret = Secret::new("bench-signing-key-0123456789-abcdefghijklmnop");
    s.security.master_key = Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    s.telemetry.log_level = "warn".to_owned();
    s.telegram.enabled = idle.as_deref() != Some("off");
    s.telegram.api_base_url = format!("http://127.0.0.1:{port}");
    s.telegram.bot_token = Secret::new(TOKEN);
    s.telegram.poll_timeout_secs = 50;
    s.telegram.per_chat_interval_ms = 0;
    s.telegram.global_per_second = 100_000;
    let mut app = Application::build(s).await?;
    let stop = app.stop_handle();
    let db = app.db();
    if let Some(mode) = idle {
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!("idle RSS with telegram {mode}: {:.1} MiB", rss_mib());
        return Ok(());
    }
    let handle = actix_web::rt::spawn(app.run_until_stopped());
    let db = db
        .wait(Duration::from_secs(10))
        .await
        .ok_or_else(|| anyhow::anyhow!("no database"))?;
    let user = ai_service::db::users::insert(&db, "bench", "not-a-hash", "viewer").await?;
    ai_service::telegram::store::upsert_link(&db, CHAT, &user.id, None, CHAT).await?;
    // Let the bot start polling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::with_capacity(1000);
    for i in 0..1000i64 {
        let update = json!({"update_id": 1000 + i, "message": {"message_id": i + 1,
            "from": {"id": CHAT, "is_bot": false, "first_name": "B"}, "chat": {"id": CHAT, "type": "private"},
            "date": chrono::Utc::now().timestamp(), "text": "/status"}});
        let start = Instant::now();
        fake.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(update);
        fake.wake.notify_waiters();
        let at = tokio::time::timeout(Duration::from_secs(5), replies.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("fake gone"))?;
        latencies.push(at - start);
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "/status command->reply over {} commands: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 <= 20 ms)",
        latencies.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
    if let Some(stop) = stop {
        stop.stop();
    }
    handle.await??;
    Ok(())
}

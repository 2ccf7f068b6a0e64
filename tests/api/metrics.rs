use crate::helpers::{Backend, TestApp, TestDb, test_settings};
use crate::on_both_backends;
use ai_service::config::Secret;

on_both_backends!(metrics_expose_process_http_and_actor_series);

async fn metrics_expose_process_http_and_actor_series(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.wait_ready_status(200).await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    // Letters, not digits: a sample value (a latency sum such as 0.011234546) once contained
    // the digits this path used to have, and failed the check below.
    assert_eq!(app.get("/no/such/thing/raw-path-probe").await.status(), 404);

    // Bound to loopback without a metrics token: open, as before.
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.expect("body");

    for family in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
        "# TYPE http_request_duration_seconds histogram",
        "actor_restarts_total{actor=\"database-monitor\"}",
        "actor_messages_total{actor=\"database-monitor\"}",
        "actor_mailbox_depth{actor=\"database-monitor\"}",
        // The KPIs are there from boot, before any strategy, sync or categorization ran.
        "# TYPE strategies_live gauge",
        "transactions_synced_total{provider=\"simplefin\"}",
        "# TYPE categorization_latency_seconds histogram",
        "categorization_latency_seconds_count{tier=\"rule\"}",
        "categorization_latency_seconds_count{tier=\"none\"}",
    ] {
        assert!(text.contains(family), "missing {family} in\n{text}");
    }
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health/live",status="200"}"#),
        "{text}"
    );
    // The raw path never becomes a label: unknown routes share one series.
    assert!(
        !text.contains("raw-path-probe"),
        "raw path leaked into labels:\n{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");

    promtool_accepts(&text);
    app.stop().await;
}

const METRICS_TOKEN: &str = "scraper-token-0123456789abcdef";

/// Beyond loopback, `/metrics` (strategy names, PnL) needs the configured bearer token, and
/// without one configured it is refused for everyone.
#[actix_web::test]
async fn metrics_beyond_loopback_need_the_bearer_token() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut settings = test_settings(db.url());
    settings.server.host = "0.0.0.0".to_owned();

    let app = TestApp::with_settings(settings.clone()).await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 403, "beyond loopback without a token");
    assert_eq!(
        res.json::<serde_json::Value>().await.expect("json")["code"],
        "forbidden"
    );
    app.stop().await;

    settings.metrics.bearer_token = Secret::new(METRICS_TOKEN);
    let app = TestApp::with_settings(settings).await;
    let url = format!("{}/metrics", app.address);
    let missing = app.client.get(&url).send().await.expect("send");
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("scraper-token-0123456789abcdeX")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 401);
    let ok = app
        .client
        .get(&url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    assert!(
        ok.text()
            .await
            .expect("body")
            .contains("process_resident_memory_bytes")
    );
    app.stop().await;
}

/// `deploy/prometheus/prometheus.yml` (the scrape config with the bearer token and the alert
/// rules) is valid.
#[test]
fn deploy_prometheus_config_passes_promtool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    for file in ["prometheus.yml", "rules.yml"] {
        std::fs::copy(
            format!("{}/deploy/prometheus/{file}", env!("CARGO_MANIFEST_DIR")),
            dir.path().join(file),
        )
        .expect("copy");
    }
    std::fs::write(dir.path().join("ai-service-metrics.token"), METRICS_TOKEN).expect("token");
    let out = match std::process::Command::new("promtool")
        .args(["check", "config"])
        .arg(&config)
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but promtool is missing: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED promtool check (not installed: {e})");
            return;
        }
    };
    assert!(
        out.status.success(),
        "promtool check config:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `promtool check metrics` must print nothing. Required in CI; skipped with a note elsewhere
/// when promtool is not installed.
fn promtool_accepts(text: &str) {
    use std::io::Write as _;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but promtool is missing: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED promtool check (not installed: {e})");
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}

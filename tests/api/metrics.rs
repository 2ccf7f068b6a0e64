use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(metrics_expose_process_http_and_actor_series);

async fn metrics_expose_process_http_and_actor_series(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.wait_ready_status(200).await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    assert_eq!(app.get("/no/such/thing/12345").await.status(), 404);

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
        !text.contains("12345"),
        "raw path leaked into labels:\n{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");

    promtool_accepts(&text);
    app.stop().await;
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

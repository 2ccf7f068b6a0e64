//! The access log as the real binary writes it: one line per request, in the configured
//! format, carrying the request id the client got in `x-request-id`, and obeying the filter.

use serde_json::Value;
use std::time::Duration;

/// The binary on a fresh SQLite database with `env`, its stderr in a file: serves, runs
/// `requests` against its address, stops with SIGTERM, and returns what it logged.
async fn logged(env: &[(&str, &str)], requests: impl AsyncFnOnce(&str)) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::helpers::free_port();
    let log = dir.path().join("server.log");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ai-service"));
    command
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env_remove("APP_CONFIG")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/data/log.db", dir.path().display()),
        )
        .env("PORT", port.to_string())
        .env("APP__AUTH__JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("APP__SECURITY__MASTER_KEY", crate::helpers::MASTER_KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    for (k, v) in env {
        command.env(k, v);
    }
    let mut server = command.spawn().expect("spawn server");
    let base = format!("http://127.0.0.1:{port}");
    let client = ai_service::adapters::http_client::builder()
        .build()
        .expect("client");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{base}/health/ready")).send().await
            && r.status() == 200
        {
            break;
        }
        let exited = server.try_wait().expect("try_wait");
        if exited.is_some() || std::time::Instant::now() > deadline {
            let _ = server.kill();
            panic!(
                "the server never got ready ({exited:?}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    requests(&base).await;
    // SIGTERM: what is queued for the log is written before the process exits.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    std::fs::read_to_string(&log).expect("log")
}

/// A 404 with a user agent a log reader must not mistake for fields; its request id.
async fn not_found(base: &str) -> String {
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{base}/v1/nothing-here?x=1"))
        .header("user-agent", "probe/1.0 \"quoted\" http.status_code=200")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 404);
    let probe = client
        .get(format!("{base}/health/live"))
        .send()
        .await
        .expect("live");
    assert_eq!(probe.status(), 200);
    res.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned()
}

#[actix_web::test]
async fn json_access_lines_carry_the_request_and_its_id() {
    let mut id = String::new();
    let text = logged(&[("APP__TELEMETRY__LOG_FORMAT", "json")], async |base| {
        id = not_found(base).await;
    })
    .await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "ai_service::access")
        .collect();
    let line = access
        .iter()
        .find(|l| l["span"]["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no access line for {id} in {text}"));
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["message"], "request finished");
    assert_eq!(line["http.method"], "GET");
    assert_eq!(line["http.route"], "unmatched");
    assert_eq!(line["http.target"], "/v1/nothing-here?x=1");
    assert_eq!(line["http.status_code"], 404);
    assert_eq!(line["http.client_ip"], "127.0.0.1");
    assert_eq!(
        line["http.user_agent"],
        "probe/1.0 \"quoted\" http.status_code=200"
    );
    assert!(line["elapsed_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert_eq!(line["span"]["name"], "HTTP request");
    assert!(
        !access.iter().any(|l| l["http.route"] == "/health/live"),
        "probes stay out of the info log: {text}"
    );
}

#[actix_web::test]
async fn pretty_access_lines_carry_the_request_id_and_obey_the_filter() {
    let mut id = String::new();
    let text = logged(&[], async |base| id = not_found(base).await).await;
    let line = text
        .lines()
        .find(|l| l.contains("ai_service::access: request finished"))
        .unwrap_or_else(|| panic!("no access line in {text}"));
    assert!(
        line.contains(&format!(" INFO HTTP request{{request_id={id}}}: ")),
        "{line}"
    );
    assert!(
        line.contains(" http.target=/v1/nothing-here?x=1 http.status_code=404 "),
        "{line}"
    );
    assert!(
        line.ends_with(" http.user_agent=\"probe/1.0 \\\"quoted\\\" http.status_code=200\""),
        "{line}"
    );

    let quiet = logged(
        &[("RUST_LOG", "info,ai_service::access=off")],
        async |base| {
            not_found(base).await;
        },
    )
    .await;
    assert!(
        !quiet.contains("request finished"),
        "access lines off by filter: {quiet}"
    );
    assert!(quiet.contains("shutdown complete"), "{quiet}");
}

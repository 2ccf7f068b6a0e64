//! The access log as the real binary writes it: one line per request, in the configured
//! format, carrying the request id the client got in `x-request-id`, and obeying the filter.

use crate::served::Launch;
use serde_json::Value;

/// The binary on a fresh SQLite database in a fresh directory, at the shipped log level
/// unless `env` sets `RUST_LOG`: serves, runs `requests` against its address, stops with
/// SIGTERM, and returns what it logged.
async fn logged(env: &[(&str, &str)], requests: impl AsyncFnOnce(&str)) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/data/log.db", dir.path().display());
    let server = Launch::new(&url, &dir.path().join("server.log"))
        .without("RUST_LOG")
        .in_dir(dir.path())
        .envs(env)
        .start()
        .await;
    requests(&server.base).await;
    // SIGTERM: what is queued for the log is written before the process exits.
    server.stop()
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

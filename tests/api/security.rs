//! Headers, rate limits, the audit trail, secrets at rest, refusing unsafe configs.

use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::on_both_backends;
use crate::served::Launch;
use ai_service::config::Secret;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    audit_rows_carry_the_request_trace_id,
    integration_secrets_never_appear_in_plaintext,
    security_headers_on_every_response,
    rate_limits_answer_429_with_retry_after_then_recover,
    probes_and_credentials_have_their_own_buckets,
    anonymous_refusals_are_summed_per_ip_and_window,
    logins_beyond_the_hashing_bound_get_503_not_unbounded_work,
    refuses_to_start_beyond_loopback_with_placeholder_keys,
    the_client_behind_a_trusted_proxy_is_the_forwarded_address,
);

fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "{what}"
    );
    assert_eq!(
        h.get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..]),
        "{what}"
    );
    assert!(h.get("referrer-policy").is_some(), "{what}");
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

async fn security_headers_on_every_response(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    settings.security.hsts = true;
    let app = TestApp::with_settings(settings).await;
    for (path, status) in [
        ("/health/live", 200),
        ("/no/such/route", 404),
        ("/v1/users", 401),
        ("/docs/", 200),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), status, "{path}");
        assert_security_headers(&res, path);
        assert!(
            res.headers().contains_key("strict-transport-security"),
            "{path}: HSTS when configured"
        );
    }
    app.stop().await;
}

async fn rate_limits_answer_429_with_retry_after_then_recover(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    settings.rate_limit.per_ip_per_minute = 120; // one more every 0.5 s
    settings.rate_limit.login_per_minute = 3;
    let app = TestApp::with_settings(settings).await;

    let mut limited = None;
    for _ in 0..200 {
        let res = app.get("/").await;
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the per-IP limit kicks in");
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse::<u64>()
            .expect("seconds")
            >= 1
    );
    assert_security_headers(&res, "429");
    assert_eq!(
        res.json::<Value>().await.expect("json")["code"],
        "rate_limited"
    );
    // The budget refills with time: waiting is what is tested.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get("/").await.status(), 307, "recovers");

    // Login has its own, stricter budget.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await; // stay under the per-IP limit
        statuses.push(
            app.login("nobody", "whatever-password")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![401, 401, 401, 429]);
    app.stop().await;
}

/// The first audit row of `trace`, once written. Anonymous refusals are summarised when their
/// window closes (a timer); the rest are in the writer's buffer, which a flush empties.
/// The trace id a response carries (`x-request-id`), as the audit log records it.
fn request_id(res: &reqwest::Response) -> String {
    res.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

async fn audit_row(app: &TestApp, admin: &str, trace: &str) -> Value {
    eventually(
        Duration::from_secs(5),
        &format!("an audit row for trace {trace}"),
        || async {
            app.flush_audit().await;
            let page: Value = app
                .call(
                    "GET",
                    &format!("/v1/audit?trace_id={trace}"),
                    Some(admin),
                    None,
                )
                .await
                .json()
                .await
                .expect("json");
            match page["items"].as_array().and_then(|i| i.first()) {
                Some(item) => Ok(item.clone()),
                None => Err(page),
            }
        },
    )
    .await
}

/// Anonymous requests to `/` until one is refused with 429 (`None`: never, in 50).
async fn requests_until_limited(app: &TestApp, forwarded_for: &str) -> Option<usize> {
    for n in 1..=50 {
        let res = app
            .client
            .get(format!("{}/", app.address))
            .header("x-forwarded-for", forwarded_for)
            .send()
            .await
            .expect("request");
        if res.status() == 429 {
            return Some(n);
        }
    }
    None
}

/// Behind a trusted proxy, rate limits and the audit log see the address it forwards (worked
/// out once per request, by the root span); from anyone else the header is ignored, so a
/// client cannot pick a fresh bucket per request.
async fn the_client_behind_a_trusted_proxy_is_the_forwarded_address(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    settings.rate_limit.per_ip_per_minute = 5;
    let untrusted = TestApp::with_settings(settings.clone()).await;
    settings.security.trusted_proxies = vec!["127.0.0.1".to_owned()];
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);

    assert!(requests_until_limited(&app, "203.0.113.7").await.is_some());
    let other = requests_until_limited(&app, "203.0.113.8").await;
    assert!(
        matches!(other, Some(n) if n > 1),
        "another forwarded client has a budget of its own: limited at {other:?}"
    );
    assert!(
        requests_until_limited(&untrusted, "203.0.113.7")
            .await
            .is_some()
    );
    assert_eq!(
        requests_until_limited(&untrusted, "203.0.113.8").await,
        Some(1),
        "from an untrusted peer the header names nobody: one bucket, the peer's"
    );
    untrusted.stop().await;

    let admin = app.token_for("admin").await;
    let res = app
        .client
        .post(format!("{}/v1/api-keys", app.address))
        .bearer_auth(&admin)
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({"name": "proxied", "role": "viewer"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 201);
    let trace = request_id(&res);
    let row = audit_row(&app, &admin, &trace).await;
    assert_eq!(row["client_ip"], "198.51.100.9");
    app.stop().await;
}

/// A monitor polling probes never meets 429; an authenticated client is limited by its
/// credential's budget, not the per-IP one; anonymous clients are still limited per IP.
async fn probes_and_credentials_have_their_own_buckets(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    settings.rate_limit.per_ip_per_minute = 20;
    settings.rate_limit.per_credential_per_minute = 60;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);

    for round in 0..40 {
        for path in ["/health/live", "/health/ready", "/metrics"] {
            let status = app.get(path).await.status();
            assert_eq!(
                status, 200,
                "{path} poll {round}: probes have their own bucket"
            );
        }
    }

    let token = app.token_for("viewer").await;
    let mut anonymous_limited = false;
    for _ in 0..40 {
        if app.get("/").await.status() == 429 {
            anonymous_limited = true;
            break;
        }
    }
    assert!(anonymous_limited, "anonymous requests are limited per IP");

    // The same IP, now over its per-IP budget, with a credential: its own bucket applies.
    for i in 0..50 {
        let status = app
            .call("GET", "/v1/auth/me", Some(&token), None)
            .await
            .status();
        assert_eq!(
            status, 200,
            "authenticated request {i} beyond the per-IP figure"
        );
    }
    let mut limited = None;
    for _ in 0..200 {
        let res = app.call("GET", "/v1/auth/me", Some(&token), None).await;
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the per-credential limit applies in the end");
    assert_eq!(
        res.json::<Value>().await.expect("json")["code"],
        "rate_limited"
    );
    app.stop().await;
}

/// 50 anonymous refused requests with long, distinct paths are one or two summary rows
/// carrying their count; an authenticated mutation still gets its own row.
async fn anonymous_refusals_are_summed_per_ip_and_window(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    // Short enough to wait for, long enough that 50 quick requests span at most two windows.
    settings.audit.anonymous_window_secs = 5;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    let admin = app.token_for("admin").await;

    let filler = "x".repeat(400);
    for i in 0..50 {
        let path = if i % 2 == 0 {
            format!("/nonexistent/{i}/{filler}")
        } else {
            format!("/v1/api-keys/{i}{filler}")
        };
        let status = app.call("DELETE", &path, None, None).await.status();
        assert!(status == 404 || status == 401, "{path}: {status}");
    }
    let own = app
        .call(
            "DELETE",
            "/v1/jobs/00000000-0000-0000-0000-000000000000",
            Some(&admin),
            None,
        )
        .await;
    let own_trace = request_id(&own);

    let list = |query: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let page: Value = app
                .call(
                    "GET",
                    &format!("/v1/audit?limit=500&{query}"),
                    Some(&admin),
                    None,
                )
                .await
                .json()
                .await
                .expect("json");
            page["items"].as_array().cloned().unwrap_or_default()
        }
    };
    // The summary is written when its window closes (a timer), then batched by the writer.
    let rows = eventually(
        Duration::from_secs(15),
        "50 anonymous refusals summarised",
        || async {
            app.flush_audit().await;
            let rows = list("principal=anonymous".to_owned()).await;
            let total: i64 = rows.iter().filter_map(|r| r["occurrences"].as_i64()).sum();
            if total >= 50 { Ok(rows) } else { Err(total) }
        },
    )
    .await;
    let total: i64 = rows.iter().filter_map(|r| r["occurrences"].as_i64()).sum();
    assert_eq!(total, 50, "every refusal counted once: {rows:#?}");
    assert!(rows.len() <= 2, "at most one summary per window: {rows:#?}");
    for r in &rows {
        assert_eq!(r["action"], "anonymous.refused");
        assert_eq!(r["client_ip"], "127.0.0.1");
        let target = r["target"].as_str().expect("target");
        assert!(target.chars().count() <= 121, "path truncated: {target}");
    }

    let own_rows = list(format!("trace_id={own_trace}")).await;
    assert_eq!(own_rows.len(), 1, "{own_rows:#?}");
    assert_eq!(own_rows[0]["principal"], "user:admin-user");
    assert_eq!(own_rows[0]["action"], "DELETE /v1/jobs/{id}");
    assert_eq!(own_rows[0]["occurrences"], 1);
    app.stop().await;
}

/// With one hashing slot and no wait, concurrent logins beyond it are refused with 503 and
/// Retry-After instead of each getting its own 19 MiB hash.
async fn logins_beyond_the_hashing_bound_get_503_not_unbounded_work(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    settings.auth.max_concurrent_hashes = 1;
    settings.auth.hash_wait_timeout_ms = 0;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    let pw = app.create_user("carol", "viewer").await;

    let attempts = (0..16).map(|_| app.login("carol", "not-carols-password-1"));
    let responses = futures::future::join_all(attempts).await;
    let mut busy = 0;
    for res in responses {
        match res.status().as_u16() {
            401 => {}
            503 => {
                busy += 1;
                let retry: u64 = res.headers()["retry-after"]
                    .to_str()
                    .expect("ascii")
                    .parse()
                    .expect("seconds");
                assert!(retry >= 1);
                assert_eq!(
                    res.json::<Value>().await.expect("json")["code"],
                    "overloaded"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        busy > 0,
        "16 concurrent logins on one slot: some must be refused"
    );
    assert_eq!(
        app.login("carol", &pw).await.status(),
        200,
        "one at a time works"
    );
    app.stop().await;
}

async fn audit_rows_carry_the_request_trace_id(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    // The anonymous refusal below is written in its IP's summary when the window closes.
    settings.audit.anonymous_window_secs = 1;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(db);
    let admin = app.token_for("admin").await;
    assert_eq!(
        app.login("admin-user", "definitely-wrong-pw")
            .await
            .status(),
        401
    );
    let res = app
        .call(
            "POST",
            "/v1/api-keys",
            Some(&admin),
            Some(json!({"name": "ci", "role": "trader"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let trace = request_id(&res);
    // A refused mutating request is audited too.
    let denied = app.call("DELETE", "/v1/api-keys/x", None, None).await;
    let denied_trace = request_id(&denied);

    let row = audit_row(&app, &admin, &trace).await;
    assert_eq!(row["action"], "api_key.create");
    assert_eq!(row["principal"], "user:admin-user");
    assert_eq!(row["outcome"], "success");
    assert_eq!(row["client_ip"], "127.0.0.1");
    let row = audit_row(&app, &admin, &denied_trace).await;
    assert_eq!(row["outcome"], "denied");
    assert_eq!(row["principal"], "anonymous");
    assert_eq!(row["action"], "anonymous.refused");
    assert_eq!(row["occurrences"], 1);

    let failures: Value = app
        .call(
            "GET",
            "/v1/audit?action=auth.login&outcome=failure",
            Some(&admin),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        failures["items"].as_array().map(Vec::len),
        Some(1),
        "{failures}"
    );
    let page: Value = app
        .call("GET", "/v1/audit?limit=1", Some(&admin), None)
        .await
        .json()
        .await
        .expect("json");
    assert!(page["next_cursor"].is_string(), "paged: {page}");
    assert_eq!(
        app.call("GET", "/v1/audit?limit=0", Some(&admin), None)
            .await
            .status(),
        422
    );
    app.stop().await;
}

async fn integration_secrets_never_appear_in_plaintext(backend: Backend) {
    const SECRET: &str = "sk-live-VERYSECRET-abcdef-9876";
    let app = TestApp::spawn(backend).await;
    let admin = app.token_for("admin").await;
    let res = app
        .call(
            "PUT",
            "/v1/settings/integrations/default/openai",
            Some(&admin),
            Some(json!({"mode": "live", "secrets": {"api_key": SECRET}})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.expect("text");
    assert!(!body.contains(SECRET), "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["mode"], "live");
    assert_eq!(v["secrets"]["api_key"]["set"], true);
    assert_eq!(v["secrets"]["api_key"]["last4"], "9876");

    for path in [
        "/v1/settings/integrations",
        "/v1/settings/integrations/default/openai",
        "/v1/audit",
    ] {
        let text = app
            .call("GET", path, Some(&admin), None)
            .await
            .text()
            .await
            .expect("text");
        assert!(
            !text.contains(SECRET) && !text.contains("VERYSECRET"),
            "{path}: {text}"
        );
    }
    let bad = app
        .call(
            "PUT",
            "/v1/settings/integrations/Default!/x",
            Some(&admin),
            Some(json!({"mode": "paper"})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(
        bad.json::<Value>().await.expect("json")["errors"][0]["field"],
        "mode"
    );

    // Inside the process, the secret decrypts for the actor that needs it.
    let settings = test_settings(app.db.as_ref().expect("db").url());
    let db = ai_service::db::Db::connect(&settings.database)
        .await
        .expect("connect");
    let keys = ai_service::auth::keys::resolve(&settings).expect("keys");
    let cipher = ai_service::crypto::Cipher::new(keys.master());
    let plain = ai_service::db::integrations::secret(&db, &cipher, "default", "openai", "api_key")
        .await
        .expect("decrypt");
    use secrecy::ExposeSecret;
    assert_eq!(
        plain.as_ref().map(|s| s.expose_secret().to_owned()),
        Some(SECRET.to_owned())
    );
    db.close().await;

    app.flush_audit().await;
    match app.db.as_ref().expect("db") {
        TestDb::Sqlite { dir, .. } => {
            for entry in std::fs::read_dir(dir.path().join("data")).expect("data dir") {
                let path = entry.expect("entry").path();
                let bytes = std::fs::read(&path).expect("read");
                assert!(
                    !bytes.windows(10).any(|w| w == b"VERYSECRET"),
                    "plaintext secret in {}",
                    path.display()
                );
            }
        }
        TestDb::Postgres { url, .. } => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
            let dump: Vec<String> = sqlx::query_scalar(
                "SELECT row_to_json(t)::text FROM (SELECT * FROM integration_secrets) t \
                 UNION ALL SELECT row_to_json(e)::text FROM event_log e \
                 UNION ALL SELECT encode(ciphertext, 'escape') FROM integration_secrets",
            )
            .fetch_all(&mut c)
            .await
            .expect("dump");
            assert!(!dump.is_empty());
            assert!(dump.iter().all(|r| !r.contains("VERYSECRET")), "{dump:?}");
        }
    }
    app.stop().await;
}

async fn refuses_to_start_beyond_loopback_with_placeholder_keys(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(db.url());
    settings.server.host = "0.0.0.0".to_owned();
    settings.auth.jwt_secret = Secret::new("change-me-to-48-random-characters");
    let err = ai_service::startup::Application::build(settings.clone())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("auth.jwt_secret"), "{err}");

    settings.auth.jwt_secret = Secret::new(crate::helpers::JWT_SECRET);
    settings.security.master_key = Secret::new("");
    let err = ai_service::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("security.master_key"), "{err}");
}

#[actix_web::test]
async fn loopback_dev_keys_are_generated_once_and_kept() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(db.url());
    settings.auth.jwt_secret = Secret::new("");
    settings.security.master_key = Secret::new("");
    settings.security.dev_keys_file = dir.path().join("keys/dev-keys.json").display().to_string();
    let first = ai_service::auth::keys::resolve(&settings).expect("generated");
    let again = ai_service::auth::keys::resolve(&settings).expect("reloaded");
    use secrecy::ExposeSecret;
    assert_eq!(first.jwt.expose_secret(), again.jwt.expose_secret());
    assert_eq!(first.master(), again.master());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keys/dev-keys.json"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only the owner can read the key file");
    }
}

#[actix_web::test]
async fn cors_allows_only_configured_origins() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut settings = test_settings(db.url());
    settings.security.cors_origins = vec!["https://nas.example".to_owned()];
    let app = TestApp::with_settings(settings).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/auth/me", app.address),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let ok = preflight("https://nas.example").await.expect("send");
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://nas.example"[..])
    );
    let other = preflight("https://evil.example").await.expect("send");
    assert!(other.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

/// Runs the real binary at debug log level, stores a secret, and greps everything it logged.
#[actix_web::test]
async fn secrets_never_reach_the_logs() {
    const SECRET: &str = "sk-live-LOGLEAKCHECK-4242424242";
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/data/log.db", dir.path().display());
    let created = crate::cli::user_create(&url, "root-admin", "admin", "the-admin-password-1");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let log = dir.path().join("server.log");
    let server = Launch::new(&url, &log)
        .envs(&[("RUST_LOG", "debug")])
        .start()
        .await;
    let (client, base) = (&server.client, &server.base);
    let login: Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "root-admin", "password": "the-admin-password-1"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token");
    let res = client
        .put(format!("{base}/v1/settings/integrations/default/binance"))
        .bearer_auth(token)
        .json(&json!({"mode": "sandbox", "secrets": {"api_secret": SECRET}}))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 200);
    // SIGTERM shuts down gracefully: the audit writer flushes before the process exits.
    let text = server.stop();
    assert!(text.contains("request finished"), "the log was captured");
    for needle in [
        "LOGLEAKCHECK",
        "the-admin-password-1",
        crate::helpers::JWT_SECRET,
    ] {
        assert!(!text.contains(needle), "`{needle}` leaked into the log");
    }
}

//! The committed spec is what the code generates, and it is what the server serves.

use crate::helpers::{Backend, TestApp};
use serde_json::Value;

const COMMITTED: &str = "openapi/openapi.json";

#[test]
fn committed_openapi_matches_the_code() {
    let generated = ai_service::api::openapi_json();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(COMMITTED, &generated).expect("write openapi/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} is stale (or missing). Regenerate it with\n    \
         UPDATE_OPENAPI=1 cargo test --test api openapi\nor\n    \
         cargo run -- openapi > {COMMITTED}\nand commit the result."
    );
}

#[test]
fn every_operation_declares_tags_security_and_problem_errors() {
    let spec = serde_json::to_value(ai_service::api::openapi()).expect("json");
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearer_jwt"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    let paths = spec["paths"].as_object().expect("paths");
    for route in ["/health/live", "/health/ready", "/metrics"] {
        assert!(paths.contains_key(route), "{route} is documented");
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let at = format!("{method} {path}");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at} has a tag"
            );
            assert!(
                op.get("security").is_some(),
                "{at} declares its security (public = [{{}}])"
            );
            let default = &op["responses"]["default"]["content"]["application/problem+json"]["schema"]
                ["$ref"];
            assert_eq!(
                default, "#/components/schemas/Problem",
                "{at} documents problem errors"
            );
        }
    }
}

#[actix_web::test]
async fn the_server_serves_the_spec_and_swagger_ui() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served: Value = app.get("/openapi.json").await.json().await.expect("json");
    assert_eq!(
        served,
        serde_json::to_value(ai_service::api::openapi()).expect("spec")
    );

    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status(), 308);
    let ui = app.get("/docs/").await;
    assert_eq!(ui.status(), 200);
    let html = ui.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "Swagger UI page: {html}");
    // Assets come from the binary (vendored), not a CDN.
    assert!(
        !html.contains("unpkg.com") && !html.contains("cdn."),
        "{html}"
    );
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("js");
    assert!(init.contains("/openapi.json"), "{init}");

    // Stored gzipped: sent as stored to a client that accepts gzip, inflated for one that
    // does not (this client sends no Accept-Encoding of its own).
    let plain = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.expect("js");
    let gz = app
        .client
        .get(format!("{}/docs/swagger-ui-bundle.js", app.address))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .expect("request");
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "accept-encoding");
    let gz = gz.bytes().await.expect("gz");
    assert!(gz.starts_with(&[0x1f, 0x8b]), "a gzip stream");
    assert!(
        gz.len() * 3 < plain.len(),
        "{} vs {} bytes",
        gz.len(),
        plain.len()
    );
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut inflated)
        .expect("inflates");
    assert_eq!(inflated, plain);
    assert_eq!(app.get("/docs/swagger-ui.js.map").await.status(), 404);
    app.stop().await;
}

/// The served spec's error responses: `application/problem+json` only, each with an example
/// of its own status and code (utoipa's default media type is `application/json`).
#[actix_web::test]
async fn error_responses_are_problems_with_their_own_examples() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let spec: Value = app.get("/openapi.json").await.json().await.expect("json");
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            for (status, response) in op["responses"].as_object().expect("responses") {
                let code = match status.as_str() {
                    "default" => 500,
                    s => s.parse::<u16>().expect("numeric status"),
                };
                if code < 400 {
                    continue;
                }
                let at = format!("{method} {path} {status}");
                let content = response["content"].as_object().expect("content");
                // The one deliberate exception: the readiness probe's 503 is its report.
                if path == "/health/ready" && code == 503 {
                    continue;
                }
                let types: Vec<&String> = content.keys().collect();
                assert_eq!(types, ["application/problem+json"], "{at}");
                let example = &content["application/problem+json"]["example"];
                assert_eq!(example["status"], code, "{at}: {example}");
                let expected = ai_service::error::ErrorCode::for_status(
                    actix_web::http::StatusCode::from_u16(code).expect("status"),
                );
                assert_eq!(example["code"], expected.as_str(), "{at}: {example}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} error responses");
    app.stop().await;
}

/// Documented bounds and formats are the ones the handlers enforce: every `limit` is
/// bounded, and the server refuses one past each bound and accepts the bound itself.
#[actix_web::test]
async fn limits_dates_enums_and_patterns_are_in_the_spec_and_enforced() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.token_for("admin").await;
    let spec: Value = app.get("/openapi.json").await.json().await.expect("json");
    let mut limits = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let Some(op) = item.get("get") else { continue };
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let Some(limit) = params.iter().find(|p| p["name"] == "limit") else {
            continue;
        };
        let (min, max) = (
            limit["schema"]["minimum"].as_u64(),
            limit["schema"]["maximum"].as_u64(),
        );
        assert_eq!(min, Some(1), "{path}: {limit}");
        let max = max.unwrap_or_else(|| panic!("{path}: limit has no maximum"));
        limits += 1;
        if path.contains('{') {
            continue;
        }
        for (value, refused) in [(0, true), (max + 1, true), (max, false), (1, false)] {
            let res = app
                .call("GET", &format!("{path}?limit={value}"), Some(&token), None)
                .await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.expect("json");
            let names_limit = body["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["field"] == "limit"));
            assert_eq!(
                names_limit, refused,
                "{path}?limit={value}: {status} {body}"
            );
            if refused {
                assert_eq!(status, 422, "{path}?limit={value}: {body}");
            }
        }
    }
    assert!(limits >= 8, "{limits} limit parameters");

    let schemas = &spec["components"]["schemas"];
    let account = &schemas["AccountInput"]["properties"];
    assert_eq!(account["currency"]["pattern"], "^[A-Z]{3}$");
    assert!(account["account_type"]["enum"].is_array(), "{account}");
    assert_eq!(
        schemas["TransactionInput"]["properties"]["booked_date"]["format"],
        "date"
    );
    assert_eq!(
        schemas["StrategyInput"]["properties"]["name"]["pattern"],
        "^[A-Za-z0-9._-]{1,64}$"
    );
    assert!(schemas["StrategyInput"]["properties"]["kind"]["enum"].is_array());
    // Swagger UI pre-fills a boolean form field with `true` unless a default is declared.
    assert_eq!(
        schemas["ImportForm"]["properties"]["skip_bad_rows"]["default"],
        false
    );
    for (path, name, want) in [
        ("/v1/financial/transactions", "from", "date"),
        ("/v1/financial/reports/spending", "to", "date"),
    ] {
        let params = spec["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("params");
        let p = params.iter().find(|p| p["name"] == name).expect("param");
        assert_eq!(p["schema"]["format"], want, "{path} {name}");
    }
    // A date that chrono would take but `format: date` does not is refused.
    let res = app
        .call(
            "GET",
            "/v1/financial/transactions?from=2026-1-5",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status(), 422);
    app.stop().await;
}

/// 405 carries `Allow` with the route's methods, as RFC 9110 requires.
#[actix_web::test]
async fn method_not_allowed_says_which_methods_are() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.token_for("admin").await;
    for (method, path, allow) in [
        ("PATCH", "/v1/jobs", "GET"),
        ("PUT", "/v1/financial/accounts", "GET, POST"),
        (
            "POST",
            "/v1/financial/transactions/123",
            "GET, PATCH, DELETE",
        ),
        ("DELETE", "/health/live", "GET"),
    ] {
        let res = app.call(method, path, Some(&token), None).await;
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(
            res.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        assert!(
            res.headers()["content-type"]
                .to_str()
                .is_ok_and(|v| v.starts_with("application/problem+json"))
        );
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "method_not_allowed");
    }
    app.stop().await;
}

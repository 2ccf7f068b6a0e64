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
    app.stop().await;
}

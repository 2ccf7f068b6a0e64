//! Redis is optional: absent unless `redis.url` is set; when set, it is part of readiness.

use crate::helpers::{Backend, TestApp, TestDb, redis_available, redis_url, test_settings};
use ai_service::config::SecretUrl;

#[actix_web::test]
async fn configured_redis_is_checked_for_readiness() {
    if !redis_available().await {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let mut settings = test_settings(db.url());
    settings.redis.url = SecretUrl::new(redis_url());
    let app = TestApp::with_settings(settings).await;
    let body = app.wait_ready_status(200).await;
    assert_eq!(body["dependencies"]["redis"]["status"], "up", "{body}");
    assert_eq!(body["actors"]["redis-monitor"]["status"], "up", "{body}");
    app.stop().await;
}

#[actix_web::test]
async fn unreachable_redis_makes_the_service_not_ready() {
    let db = TestDb::new(Backend::Sqlite).await;
    let port = crate::helpers::free_port();
    let mut settings = test_settings(db.url());
    settings.redis.url = SecretUrl::new(format!("redis://:hunter2@127.0.0.1:{port}"));
    let app = TestApp::with_settings(settings).await;
    let body = app.wait_ready_status(503).await;
    assert_eq!(body["down"], serde_json::json!(["redis"]), "{body}");
    assert!(!body.to_string().contains("hunter2"), "{body}");
    app.stop().await;
}

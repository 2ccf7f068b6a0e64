//! The read model (categories and API keys served from memory): a write is visible to the
//! next read in the same process with no wait, and in another process sharing the Postgres
//! database once its notification arrives.

use crate::helpers::{Backend, TestApp, eventually, test_settings};
use crate::on_both_backends;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(writes_are_visible_to_the_next_read);

async fn names(app: &TestApp, token: &str) -> Vec<String> {
    let res = app
        .call("GET", "/v1/financial/categories", Some(token), None)
        .await;
    assert_eq!(res.status(), 200);
    let body: Vec<Value> = res.json().await.expect("json");
    body.iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn create(app: &TestApp, token: &str, name: &str) -> String {
    let res = app
        .call(
            "POST",
            "/v1/financial/categories",
            Some(token),
            Some(json!({"name": name, "kind": "expense"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    body["id"].as_str().expect("id").to_owned()
}

async fn writes_are_visible_to_the_next_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.token_for("admin").await;
    assert!(names(&app, &admin).await.is_empty()); // cached: empty
    let food = create(&app, &admin, "Food").await;
    assert_eq!(names(&app, &admin).await, ["Food"]);
    let res = app
        .call(
            "PUT",
            &format!("/v1/financial/categories/{food}"),
            Some(&admin),
            Some(json!({"name": "Meals", "kind": "expense"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(names(&app, &admin).await, ["Meals"]);
    let res = app
        .call(
            "DELETE",
            &format!("/v1/financial/categories/{food}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert!(names(&app, &admin).await.is_empty());

    // An API key, used (cached), revoked: refused on the very next request.
    let (id, secret) = app.viewer_key(&admin, "reader").await;
    for _ in 0..2 {
        let res = app.call("GET", "/v1/auth/me", Some(&secret), None).await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .call("DELETE", &format!("/v1/api-keys/{id}"), Some(&admin), None)
        .await;
    assert_eq!(res.status(), 200);
    let res = app.call("GET", "/v1/auth/me", Some(&secret), None).await;
    assert_eq!(res.status(), 401);
    app.stop().await;
}

/// Two processes on one Postgres database: a write on one reaches the other's cache.
#[actix_web::test]
async fn other_processes_see_writes_through_notifications() {
    if !crate::helpers::postgres_available().await {
        return;
    }
    let a = TestApp::spawn(Backend::Postgres).await;
    let url = a.db.as_ref().expect("test db").url().to_owned();
    let b = TestApp::with_settings(test_settings(&url)).await;
    let admin = a.token_for("admin").await;
    // Both caches filled (b's once its listener is up: reads before that bypass the cache).
    create(&a, &admin, "Rent").await;
    assert_eq!(names(&a, &admin).await, ["Rent"]);
    assert_eq!(names(&b, &admin).await, ["Rent"]);
    let (id, secret) = a.viewer_key(&admin, "reader").await;
    assert_eq!(
        b.call("GET", "/v1/auth/me", Some(&secret), None)
            .await
            .status(),
        200
    );

    create(&a, &admin, "Books").await;
    eventually(
        Duration::from_secs(10),
        "b lists the new category",
        || async {
            let n = names(&b, &admin).await;
            if n == ["Books", "Rent"] {
                Ok(())
            } else {
                Err(n)
            }
        },
    )
    .await;
    let res = a
        .call("DELETE", &format!("/v1/api-keys/{id}"), Some(&admin), None)
        .await;
    assert_eq!(res.status(), 200);
    eventually(
        Duration::from_secs(10),
        "b refuses the revoked key",
        || async {
            match b
                .call("GET", "/v1/auth/me", Some(&secret), None)
                .await
                .status()
                .as_u16()
            {
                401 => Ok(()),
                s => Err(s),
            }
        },
    )
    .await;
    b.stop().await;
    a.stop().await;
}

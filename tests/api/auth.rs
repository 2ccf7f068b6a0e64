//! Login, refresh rotation, reuse detection, logout, token forgery, API keys, the role matrix.

use crate::helpers::{Backend, JWT_SECRET, TestApp, eventually};
use crate::on_both_backends;
use ai_service::auth::Role;
use ai_service::auth::tokens::{Claims, JwtKeys};
use base64::Engine as _;
use serde_json::{Value, json};

on_both_backends!(
    login_refresh_rotation_reuse_and_logout,
    access_tokens_die_with_their_session,
    forged_and_expired_tokens_are_rejected,
    api_keys_work_and_revoke,
    api_keys_show_when_they_were_last_used,
    role_matrix_over_every_operation
);

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.call(
        "POST",
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": token})),
    )
    .await
}

async fn login_refresh_rotation_reuse_and_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pw = app.create_user("alice", "trader").await;

    let bad = app.login("alice", "wrong-password-123").await;
    assert_eq!(bad.status(), 401);
    assert_eq!(
        bad.json::<Value>().await.expect("json")["code"],
        "unauthorized"
    );
    assert_eq!(app.login("nobody", &pw).await.status(), 401);

    let res = app.login("alice", &pw).await;
    assert_eq!(res.status(), 200);
    let t1: Value = res.json().await.expect("json");
    assert_eq!(t1["token_type"], "Bearer");
    assert_eq!(t1["expires_in"], 900);
    let access = t1["access_token"].as_str().expect("access");
    let me: Value = app
        .call("GET", "/v1/auth/me", Some(access), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        me,
        json!({"kind": "user", "id": me["id"], "name": "alice", "role": "trader"})
    );

    // Rotation: the first refresh token gives a new pair and is used up.
    let r1 = t1["refresh_token"].as_str().expect("refresh");
    let res = refresh(&app, r1).await;
    assert_eq!(res.status(), 200);
    let t2: Value = res.json().await.expect("json");
    let r2 = t2["refresh_token"].as_str().expect("refresh 2");
    assert_ne!(r1, r2);

    // Reuse of r1 is theft or replay: it fails, and r2 (same family) dies with it.
    assert_eq!(refresh(&app, r1).await.status(), 401);
    assert_eq!(
        refresh(&app, r2).await.status(),
        401,
        "the family was revoked on reuse"
    );

    // A fresh login; logout revokes its refresh token.
    let t3: Value = app.login("alice", &pw).await.json().await.expect("json");
    let access3 = t3["access_token"].as_str().expect("access");
    let r3 = t3["refresh_token"].as_str().expect("refresh");
    let out = app
        .call(
            "POST",
            "/v1/auth/logout",
            Some(access3),
            Some(json!({"refresh_token": r3})),
        )
        .await;
    assert_eq!(out.status(), 204);
    assert_eq!(refresh(&app, r3).await.status(), 401);
    assert_eq!(refresh(&app, "rt_not-a-token").await.status(), 401);
    app.stop().await;
}

async fn forged_and_expired_tokens_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.token_for("admin").await;
    assert_eq!(
        app.call("GET", "/v1/users", Some(&admin), None)
            .await
            .status(),
        200
    );

    let keys = JwtKeys::new(&secrecy::SecretString::from(JWT_SECRET), "ai-service", 900);
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64, iss: &str| Claims {
        sub: "x".into(),
        name: "mallory".into(),
        role: Role::Admin,
        iss: iss.into(),
        iat: now - 3600,
        exp,
        jti: "j".into(),
        sid: "s".into(),
    };
    // The real admin's user and session, to sign tokens that differ in one respect only.
    let real: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(admin.split('.').nth(1).expect("payload"))
            .expect("base64"),
    )
    .expect("claims");
    let signed = |sub: &str, sid: &str, iat: i64, exp: i64| {
        keys.sign(&Claims {
            sub: sub.into(),
            name: "admin-user".into(),
            role: Role::Admin,
            iss: "ai-service".into(),
            iat,
            exp,
            jti: "j".into(),
            sid: sid.into(),
        })
        .expect("sign")
    };
    let (real_sub, real_sid) = (
        real["sub"].as_str().expect("sub"),
        real["sid"].as_str().expect("sid"),
    );
    assert_eq!(
        app.call(
            "GET",
            "/v1/users",
            Some(&signed(real_sub, real_sid, now, now + 600)),
            None
        )
        .await
        .status(),
        200,
        "a token signed alike for the real session is good (the cases below differ in one way)"
    );
    let nobody = signed(
        &uuid::Uuid::now_v7().to_string(),
        &uuid::Uuid::now_v7().to_string(),
        now,
        now + 600,
    );
    let too_long = signed(real_sub, real_sid, now, now + 10 * 365 * 86_400);
    let expired = keys.sign(&claims(now - 120, "ai-service")).expect("sign");
    let wrong_iss = keys.sign(&claims(now + 600, "someone-else")).expect("sign");
    let other_key = JwtKeys::new(
        &secrecy::SecretString::from("another-key-that-is-long-enough-0123456789"),
        "ai-service",
        900,
    )
    .sign(&claims(now + 600, "ai-service"))
    .expect("sign");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims(now + 600, "ai-service")).expect("json"));
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{header}.{payload}.");
    let tampered = {
        let parts: Vec<&str> = admin.split('.').collect();
        format!("{}.{}.{}", parts[0], payload, parts[2])
    };
    for (what, token) in [
        ("validly signed, user does not exist", nobody),
        ("exp far beyond the configured lifetime", too_long),
        ("expired", expired),
        ("wrong issuer", wrong_iss),
        ("wrong key", other_key),
        ("alg none", alg_none),
        ("tampered", tampered),
        ("garbage", "abc".to_owned()),
    ] {
        let res = app.call("GET", "/v1/users", Some(&token), None).await;
        assert_eq!(res.status(), 401, "{what} token must be rejected");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            res.json::<Value>().await.expect("json")["code"],
            "unauthorized"
        );
    }
    app.stop().await;
}

/// Logout, a new password and disabling the user end access tokens at once, not at expiry.
async fn access_tokens_die_with_their_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.token_for("admin").await;
    let pw = app.create_user("bob", "trader").await;
    let session = |pw: String| {
        let app = &app;
        async move {
            let res = app.login("bob", &pw).await;
            assert_eq!(res.status(), 200);
            let t: Value = res.json().await.expect("json");
            (
                t["access_token"].as_str().expect("access").to_owned(),
                t["refresh_token"].as_str().expect("refresh").to_owned(),
            )
        }
    };
    let me = |token: String| {
        let app = &app;
        async move {
            app.call("GET", "/v1/auth/me", Some(&token), None)
                .await
                .status()
                .as_u16()
        }
    };
    let (a1, r1) = session(pw.clone()).await;
    let (a2, _r2) = session(pw.clone()).await;
    let bob: Value = app
        .call("GET", "/v1/auth/me", Some(&a1), None)
        .await
        .json()
        .await
        .expect("json");
    let bob_id = bob["id"].as_str().expect("id").to_owned();

    let out = app
        .call(
            "POST",
            "/v1/auth/logout",
            Some(&a1),
            Some(json!({"refresh_token": r1})),
        )
        .await;
    assert_eq!(out.status(), 204);
    assert_eq!(
        me(a1.clone()).await,
        401,
        "logged-out access token refused at once"
    );
    assert_eq!(me(a2.clone()).await, 200, "bob's other session goes on");

    let patch = |body: Value| {
        let app = &app;
        let (admin, bob_id) = (admin.clone(), bob_id.clone());
        async move {
            app.call(
                "PATCH",
                &format!("/v1/users/{bob_id}"),
                Some(&admin),
                Some(body),
            )
            .await
            .status()
            .as_u16()
        }
    };
    // A role change applies to live tokens at once (the token's own claim is not trusted).
    assert_eq!(patch(json!({"role": "viewer"})).await, 200);
    let res = app.call("GET", "/v1/auth/me", Some(&a2), None).await;
    assert_eq!(res.json::<Value>().await.expect("json")["role"], "viewer");

    let new_pw = "bobs-brand-new-password-1".to_owned();
    assert_eq!(patch(json!({"password": new_pw})).await, 200);
    assert_eq!(
        me(a2).await,
        401,
        "a new password ends every session at once"
    );

    let (a3, _r3) = session(new_pw).await;
    assert_eq!(me(a3.clone()).await, 200);
    assert_eq!(patch(json!({"disabled": true})).await, 200);
    assert_eq!(me(a3).await, 401, "disabling ends every session at once");
    app.stop().await;
}

async fn api_keys_work_and_revoke(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.token_for("admin").await;
    let res = app
        .call(
            "POST",
            "/v1/api-keys",
            Some(&admin),
            Some(json!({"name": "home-assistant", "role": "viewer"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.expect("json");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let prefix = created["prefix"].as_str().expect("prefix").to_owned();
    assert!(secret.starts_with(&prefix));

    let me: Value = app
        .call("GET", "/v1/auth/me", Some(&secret), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["kind"], "api_key");
    assert_eq!(me["role"], "viewer");
    let via_header = app
        .client
        .get(format!("{}/v1/auth/me", app.address))
        .header("X-Api-Key", &secret)
        .send()
        .await
        .expect("send");
    assert_eq!(via_header.status(), 200);
    // A viewer key cannot administer.
    assert_eq!(
        app.call("GET", "/v1/api-keys", Some(&secret), None)
            .await
            .status(),
        403
    );

    let list = app
        .call("GET", "/v1/api-keys", Some(&admin), None)
        .await
        .text()
        .await
        .expect("text");
    assert!(
        list.contains(&prefix) && !list.contains(&secret),
        "listed by prefix, never the secret: {list}"
    );

    let id = created["id"].as_str().expect("id");
    assert_eq!(
        app.call("DELETE", &format!("/v1/api-keys/{id}"), Some(&admin), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.call("GET", "/v1/auth/me", Some(&secret), None)
            .await
            .status(),
        401,
        "revoked keys stop working"
    );
    let forged = format!("{prefix}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(
        app.call("GET", "/v1/auth/me", Some(&forged), None)
            .await
            .status(),
        401
    );
    app.stop().await;
}

/// Walks every operation of the generated spec with each credential and checks the outcome
/// against the role the spec declares. A route without a declaration fails here.
async fn role_matrix_over_every_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = [
        (Role::Viewer, app.token_for("viewer").await),
        (Role::Trader, app.token_for("trader").await),
        (Role::Admin, app.token_for("admin").await),
    ];
    let spec = serde_json::to_value(ai_service::api::openapi()).expect("spec");
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let at = format!("{} {path}", method.to_uppercase());
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: no security declared"));
            let public = security
                .iter()
                .any(|s| s.as_object().is_some_and(|o| o.is_empty()));
            let required = op["x-required-role"].as_str().and_then(Role::parse);
            assert!(
                public || required.is_some(),
                "{at}: neither public nor a role"
            );
            let url = path
                .replace("{id}", "00000000-0000-0000-0000-000000000000")
                .replace("{environment}", "default")
                .replace("{provider}", "nobody")
                .replace("{telegram_user_id}", "1");
            let body = matches!(method.as_str(), "post" | "put" | "patch").then(|| json!({}));
            // Logout with a real-looking body would end the token's session; `{}` is rejected as 422 after auth.
            let anon = app
                .call(method, &url, None, body.clone())
                .await
                .status()
                .as_u16();
            // The Telegram webhook needs no credential of ours but Telegram's secret header:
            // without it the handler answers 401 (tested in telegram.rs).
            if public && at == "POST /v1/telegram/webhook" {
                assert_eq!(anon, 401, "{at}: no secret token");
                continue;
            }
            if public {
                assert!(
                    anon != 401 && anon != 403,
                    "{at}: public but anonymous got {anon}"
                );
                continue;
            }
            assert_eq!(anon, 401, "{at}: anonymous must get 401");
            let needed = required.expect("role");
            for (role, token) in &tokens {
                let status = app
                    .call(method, &url, Some(token), body.clone())
                    .await
                    .status()
                    .as_u16();
                if *role >= needed {
                    assert!(
                        status != 401 && status != 403,
                        "{at}: {role:?} should pass, got {status}"
                    );
                } else {
                    assert_eq!(status, 403, "{at}: {role:?} must be refused");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} protected operations walked");
    app.stop().await;
}

/// `last_used_at` of key `id` as the list shows it.
async fn last_used(app: &TestApp, admin: &str, id: &str) -> Value {
    let keys: Vec<Value> = app
        .call("GET", "/v1/api-keys", Some(admin), None)
        .await
        .json()
        .await
        .expect("json");
    keys.into_iter().find(|k| k["id"] == id).expect("listed")["last_used_at"].clone()
}

/// Waits until key `id` shows a use, and returns when.
async fn used_at(app: &TestApp, admin: &str, id: &str) -> chrono::DateTime<chrono::Utc> {
    let at = eventually(
        std::time::Duration::from_secs(10),
        "the key's use recorded",
        || async {
            match last_used(app, admin, id).await {
                Value::String(t) => Ok(t),
                other => Err(other),
            }
        },
    )
    .await;
    at.parse().expect("an RFC 3339 time")
}

async fn api_keys_show_when_they_were_last_used(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.token_for("admin").await;
    let (a, secret_a) = app.viewer_key(&admin, "a").await;
    let (b, secret_b) = app.viewer_key(&admin, "b").await;
    let (c, secret_c) = app.viewer_key(&admin, "c").await;

    // A refused attempt is not a use: the right prefix with a wrong secret.
    let short = secret_a
        .strip_prefix("ais_")
        .and_then(|rest| rest.split_once('_'))
        .expect("ais_<short>_<tail>")
        .0;
    let forged = format!("ais_{short}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(app.me_status(&forged).await, 401);
    let before = chrono::Utc::now();
    assert_eq!(app.me_status(&secret_b).await, 200);
    let b_at = used_at(&app, &admin, &b).await;
    let after = chrono::Utc::now();
    assert!(
        before <= b_at && b_at <= after,
        "{before} <= {b_at} <= {after}"
    );
    assert_eq!(
        last_used(&app, &admin, &a).await,
        Value::Null,
        "a forged secret is no use"
    );

    // Used again at once: within the minute nothing more is written. Key c's write, made
    // after these, is the sign that they would have been written by then.
    for _ in 0..5 {
        assert_eq!(app.me_status(&secret_b).await, 200);
    }
    assert_eq!(app.me_status(&secret_c).await, 200);
    used_at(&app, &admin, &c).await;
    assert_eq!(
        used_at(&app, &admin, &b).await,
        b_at,
        "at most one write a minute"
    );

    // A revoked key's attempts are refused and not recorded.
    assert_eq!(
        app.call("DELETE", &format!("/v1/api-keys/{a}"), Some(&admin), None)
            .await
            .status(),
        200
    );
    assert_eq!(app.me_status(&secret_a).await, 401);
    let (d, secret_d) = app.viewer_key(&admin, "d").await;
    assert_eq!(app.me_status(&secret_d).await, 200);
    used_at(&app, &admin, &d).await;
    assert_eq!(last_used(&app, &admin, &a).await, Value::Null);
    app.stop().await;
}

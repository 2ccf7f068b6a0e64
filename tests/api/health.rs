use crate::helpers::{Backend, Proxy, TestApp, TestDb, pg_socket, test_settings};
use crate::on_both_backends;
use serde_json::Value;

on_both_backends!(
    probes_have_their_documented_shapes,
    readiness_is_503_until_the_database_appears
);

async fn probes_have_their_documented_shapes(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    let request_id = live
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .expect("ascii");
    assert!(
        uuid::Uuid::parse_str(request_id).is_ok(),
        "request id is a UUID: {request_id}"
    );
    assert_eq!(
        live.json::<Value>().await.expect("json"),
        serde_json::json!({"ok": true})
    );

    let body = app.wait_ready_status(200).await;
    assert_eq!(body["ready"], true);
    assert_eq!(body["down"], serde_json::json!([]));
    assert_eq!(body["dependencies"]["database"]["status"], "up");
    assert_eq!(body["actors"]["database-monitor"]["status"], "up");
    assert!(
        body["dependencies"]["database"]["since"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    assert!(
        body["dependencies"].get("redis").is_none(),
        "no Redis unless configured"
    );

    // The SQLite file lives under the configured data directory, in WAL mode.
    if let Some(dir) = app.db.as_ref().and_then(TestDb::sqlite_dir) {
        assert!(dir.join("data/test.db").is_file());
        let mode: String = match ai_service::db::Db::connect(
            &test_settings(app.db.as_ref().map(TestDb::url).unwrap_or_default()).database,
        )
        .await
        {
            Ok(ai_service::db::Db::Sqlite(db)) => sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&db.pool)
                .await
                .expect("pragma"),
            other => panic!("expected sqlite pool, got {other:?}"),
        };
        assert_eq!(mode, "wal");
    }
    app.stop().await;
}

async fn readiness_is_503_until_the_database_appears(backend: Backend) {
    match backend {
        Backend::Sqlite => {
            // The database's directory cannot be created while a plain file sits in its place.
            let dir = tempfile::tempdir().expect("tempdir");
            let blocker = dir.path().join("data");
            std::fs::write(&blocker, b"not a directory").expect("write blocker");
            let mut settings = test_settings(&format!("sqlite://{}/db.sqlite", blocker.display()));
            settings.database.boot_wait_ms = 100;
            let app = TestApp::with_settings(settings).await;

            assert_eq!(
                app.get("/health/live").await.status(),
                200,
                "live while the database is missing"
            );
            let body = app.wait_ready_status(503).await;
            assert_down_names_database(&body);

            std::fs::remove_file(&blocker).expect("remove blocker");
            let body = app.wait_ready_status(200).await;
            assert_eq!(body["dependencies"]["database"]["status"], "up");
            app.stop().await;
        }
        Backend::Postgres => {
            let db = TestDb::new(Backend::Postgres).await;
            let proxy = Proxy::reserve(pg_socket()).await;
            let mut url = url::Url::parse(db.url()).expect("url");
            url.set_port(Some(proxy.port)).expect("port");
            let mut settings = test_settings(url.as_str());
            settings.database.boot_wait_ms = 100;
            let app = TestApp::with_settings(settings).await;

            assert_eq!(
                app.get("/health/live").await.status(),
                200,
                "live while the database is missing"
            );
            assert_down_names_database(&app.wait_ready_status(503).await);

            proxy.start().await;
            app.wait_ready_status(200).await;

            // The database goes away while running: 503, then back to 200 without a restart.
            proxy.kill().await;
            assert_down_names_database(&app.wait_ready_status(503).await);
            proxy.start().await;
            app.wait_ready_status(200).await;
            app.stop().await;
            drop(db);
        }
    }
}

fn assert_down_names_database(body: &Value) {
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(body["down"], serde_json::json!(["database"]), "{body}");
    let status = body["dependencies"]["database"]["status"]
        .as_str()
        .unwrap_or_default();
    assert!(status == "down" || status == "starting", "{body}");
    let detail = body["dependencies"]["database"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(!detail.is_empty(), "a reason is given: {body}");
    assert!(
        !detail.contains("postgres://"),
        "no URL in the detail: {detail}"
    );
}

use crate::helpers::{Backend, TestApp, TestDb, test_settings};
use crate::on_both_backends;
use ai_service::db::{Db, embedded_count};

on_both_backends!(
    migrations_are_idempotent,
    concurrent_migrations_apply_once,
    two_processes_migrate_at_once
);

fn backend_of(b: Backend) -> ai_service::config::Backend {
    match b {
        Backend::Sqlite => ai_service::config::Backend::Sqlite,
        Backend::Postgres => ai_service::config::Backend::Postgres,
    }
}

async fn migrations_are_idempotent(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let settings = test_settings(test_db.url());
    let db = Db::connect(&settings.database).await.expect("connect");
    db.migrate().await.expect("first run");
    db.migrate().await.expect("second run");
    let applied = db.applied_migrations().await.expect("applied");
    assert_eq!(applied.len(), embedded_count(backend_of(backend)));
    assert!(!applied.is_empty());
    db.close().await;

    // And a service restart on the same database migrates (nothing) and is ready again.
    for _ in 0..2 {
        let app = TestApp::with_settings(settings.clone()).await;
        app.wait_ready_status(200).await;
        app.stop().await;
    }
}

async fn concurrent_migrations_apply_once(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let settings = test_settings(test_db.url());
    // Separate pools stand for separate processes: each has its own connections.
    let a = Db::connect(&settings.database).await.expect("connect a");
    let b = Db::connect(&settings.database).await.expect("connect b");
    let c = Db::connect(&settings.database).await.expect("connect c");
    let (ra, rb, rc) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
    ra.expect("a migrates");
    rb.expect("b migrates");
    rc.expect("c migrates");
    assert_eq!(
        a.applied_migrations().await.expect("applied").len(),
        embedded_count(backend_of(backend))
    );
    for db in [a, b, c] {
        db.close().await;
    }
}

async fn two_processes_migrate_at_once(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let url = test_db.url().to_owned();
    let children = tokio::task::spawn_blocking(move || {
        let spawn = || {
            std::process::Command::new(env!("CARGO_BIN_EXE_ai-service"))
                .arg("migrate")
                .env("DATABASE_URL", &url)
                .env("APP_CONFIG", "config.toml")
                .env("RUST_LOG", "warn")
                .output()
        };
        let (first, second) = std::thread::scope(|s| {
            let h1 = s.spawn(spawn);
            let h2 = s.spawn(spawn);
            (h1.join(), h2.join())
        });
        [first, second]
    })
    .await
    .expect("join");
    for out in children {
        let out = out.expect("thread").expect("run ai-service migrate");
        assert!(
            out.status.success(),
            "migrate failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    }
    let db = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("connect");
    assert_eq!(
        db.applied_migrations().await.expect("applied").len(),
        embedded_count(backend_of(backend))
    );
    db.close().await;
}

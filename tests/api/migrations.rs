use crate::helpers::{Backend, TestApp, TestDb, test_settings};
use crate::on_both_backends;
use ai_service::db::{Db, Sql, embedded_count};
use sqlx::migrate::Migrator;

on_both_backends!(
    migrations_are_idempotent,
    concurrent_migrations_apply_once,
    two_processes_migrate_at_once,
    jobs_and_schedules_stored_under_the_old_names_carry_the_new_ones
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

/// The two migration folders stay in step: the same files, and after migrating, the same
/// tables with the same columns (types may differ: BLOB/BYTEA).
#[actix_web::test]
async fn both_backends_have_the_same_migrations_tables_and_columns() {
    let files = |backend: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(format!("migrations/{backend}"))
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(files("sqlite"), files("postgres"));
    if !crate::helpers::postgres_available().await {
        return;
    }
    let mut shapes = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_db = TestDb::new(backend).await;
        let db = Db::connect(&test_settings(test_db.url()).database)
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let mut columns: Vec<(String, String)> = match &db {
            Db::Sqlite(p) => sqlx::query_as(
                "SELECT m.name, c.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(&p.pool)
            .await
            .expect("sqlite columns"),
            Db::Postgres(p) => sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(&p.pool)
            .await
            .expect("postgres columns"),
        };
        columns.sort();
        shapes.push(columns);
        db.close().await;
    }
    assert!(!shapes[0].is_empty());
    let (sqlite, postgres) = (&shapes[0], &shapes[1]);
    let only = |a: &Vec<(String, String)>, b: &Vec<(String, String)>| -> Vec<(String, String)> {
        a.iter().filter(|c| !b.contains(c)).cloned().collect()
    };
    assert!(
        sqlite == postgres,
        "only on SQLite: {:?}\nonly on Postgres: {:?}",
        only(sqlite, postgres),
        only(postgres, sqlite)
    );
}

/// The migration that renamed the `financial` queue `finance` and the camelCase job names.
const JOB_NAMES_MIGRATION: i64 = 20_261_202_100_000;

/// A job and a schedule written under the old names (queue `financial`, `syncBank`,
/// `syncAll`) before the renaming migration show the new names after it, so the registered
/// kinds still run them.
async fn jobs_and_schedules_stored_under_the_old_names_carry_the_new_ones(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let settings = test_settings(test_db.url());
    let db = Db::connect(&settings.database).await.expect("connect");
    let folder = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let mut before = Migrator::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder))
        .await
        .expect("migrations folder");
    let earlier: Vec<_> = before
        .migrations
        .iter()
        .filter(|m| m.version < JOB_NAMES_MIGRATION)
        .cloned()
        .collect();
    assert!(
        earlier.len() < before.migrations.len(),
        "the renaming migration exists"
    );
    before.migrations = earlier.into();
    match &db {
        Db::Sqlite(p) => before.run(&p.pool).await,
        Db::Postgres(p) => before.run(&p.pool).await,
    }
    .expect("migrate up to the renaming");
    db.execute(
        "INSERT INTO jobs (id, queue, name, payload, state, attempts, max_attempts, backoff, run_at, \
         last_error, trace_id, created_at, updated_at) VALUES ('job-old', 'financial', 'syncBank', \
         '{\"account_id\":\"acc-1\"}', 'dead', 5, 5, 'fixed:1000', 1, 'boom', 't-old', 1, 1)",
    )
    .await
    .expect("old job");
    let sql = Sql::new(
        "INSERT INTO schedules (id, name, cron, queue, job_name, payload, enabled, created_at, updated_at) \
         VALUES ('sch-old', 'bank', '0 0 3 * * *', 'financial', 'syncAll', '{}', $1, 1, 1)",
    );
    db.execute(sql.bind(false)).await.expect("old schedule");
    db.migrate().await.expect("the renaming and what follows");
    db.close().await;

    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(test_db);
    let admin = app.token_for("admin").await;
    let job: serde_json::Value = app
        .call("GET", "/v1/jobs/job-old", Some(&admin), None)
        .await
        .json()
        .await
        .expect("job");
    assert_eq!(
        (job["queue"].as_str(), job["name"].as_str()),
        (Some("finance"), Some("sync_bank")),
        "{job}"
    );
    let schedules: serde_json::Value = app
        .call("GET", "/v1/schedules", Some(&admin), None)
        .await
        .json()
        .await
        .expect("schedules");
    let bank = &schedules[0];
    assert_eq!(
        (bank["queue"].as_str(), bank["job_name"].as_str()),
        (Some("finance"), Some("sync_all")),
        "{schedules}"
    );
    app.stop().await;
}

/// SQLite reads the default transactions page (newest first, with or without a cursor) from
/// one covering index, in its order: no sort, no lookup of each row in the table. A column
/// added to the page but not to the index would make SQLite look every row up again (the
/// page's CPU +13 %, docs/decisions.md "The transactions page read from one index").
#[actix_web::test]
async fn sqlite_reads_the_default_transactions_page_from_one_covering_index() {
    let test_db = TestDb::new(Backend::Sqlite).await;
    let db = Db::connect(&test_settings(test_db.url()).database)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let Db::Sqlite(p) = &db else {
        panic!("a SQLite database")
    };
    let columns = ai_service::finance::transactions::SHOWN_COLUMNS;
    for filter in [
        "",
        " AND booked_date <= '2026-01-01' AND (booked_date < '2026-01-01' OR (booked_date = '2026-01-01' AND id < 'x'))",
    ] {
        for dir in ["DESC", "ASC"] {
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT {columns} FROM fin_transactions WHERE 1 = 1{filter} \
                 ORDER BY booked_date {dir}, id {dir} LIMIT 51"
            );
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&sql).fetch_all(&p.pool).await.expect("plan");
            let plan: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
            assert_eq!(plan.len(), 1, "{dir}{filter}: {plan:?}");
            assert!(
                plan[0].contains("USING COVERING INDEX fin_tx_date_cover"),
                "{dir}{filter}: {plan:?}"
            );
        }
    }
    db.close().await;
}

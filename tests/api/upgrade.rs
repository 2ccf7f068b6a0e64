//! Upgrades: the database of the previous release (a fixture made by its migrations, with
//! data written through its API) boots on this binary with everything intact; migrations are
//! forward-only and checksummed (an edited applied migration stops the boot); a binary older
//! than the database's schema refuses to start, naming both versions, instead of running.
//!
//! The fixture is regenerated at each release (before its first new migration):
//! `cargo test --test api upgrade::generate_fixture -- --ignored` writes
//! `tests/fixtures/upgrade/`; then bump `FIXTURE_*` below.

use crate::finance_api::{account, get, plain_csv_profile, post, upload_csv, wait_import};
use crate::helpers::{Backend, TestApp, TestDb, test_settings};
use crate::on_both_backends;
use ai_service::db::{Db, embedded_count, newest_embedded};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

on_both_backends!(
    the_previous_release_database_boots_with_its_data,
    an_edited_applied_migration_stops_the_boot,
    an_older_binary_refuses_a_newer_schema
);

/// The release the fixture comes from, and its newest migration.
const FIXTURE_COMMIT: &str = "da2ee28";
const FIXTURE_SCHEMA: i64 = 20_261_203_000_009;
/// What the fixture holds (see `seed`).
const FIXTURE_ACCOUNT: &str = "Fixture checking";
const FIXTURE_STRATEGY: &str = "fixture-threshold";
const FIXTURE_AMOUNTS: [&str; 5] = ["-12.34", "-5.00", "1500.00", "-99.99", "-0.01"];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn kind(b: Backend) -> ai_service::config::Backend {
    match b {
        Backend::Sqlite => ai_service::config::Backend::Sqlite,
        Backend::Postgres => ai_service::config::Backend::Postgres,
    }
}

async fn connect(url: &str) -> Db {
    Db::connect(&test_settings(url).database)
        .await
        .expect("connect")
}

/// The previous release's data, written through its API.
async fn seed(app: &TestApp) {
    let admin = app.token_for("admin").await;
    let acc = account(app, &admin, FIXTURE_ACCOUNT, "EUR").await;
    let profile = plain_csv_profile(app, &admin).await;
    let mut csv = String::from("date,description,amount\n");
    for (n, amount) in FIXTURE_AMOUNTS.iter().enumerate() {
        csv.push_str(&format!(
            "2026-11-{:02},Fixture purchase {n},{amount}\n",
            n + 1
        ));
    }
    let res = upload_csv(app, &admin, &acc, &profile, csv.into_bytes()).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.expect("json");
    let done = wait_import(app, &admin, body["import_id"].as_str().expect("id")).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    post(
        app,
        &admin,
        "/v1/financial/categories",
        json!({"name": "Food", "kind": "expense"}),
    )
    .await;
    let mut strategy = crate::trading_api::always_buy(FIXTURE_STRATEGY);
    strategy["name"] = json!(FIXTURE_STRATEGY);
    crate::trading_api::create(app, &admin, strategy).await;
    post(
        app,
        &admin,
        "/v1/schedules",
        json!({"name": "bank", "cron": "0 0 */6 * * *", "queue": "finance", "job_name": "sync_all"}),
    )
    .await;
}

/// Regenerates the fixture from this tree's migrations (run at a release, see the module doc).
#[actix_web::test]
#[ignore = "writes tests/fixtures/upgrade; run by hand at a release"]
async fn generate_fixture() {
    let dir = fixture_dir();
    std::fs::create_dir_all(&dir).expect("fixture dir");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::spawn(backend).await;
        seed(&app).await;
        let url = app.db.as_ref().expect("db").url().to_owned();
        let db = connect(&url).await;
        assert_eq!(
            db.schema_version().await.expect("version"),
            Some(newest_embedded(kind(backend)))
        );
        db.close().await;
        app.flush_audit().await;
        match backend {
            Backend::Sqlite => {
                let copy = dir.join(format!("release-{FIXTURE_COMMIT}.sqlite"));
                let _ = std::fs::remove_file(&copy);
                let db = connect(&url).await;
                db.execute(
                    ai_service::db::Sql::new("VACUUM INTO $1")
                        .bind(copy.to_string_lossy().into_owned()),
                )
                .await
                .expect("vacuum into");
                db.close().await;
                let raw = std::fs::read(&copy).expect("copy");
                let gz =
                    std::fs::File::create(dir.join(format!("release-{FIXTURE_COMMIT}.sqlite.gz")))
                        .expect("create");
                let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::best());
                std::io::Write::write_all(&mut enc, &raw).expect("gzip");
                enc.finish().expect("gzip");
                std::fs::remove_file(&copy).expect("remove");
            }
            Backend::Postgres => {
                let out = std::process::Command::new("pg_dump")
                    .args([
                        "--no-owner",
                        "--no-privileges",
                        "--inserts",
                        "--dbname",
                        &url,
                    ])
                    .output()
                    .expect("pg_dump");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                // psql meta-commands (`\restrict`) are not SQL: the loader runs plain SQL.
                let sql: String = String::from_utf8(out.stdout)
                    .expect("utf8")
                    .lines()
                    .filter(|l| !l.starts_with('\\'))
                    .map(|l| format!("{l}\n"))
                    .collect();
                std::fs::write(
                    dir.join(format!("release-{FIXTURE_COMMIT}.postgres.sql")),
                    sql,
                )
                .expect("write");
            }
        }
        app.stop().await;
    }
}

/// A fresh database holding the fixture (not migrated by this binary yet).
async fn load_fixture(backend: Backend) -> TestDb {
    let test_db = TestDb::new(backend).await;
    match backend {
        Backend::Sqlite => {
            let path = test_db.sqlite_dir().expect("dir").join("data/test.db");
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let gz = std::fs::File::open(
                fixture_dir().join(format!("release-{FIXTURE_COMMIT}.sqlite.gz")),
            )
            .expect("fixture");
            let mut out = std::fs::File::create(&path).expect("create");
            std::io::copy(&mut flate2::read::GzDecoder::new(gz), &mut out).expect("gunzip");
        }
        Backend::Postgres => {
            let sql = std::fs::read_to_string(
                fixture_dir().join(format!("release-{FIXTURE_COMMIT}.postgres.sql")),
            )
            .expect("fixture");
            let db = connect(test_db.url()).await;
            let Db::Postgres(pool) = &db else {
                unreachable!("a Postgres url")
            };
            sqlx::raw_sql(&sql)
                .execute(&pool.pool)
                .await
                .expect("load fixture");
            db.close().await;
        }
    }
    test_db
}

async fn the_previous_release_database_boots_with_its_data(backend: Backend) {
    let test_db = load_fixture(backend).await;
    let db = connect(test_db.url()).await;
    assert_eq!(
        db.schema_version().await.expect("version"),
        Some(FIXTURE_SCHEMA)
    );
    db.close().await;

    let settings = test_settings(test_db.url());
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(test_db);
    app.wait_ready_status(200).await;
    let db = connect(app.db.as_ref().expect("db").url()).await;
    assert_eq!(
        db.applied_migrations().await.expect("applied").len(),
        embedded_count(kind(backend)),
        "every migration of this binary applied on top"
    );
    db.close().await;

    let res = app.login("admin-user", "pw-admin-user-0123456789").await;
    assert_eq!(res.status(), 200, "the fixture's admin logs in");
    let body: Value = res.json().await.expect("json");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let accounts = get(&app, &token, "/v1/financial/accounts").await;
    assert_eq!(accounts[0]["name"], FIXTURE_ACCOUNT, "{accounts:#}");
    let page = get(&app, &token, "/v1/financial/transactions?limit=50").await;
    let mut amounts: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["amount"].as_str().expect("amount").to_owned())
        .collect();
    amounts.sort();
    let mut expected: Vec<String> = FIXTURE_AMOUNTS.iter().map(|a| (*a).to_owned()).collect();
    expected.sort();
    assert_eq!(amounts, expected, "{page:#}");
    let strategies = get(&app, &token, "/v1/trading/strategies").await;
    assert!(
        strategies.to_string().contains(FIXTURE_STRATEGY),
        "{strategies:#}"
    );
    let schedules = get(&app, &token, "/v1/schedules").await;
    assert_eq!(schedules[0]["name"], "bank", "{schedules:#}");
    app.stop().await;
}

async fn an_edited_applied_migration_stops_the_boot(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = connect(test_db.url()).await;
    db.migrate().await.expect("migrate");
    let first = db.applied_migrations().await.expect("applied")[0];
    // What an edited file looks like from the database: the stored checksum differs.
    let sql = match backend {
        Backend::Sqlite => "UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = $1",
        Backend::Postgres => {
            "UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea WHERE version = $1"
        }
    };
    db.execute(ai_service::db::Sql::new(sql).bind(first))
        .await
        .expect("tamper");
    db.close().await;
    let err = match ai_service::startup::Application::build(test_settings(test_db.url())).await {
        Ok(_) => panic!("booted on an edited migration"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains(&first.to_string())
            && err.contains("has changed")
            && err.contains("forward-only"),
        "{err}"
    );
}

/// A migration a newer release applied, which this binary does not have.
const FUTURE: i64 = 20_991_231_000_000;

async fn add_future_migration(db: &Db, backend: Backend) {
    let sql = match backend {
        Backend::Sqlite => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'from a newer release', TRUE, X'00', 0)"
        }
        Backend::Postgres => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'from a newer release', TRUE, '\\x00'::bytea, 0)"
        }
    };
    db.execute(ai_service::db::Sql::new(sql).bind(FUTURE))
        .await
        .expect("future migration");
}

async fn an_older_binary_refuses_a_newer_schema(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = connect(test_db.url()).await;
    db.migrate().await.expect("migrate");
    add_future_migration(&db, backend).await;
    let tables_before: i64 = db
        .fetch_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .await
        .expect("count");
    db.close().await;

    // `serve` (the default command) exits at once, naming both versions.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = test_db.url().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ai-service"))
            .current_dir(dir.path())
            .env_remove("APP_CONFIG")
            .env("DATABASE_URL", &url)
            .env("PORT", "0")
            .env("RUST_LOG", "warn")
            .env("APP__AUTH__JWT_SECRET", crate::helpers::JWT_SECRET)
            .env("APP__SECURITY__MASTER_KEY", crate::helpers::MASTER_KEY)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let binary = newest_embedded(kind(backend)).to_string();
    assert!(
        stderr.contains("20991231000000") && stderr.contains(&binary) && stderr.contains("newer"),
        "{stderr}"
    );
    // Nothing was applied or changed.
    let db = connect(test_db.url()).await;
    let after: i64 = db
        .fetch_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .await
        .expect("count");
    assert_eq!(after, tables_before);
    db.close().await;
}

/// Forward-only: no down migrations, and the two backends keep one version list.
#[test]
fn migrations_are_forward_only() {
    for backend in ["sqlite", "postgres"] {
        for entry in std::fs::read_dir(format!("migrations/{backend}")).expect("migrations") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            assert!(
                !name.contains(".down.") && !name.contains(".up."),
                "{backend}/{name}: migrations are forward-only (no down/up pairs)"
            );
        }
    }
    assert!(
        newest_embedded(ai_service::config::Backend::Sqlite) >= FIXTURE_SCHEMA,
        "the fixture is newer than this binary"
    );
}

/// The database is away at boot (the service serves as not-ready) and comes back migrated by
/// a newer release: the running service stops with the reason instead of retrying forever.
#[actix_web::test]
async fn a_newer_schema_found_after_boot_stops_the_service() {
    use crate::helpers::{Proxy, pg_socket};
    if !crate::helpers::postgres_available().await {
        return;
    }
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = connect(test_db.url()).await;
    db.migrate().await.expect("migrate");
    add_future_migration(&db, Backend::Postgres).await;
    db.close().await;

    let proxy = Proxy::reserve(pg_socket()).await;
    let mut url = url::Url::parse(test_db.url()).expect("url");
    url.set_port(Some(proxy.port)).expect("port");
    let mut settings = test_settings(url.as_str());
    settings.database.boot_wait_ms = 100;
    let app = ai_service::startup::Application::build(settings)
        .await
        .expect("boots while the database is away");
    let running = actix_web::rt::spawn(app.run_until_stopped());
    proxy.start().await;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), running)
        .await
        .expect("the service stopped by itself")
        .expect("task");
    let err = format!("{:#}", ended.expect_err("stopped with an error"));
    assert!(
        err.contains("20991231000000") && err.contains("newer"),
        "{err}"
    );
}

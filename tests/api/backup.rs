//! Backups and restores, as an owner runs them: `ai-service backup` while an import is
//! running, `ai-service restore` into a fresh database (same rows, same sums, the service
//! boots on it), the refusals (a database holding data without `--force`, a tampered
//! checksum, another backend, a newer schema), and the scheduled `maintenance/backup` job
//! with its retention.

use crate::finance_api::{account, get, plain_csv_profile, upload_csv};
use crate::helpers::{Backend, TestApp, TestDb, eventually, test_settings};
use crate::on_both_backends;
use ai_service::db::Db;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

on_both_backends!(
    a_backup_taken_during_imports_restores_whole_imports_and_boots,
    restore_refuses_data_tampering_and_a_newer_schema,
    the_scheduled_backup_job_writes_and_prunes
);

fn ai_service(database_url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ai-service"));
    for var in ["REDIS_URL", "PORT", "HOST", "APP_CONFIG"] {
        c.env_remove(var);
    }
    c.env("DATABASE_URL", database_url).env("RUST_LOG", "warn");
    c
}

/// Runs the binary off the async threads.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run ai-service"))
        .await
        .expect("join")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `ai-service backup --to dir`; the manifest path it printed.
async fn backup_cli(url: &str, dir: &Path) -> PathBuf {
    let mut cmd = ai_service(url);
    cmd.arg("backup").arg("--to").arg(dir);
    let out = run(cmd).await;
    assert!(out.status.success(), "backup failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("manifest: "))
        .unwrap_or_else(|| panic!("no manifest line in {stdout}"));
    PathBuf::from(line)
}

async fn restore_cli(url: &str, file: &Path, force: bool) -> Output {
    let mut cmd = ai_service(url);
    cmd.arg("restore").arg(file);
    if force {
        cmd.arg("--force");
    }
    run(cmd).await
}

fn manifest(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("manifest json")
}

async fn connect(url: &str) -> Db {
    Db::connect(&test_settings(url).database)
        .await
        .expect("connect")
}

/// Transactions, their amounts' sum (in 1e-4 units) and the rows completed imports claim.
async fn books(db: &Db) -> (i64, i64, i64) {
    let n: i64 = db
        .fetch_scalar("SELECT COUNT(*) FROM fin_transactions")
        .await
        .expect("count");
    let sum: i64 = db
        .fetch_scalar("SELECT CAST(COALESCE(SUM(amount_e4), 0) AS BIGINT) FROM fin_transactions")
        .await
        .expect("sum");
    let claimed: i64 = db
        .fetch_scalar(
            "SELECT CAST(COALESCE(SUM(inserted), 0) AS BIGINT) FROM fin_imports WHERE status = 'completed'",
        )
        .await
        .expect("imports");
    (n, sum, claimed)
}

/// Rows per imported file: enough that the imports are still running when the backup starts.
const ROWS: u32 = 15_000;

/// A statement of `rows` lines on distinct descriptions, each `-1.25`, so a file's sum is known.
fn statement(file: u32, rows: u32) -> Vec<u8> {
    let mut csv = String::from("date,description,amount\n");
    for n in 0..rows {
        csv.push_str(&format!(
            "2026-06-{:02},file {file} purchase {n},-1.25\n",
            1 + n % 28
        ));
    }
    csv.into_bytes()
}

/// Waits for an import to finish; a 503 (every pooled connection busy with the imports'
/// writes) is "not yet", not a failure.
async fn finished_import(app: &TestApp, token: &str, id: &str) -> Value {
    eventually(Duration::from_secs(60), "the import to finish", || async {
        let res = app
            .call(
                "GET",
                &format!("/v1/financial/imports/{id}"),
                Some(token),
                None,
            )
            .await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        match body["status"].as_str() {
            Some("completed" | "failed") if status == 200 => Ok(body),
            _ => Err((status, body)),
        }
    })
    .await
}

async fn a_backup_taken_during_imports_restores_whole_imports_and_boots(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let mut settings = test_settings(test_db.url());
    settings.database.max_connections = 8;
    let mut app = TestApp::with_settings(settings).await;
    app.db = Some(test_db);
    let url = app.db.as_ref().expect("db").url().to_owned();
    let token = app.token_for("trader").await;
    let acc = account(&app, &token, "Main", "EUR").await;
    let profile = plain_csv_profile(&app, &token).await;
    let dir = tempfile::tempdir().expect("tempdir");

    // Three imports queued; the backup runs while they are being written.
    let mut ids = Vec::new();
    for file in 0..3 {
        let res = upload_csv(&app, &token, &acc, &profile, statement(file, ROWS)).await;
        assert_eq!(res.status(), 202);
        let body: Value = res.json().await.expect("json");
        ids.push(body["import_id"].as_str().expect("id").to_owned());
    }
    let during = backup_cli(&url, dir.path()).await;
    for id in &ids {
        let done = finished_import(&app, &token, id).await;
        assert_eq!(done["status"], "completed", "{done:#}");
    }
    let after = backup_cli(&url, dir.path()).await;
    let source = connect(&url).await;
    let source_books = books(&source).await;
    assert_eq!(source_books.0, 3 * ROWS as i64);
    source.close().await;

    let m = manifest(&during);
    let file = dir.path().join(m["file"].as_str().expect("file"));
    let expected_suffix = match backend {
        Backend::Sqlite => ".sqlite.gz",
        Backend::Postgres => ".pgdump",
    };
    assert!(
        file.to_string_lossy().ends_with(expected_suffix),
        "{file:?}"
    );
    assert!(
        m["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("ai-service-2") && f.contains('T')),
        "{m:#}"
    );
    assert_eq!(
        m["schema_version"].as_i64(),
        Some(ai_service::db::newest_embedded(match backend {
            Backend::Sqlite => ai_service::config::Backend::Sqlite,
            Backend::Postgres => ai_service::config::Backend::Postgres,
        }))
    );

    // The backup taken mid-import restores whole imports only: every row it holds belongs to
    // an import it shows completed, and each of those adds exactly its file's rows.
    let fresh = TestDb::new(backend).await;
    let out = restore_cli(fresh.url(), &file, false).await;
    assert!(out.status.success(), "restore failed: {}", text(&out));
    assert!(text(&out).contains("counts verified"), "{}", text(&out));
    let restored = connect(fresh.url()).await;
    let (n, sum, claimed) = books(&restored).await;
    assert_eq!(n, claimed, "rows of unfinished imports in the backup");
    assert_eq!(
        n % ROWS as i64,
        0,
        "an import only partly in the backup: {n}"
    );
    eprintln!(
        "the backup taken during the imports holds {n} of {} rows",
        3 * ROWS
    );
    assert_eq!(sum, -12_500 * n, "amounts differ from the files'");
    assert_eq!(
        n,
        m["tables"]["fin_transactions"].as_i64().expect("count"),
        "{m:#}"
    );
    restored.close().await;

    // The backup after the imports: exactly the source's books, and the service runs on it.
    let fresh = TestDb::new(backend).await;
    let out = restore_cli(fresh.url(), &after, false).await;
    assert!(out.status.success(), "restore failed: {}", text(&out));
    let restored = connect(fresh.url()).await;
    assert_eq!(books(&restored).await, source_books);
    restored.close().await;
    app.stop().await;

    let mut app = TestApp::with_settings(test_settings(fresh.url())).await;
    app.db = Some(fresh);
    app.wait_ready_status(200).await;
    let res = app.login("trader-user", "pw-trader-user-0123456789").await;
    assert_eq!(res.status(), 200, "the restored user logs in");
    let body: Value = res.json().await.expect("json");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let accounts = get(&app, &token, "/v1/financial/accounts").await;
    assert_eq!(accounts[0]["name"], "Main", "{accounts:#}");
    let page = get(&app, &token, "/v1/financial/transactions?limit=1").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page:#}");
    app.stop().await;
}

async fn restore_refuses_data_tampering_and_a_newer_schema(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let url = app.db.as_ref().expect("db").url().to_owned();
    let token = app.token_for("trader").await;
    account(&app, &token, "Main", "EUR").await;
    // The database outlives the service: restores run with the service stopped.
    let _source = app.db.take();
    app.stop().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest_path = backup_cli(&url, dir.path()).await;
    let m = manifest(&manifest_path);
    let archive = dir.path().join(m["file"].as_str().expect("file"));

    // The source holds data: refused without --force, replaced with it.
    let out = restore_cli(&url, &archive, false).await;
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("not empty") && said.contains("--force") && said.contains("users: 1"),
        "{said}"
    );
    let out = restore_cli(&url, &manifest_path, true).await;
    assert!(out.status.success(), "forced restore: {}", text(&out));
    assert!(text(&out).contains("replaced"), "{}", text(&out));

    // A tampered manifest checksum, then a damaged archive: refused, nothing written.
    let fresh = TestDb::new(backend).await;
    let mut tampered = m.clone();
    tampered["sha256"] = json!("0".repeat(64));
    std::fs::write(&manifest_path, tampered.to_string()).expect("write");
    let out = restore_cli(fresh.url(), &archive, false).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("checksum mismatch"), "{}", text(&out));
    std::fs::write(&manifest_path, m.to_string()).expect("write");
    let mut bytes = std::fs::read(&archive).expect("archive");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let original = std::fs::read(&archive).expect("archive");
    std::fs::write(&archive, &bytes).expect("write");
    let out = restore_cli(fresh.url(), &archive, false).await;
    assert!(text(&out).contains("checksum mismatch"), "{}", text(&out));
    std::fs::write(&archive, &original).expect("write");
    if let Some(dir) = fresh.sqlite_dir() {
        assert!(
            !dir.join("data/test.db").exists(),
            "a refused restore wrote the database"
        );
    }

    // A schema newer than this binary, and the other backend: refused by name.
    let mut newer = m.clone();
    newer["schema_version"] = json!(29_991_231_000_000_i64);
    std::fs::write(&manifest_path, newer.to_string()).expect("write");
    let out = restore_cli(fresh.url(), &archive, false).await;
    let said = text(&out);
    assert!(
        !out.status.success() && said.contains("29991231000000") && said.contains("newer"),
        "{said}"
    );
    std::fs::write(&manifest_path, m.to_string()).expect("write");
    let other = match backend {
        Backend::Sqlite => "postgres://nobody@127.0.0.1:1/none",
        Backend::Postgres => "sqlite:///nonexistent/x.db",
    };
    let out = restore_cli(other, &archive, false).await;
    assert!(
        !out.status.success() && text(&out).contains("database.url is"),
        "{}",
        text(&out)
    );

    // Untouched, it restores: into a database a newer binary migrated (no rows, a table the
    // backup does not know), which ends up exactly the backup's.
    let target = connect(fresh.url()).await;
    target.migrate().await.expect("migrate");
    target
        .execute("CREATE TABLE from_a_newer_release (id TEXT PRIMARY KEY)")
        .await
        .expect("extra table");
    target.close().await;
    let out = restore_cli(fresh.url(), &archive, false).await;
    assert!(out.status.success(), "restore: {}", text(&out));
    let target = connect(fresh.url()).await;
    let extra: i64 = target
        .fetch_scalar(match backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'from_a_newer_release'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'from_a_newer_release'"
            }
        })
        .await
        .expect("tables");
    assert_eq!(
        extra, 0,
        "a table the backup does not hold survived the restore"
    );
    target.close().await;

    // Backing up a SQLite file that does not exist creates nothing and says so.
    if backend == Backend::Sqlite {
        let missing = dir.path().join("nothing/here.db");
        let mut cmd = ai_service(&format!("sqlite://{}", missing.display()));
        cmd.arg("backup").arg("--to").arg(dir.path());
        let out = run(cmd).await;
        assert!(!out.status.success());
        assert!(text(&out).contains("no SQLite database"), "{}", text(&out));
        assert!(!missing.exists());
    }

    if backend == Backend::Postgres {
        // Without pg_dump on the PATH: a clear error naming it.
        let mut cmd = ai_service(&url);
        cmd.arg("backup")
            .arg("--to")
            .arg(dir.path())
            .env("PATH", dir.path());
        let out = run(cmd).await;
        assert!(!out.status.success());
        let said = text(&out);
        assert!(
            said.contains("pg_dump") && said.contains("not on the PATH"),
            "{said}"
        );
    }
}

async fn the_scheduled_backup_job_writes_and_prunes(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Two old backups of one day and one of another, and a file that is not ours.
    let old = [
        "ai-service-20200101T033000Z",
        "ai-service-20200101T120000Z",
        "ai-service-20200102T033000Z",
    ];
    let ext = match backend {
        Backend::Sqlite => ".sqlite.gz",
        Backend::Postgres => ".pgdump",
    };
    for stem in old {
        std::fs::write(dir.path().join(format!("{stem}{ext}")), b"old").expect("write");
        std::fs::write(dir.path().join(format!("{stem}.manifest.json")), b"{}").expect("write");
    }
    std::fs::write(dir.path().join("notes.txt"), b"mine").expect("write");

    // The built-in schedule, firing every second instead of daily.
    let mut settings = test_settings(test_db.url());
    settings.backup.dir = dir.path().to_path_buf();
    settings.backup.cron = "* * * * * *".to_owned();
    settings.backup.keep_daily = 2;
    settings.backup.keep_weekly = 0;
    let mut app = TestApp::with_settings(settings.clone()).await;
    app.db = Some(test_db);
    let admin = app.token_for("admin").await;
    let job = eventually(Duration::from_secs(90), "a finished backup job", || async {
        let page = get(&app, &admin, "/v1/jobs?queue=maintenance&state=completed").await;
        match page["items"].as_array().and_then(|a| a.last()).cloned() {
            Some(j) => Ok(j),
            None => Err(page),
        }
    })
    .await;
    assert_eq!(job["name"], "backup", "{job:#}");
    let test_db = app.db.take();
    app.stop().await;

    // Kept: today's newest and the newest of 2020-01-02; the rest pruned; notes.txt untouched.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let today: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with(ext) && !n.starts_with("ai-service-2020"))
        .collect();
    assert_eq!(today.len(), 1, "{names:?}");
    assert!(
        names.contains(&"notes.txt".to_owned())
            && names.contains(&format!("ai-service-20200102T033000Z{ext}"))
            && names.contains(&"ai-service-20200102T033000Z.manifest.json".to_owned())
            && !names.iter().any(|n| n.starts_with("ai-service-20200101")),
        "{names:?}"
    );

    // On demand: POST /v1/admin/backups (admin only), then listed.
    settings.backup.enabled = false;
    let mut app = TestApp::with_settings(settings).await;
    app.db = test_db;
    let res = app.login("admin-user", "pw-admin-user-0123456789").await;
    let body: Value = res.json().await.expect("json");
    let admin = body["access_token"].as_str().expect("token").to_owned();
    let viewer = app.token_for("viewer").await;
    let res = app
        .call("POST", "/v1/admin/backups", Some(&viewer), None)
        .await;
    assert_eq!(res.status(), 403);
    let res = app
        .call("POST", "/v1/admin/backups", Some(&admin), None)
        .await;
    assert_eq!(res.status(), 202);
    let accepted: Value = res.json().await.expect("json");
    // pg_dump on a loaded test machine can take longer than `wait_job`'s 10 s.
    let path = format!("/v1/jobs/{}", accepted["job_id"].as_str().expect("job"));
    let done = eventually(
        Duration::from_secs(90),
        "the backup job to finish",
        || async {
            let j = get(&app, &admin, &path).await;
            if j["state"] == "completed" || j["state"] == "dead" {
                Ok(j)
            } else {
                Err(j)
            }
        },
    )
    .await;
    assert_eq!(done["state"], "completed", "{done:#}");
    let file = done["result"]["file"].as_str().expect("file").to_owned();
    assert!(dir.path().join(&file).exists(), "{done:#}");
    let list = get(&app, &admin, "/v1/admin/backups").await;
    assert_eq!(list["items"][0]["file"], file.as_str(), "{list:#}");
    assert!(
        list["items"][0]["rows"].as_i64().unwrap_or(0) > 0,
        "{list:#}"
    );
    assert_eq!(
        list["items"][0]["backend"],
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    app.stop().await;
}

//! Postgres: `pg_dump --format=custom` of a snapshot exported by our own transaction (the
//! manifest's counts are read in that same snapshot); restore with `pg_restore --clean
//! --if-exists --single-transaction` (all or nothing), then the counts are checked.

use super::{BackupError, Manifest, Snapshot, blocking, check_empty, quote, verify_counts};
use crate::config::DatabaseSettings;
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, PgPool};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub(super) async fn backup(
    pool: &PgPool,
    settings: &DatabaseSettings,
    partial: &Path,
) -> Result<Snapshot, BackupError> {
    which("pg_dump")?;
    // A connection of its own: its transaction stays open until pg_dump has read the snapshot.
    let mut conn = PgConnection::connect_with(&pool.connect_options())
        .await
        .map_err(crate::db::DbError::Connect)?;
    let result = async {
        sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut conn)
            .await
            .map_err(crate::db::DbError::from)?;
        let snapshot_id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut conn)
            .await
            .map_err(crate::db::DbError::from)?;
        let snapshot = counts(&mut conn).await?;
        let mut cmd = tool("pg_dump", settings)?;
        cmd.arg("--format=custom")
            .arg(format!("--snapshot={snapshot_id}"))
            .arg("--file")
            .arg(partial);
        run(cmd, "pg_dump").await?;
        Ok(snapshot)
    }
    .await;
    let _ = sqlx::query("COMMIT").execute(&mut conn).await;
    let _ = conn.close().await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(partial).await;
    }
    result
}

pub(super) async fn restore(
    settings: &DatabaseSettings,
    archive: &Path,
    manifest: &Manifest,
    force: bool,
) -> Result<i64, BackupError> {
    which("pg_restore")?;
    let options = super::super::pool::pg_options(settings.url.expose())?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(crate::db::DbError::Connect)?;
    let before = counts(&mut conn).await;
    let _ = conn.close().await;
    let replaced = check_empty(&before?.tables, force)?;
    let mut cmd = tool("pg_restore", settings)?;
    // --clean --if-exists: tables a migrated (or --force) database has are replaced; one
    // transaction: a failure leaves the database as it was.
    cmd.args([
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
    ])
    .arg(archive);
    run(cmd, "pg_restore").await?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(crate::db::DbError::Connect)?;
    let after = async {
        // `--clean` replaced only what the dump holds: tables of newer migrations (a database
        // a newer binary had migrated, empty or forced) would contradict the restored
        // `_sqlx_migrations` and break the next start's migrations. They go.
        let before = counts(&mut conn).await?;
        for table in before.tables.keys() {
            if !manifest.tables.contains_key(table) {
                sqlx::query(&format!("DROP TABLE IF EXISTS {} CASCADE", quote(table)))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| BackupError::Db(e.into()))?;
            }
        }
        counts(&mut conn).await
    }
    .await;
    let _ = conn.close().await;
    verify_counts(manifest, &after?.tables)?;
    Ok(replaced)
}

async fn counts(conn: &mut PgConnection) -> Result<Snapshot, BackupError> {
    let result = async {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut counts = BTreeMap::new();
        for t in tables {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(&t)))
                .fetch_one(&mut *conn)
                .await?;
            counts.insert(t, n);
        }
        let version: Option<i64> = if counts.contains_key("_sqlx_migrations") {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut *conn)
                .await?
        } else {
            None
        };
        Ok::<_, sqlx::Error>(Snapshot {
            tables: counts,
            schema_version: version.unwrap_or(0),
        })
    }
    .await;
    result.map_err(|e| BackupError::Db(e.into()))
}

/// A libpq tool pointed at the configured database. The password goes in `PGPASSWORD`, not
/// on the command line (where `ps` would show it).
fn tool(name: &'static str, settings: &DatabaseSettings) -> Result<Command, BackupError> {
    let mut url = url::Url::parse(settings.url.expose())
        .map_err(|e| crate::db::DbError::Url(e.to_string()))?;
    let password = url.password().map(percent_decode);
    let _ = url.set_password(None);
    let mut cmd = Command::new(name);
    cmd.arg("--dbname").arg(url.as_str());
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    Ok(cmd)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn which(tool: &'static str) -> Result<(), BackupError> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    if found {
        Ok(())
    } else {
        Err(BackupError::ToolMissing { tool })
    }
}

/// Runs the tool off the async threads; its stderr (e.g. "server version mismatch") is the
/// error when it fails.
async fn run(mut cmd: Command, name: &'static str) -> Result<(), BackupError> {
    let out = blocking(move || {
        cmd.output().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BackupError::ToolMissing { tool: name },
            _ => BackupError::ToolFailed {
                tool: name,
                status: "could not start".to_owned(),
                stderr: e.to_string(),
            },
        })
    })
    .await?;
    if out.status.success() {
        return Ok(());
    }
    Err(BackupError::ToolFailed {
        tool: name,
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

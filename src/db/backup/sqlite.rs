//! SQLite: `VACUUM INTO` a copy (consistent, while writers go on), gzip it; restore by
//! decompressing next to the database, checking the copy, then renaming it into place.

use super::{BackupError, Manifest, Snapshot, blocking, check_empty, io, quote, verify_counts};
use crate::config::DatabaseSettings;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection as _, SqliteConnection, SqlitePool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(super) async fn backup(
    pool: &SqlitePool,
    dir: &Path,
    stem: &str,
    partial: &Path,
) -> Result<Snapshot, BackupError> {
    let source = pool.connect_options().get_filename().to_path_buf();
    if !tokio::fs::try_exists(&source).await.unwrap_or(false) {
        return Err(BackupError::NoDatabase(source));
    }
    let raw = dir.join(format!(".{stem}.sqlite.tmp"));
    let _ = tokio::fs::remove_file(&raw).await;
    let result = async {
        // One read transaction: the copy is the database as of its start, WAL included.
        sqlx::query("VACUUM INTO ?")
            .bind(raw.to_string_lossy().into_owned())
            .execute(pool)
            .await
            .map_err(crate::db::DbError::from)?;
        let snapshot = inspect(&raw, true).await?;
        let (from, to) = (raw.clone(), partial.to_path_buf());
        blocking(move || gzip(&from, &to)).await?;
        Ok(snapshot)
    }
    .await;
    let _ = tokio::fs::remove_file(&raw).await;
    result
}

/// Rows per table and schema version of a SQLite file. `standalone`: switch the file to a
/// rollback journal first, so it is one self-contained file (the copy of a WAL database).
async fn inspect(path: &Path, standalone: bool) -> Result<Snapshot, BackupError> {
    let mut options = SqliteConnectOptions::new().filename(path);
    if standalone {
        options = options.journal_mode(SqliteJournalMode::Delete);
    }
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(crate::db::DbError::Connect)?;
    let result = async {
        let check: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await?;
        if check != "ok" {
            return Err(sqlx::Error::Protocol(format!(
                "{}: integrity check failed: {check}",
                path.display()
            )));
        }
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&mut conn)
        .await?;
        let mut counts = BTreeMap::new();
        for t in tables {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(&t)))
                .fetch_one(&mut conn)
                .await?;
            counts.insert(t, n);
        }
        let version: Option<i64> = if counts.contains_key("_sqlx_migrations") {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await?
        } else {
            None
        };
        Ok(Snapshot {
            tables: counts,
            schema_version: version.unwrap_or(0),
        })
    }
    .await;
    let _ = conn.close().await;
    result.map_err(|e| BackupError::Db(e.into()))
}

fn gzip(from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut input = std::fs::File::open(from).map_err(io(from))?;
    let out = std::fs::File::create(to).map_err(io(to))?;
    let mut encoder = GzEncoder::new(std::io::BufWriter::new(out), Compression::default());
    std::io::copy(&mut input, &mut encoder).map_err(io(to))?;
    let out = encoder
        .finish()
        .map_err(io(to))?
        .into_inner()
        .map_err(|e| io(to)(e.into_error()))?;
    out.sync_all().map_err(io(to))
}

fn gunzip(from: &Path, to: &Path) -> Result<(), BackupError> {
    let input = std::fs::File::open(from).map_err(io(from))?;
    let mut decoder = GzDecoder::new(std::io::BufReader::new(input));
    let mut out = std::fs::File::create(to).map_err(io(to))?;
    // The gzip trailer's CRC is checked at the end of the stream: a damaged archive fails here.
    std::io::copy(&mut decoder, &mut out).map_err(io(from))?;
    out.sync_all().map_err(io(to))
}

pub(super) async fn restore(
    settings: &DatabaseSettings,
    archive: &Path,
    manifest: &Manifest,
    force: bool,
) -> Result<i64, BackupError> {
    let options = super::super::pool::sqlite_options(settings.url.expose())?;
    let target = options.get_filename().to_path_buf();
    let name = target.to_string_lossy();
    if name.is_empty() || name.contains(":memory:") {
        return Err(BackupError::NoDatabase(target));
    }
    let replaced = if tokio::fs::metadata(&target)
        .await
        .is_ok_and(|m| m.len() > 0)
    {
        check_empty(&inspect(&target, false).await?.tables, force)?
    } else {
        0
    };
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    }
    // Next to the database (same filesystem: the rename is atomic), never the database itself.
    let tmp = PathBuf::from(format!("{name}.restore.tmp"));
    let _ = tokio::fs::remove_file(&tmp).await;
    let checked = async {
        let (from, to) = (archive.to_path_buf(), tmp.clone());
        blocking(move || gunzip(&from, &to)).await?;
        let restored = inspect(&tmp, true).await?;
        verify_counts(manifest, &restored.tables)
    }
    .await;
    if let Err(e) = checked {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    // The old database's WAL must not be replayed onto the restored file.
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = PathBuf::from(format!("{name}{suffix}"));
        match tokio::fs::remove_file(&side).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&side)(e)),
        }
    }
    tokio::fs::rename(&tmp, &target)
        .await
        .map_err(io(&target))?;
    super::sync_dir(&target);
    Ok(replaced)
}

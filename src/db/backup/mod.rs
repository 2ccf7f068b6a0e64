//! Backups and restores of the configured database (`ai-service backup` / `restore`, the
//! `maintenance/backup` job).
//!
//! - SQLite: `VACUUM INTO` writes a consistent copy while the service serves (a read
//!   transaction: WAL writers go on), gzipped (flate2).
//! - Postgres: `pg_dump --format=custom` (compressed by pg_dump) of a snapshot exported from
//!   our own transaction, so the manifest's row counts are those of the dump.
//!
//! Files appear complete or not at all (written under a temporary name, then renamed), the
//! archive before its manifest: a directory listing never shows half a backup.

mod manifest;
mod postgres;
pub mod retention;
mod sqlite;

pub use manifest::{Manifest, backend_name};

use super::{Db, DbError};
use crate::config::{Backend, DatabaseSettings};
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no SQLite database at {0} (nothing to back up)")]
    NoDatabase(PathBuf),
    #[error(
        "`{tool}` is not on the PATH: install the PostgreSQL client tools (Debian: postgresql-client), \
         the same major version as the server or newer"
    )]
    ToolMissing { tool: &'static str },
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        tool: &'static str,
        status: String,
        stderr: String,
    },
    #[error("manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error(
        "{file}: checksum mismatch (manifest says sha256 {expected}, the file is {actual}): the \
         backup is damaged or was altered; refusing to restore it"
    )]
    Checksum {
        file: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("this backup is of a {backup} database but database.url is {configured}")]
    BackendMismatch {
        backup: String,
        configured: &'static str,
    },
    #[error(
        "the backup's schema is at migration {backup}, newer than this binary knows (its newest is \
         {binary}): restore it with that ai-service version or a newer one"
    )]
    SchemaNewer { backup: i64, binary: i64 },
    #[error("the database is not empty ({0}); pass --force to replace it")]
    NotEmpty(String),
    #[error("after the restore, table {table} has {actual} rows, the manifest says {expected}")]
    Count {
        table: String,
        expected: i64,
        actual: i64,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A finished backup.
#[derive(Debug, Clone)]
pub struct Created {
    pub archive: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
}

/// What a snapshot holds: rows per table and the newest applied migration.
pub(super) struct Snapshot {
    tables: BTreeMap<String, i64>,
    schema_version: i64,
}

/// Backs `db` up into `dir` (created when missing).
#[tracing::instrument(skip_all, fields(backend = ?db.backend(), dir = %dir.display()))]
pub async fn create(
    db: &Db,
    settings: &DatabaseSettings,
    dir: &Path,
) -> Result<Created, BackupError> {
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    let backend = db.backend();
    let created_at = Utc::now();
    let stem = free_stem(dir, created_at, backend).await;
    let archive = dir.join(format!("{stem}{}", manifest::extension(backend)));
    let partial = dir.join(format!(".{stem}.partial"));
    let snapshot = match db {
        Db::Sqlite(pool) => sqlite::backup(pool, dir, &stem, &partial).await?,
        Db::Postgres(pool) => postgres::backup(pool, settings, &partial).await?,
    };
    let (bytes, sha256) = hash_file(partial.clone()).await?;
    tokio::fs::rename(&partial, &archive)
        .await
        .map_err(io(&archive))?;
    let manifest = Manifest {
        format: manifest::FORMAT,
        backend: backend_name(backend).to_owned(),
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        schema_version: snapshot.schema_version,
        file: file_name(&archive),
        bytes,
        sha256,
        tables: snapshot.tables,
    };
    let manifest_path = manifest::manifest_path(dir, &stem);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Manifest {
        path: manifest_path.clone(),
        reason: e.to_string(),
    })?;
    write_atomically(&manifest_path, json).await?;
    tracing::info!(file = %manifest.file, bytes, "backup written");
    Ok(Created {
        archive,
        manifest_path,
        manifest,
    })
}

/// The SQLite file `settings` names (`None` for Postgres or an in-memory database): the CLI
/// checks it exists before connecting, which would create an empty one.
pub fn sqlite_file(settings: &DatabaseSettings) -> Result<Option<PathBuf>, BackupError> {
    if settings.backend() != Backend::Sqlite {
        return Ok(None);
    }
    let options = super::pool::sqlite_options(settings.url.expose())?;
    let file = options.get_filename().to_path_buf();
    let name = file.to_string_lossy();
    Ok((!name.is_empty() && !name.contains(":memory:")).then_some(file))
}

/// The backups in `dir` (those with a readable manifest), oldest first. An unreadable
/// manifest is logged and left out, not an error: one bad file must not hide the others.
pub async fn list(dir: &Path) -> Result<Vec<Manifest>, BackupError> {
    let mut out = Vec::new();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(dir)(e)),
    };
    while let Some(entry) = entries.next_entry().await.map_err(io(dir))? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if manifest::manifest_stem(&name).is_some() {
            match read_manifest(&entry.path()).await {
                Ok(m) => out.push(m),
                Err(e) => tracing::warn!(error = %e, "unreadable backup manifest skipped"),
            }
        }
    }
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.file.cmp(&b.file)));
    Ok(out)
}

/// Deletes the backups in `dir` that retention does not keep; returns their archive names.
pub async fn prune(
    dir: &Path,
    keep_daily: u32,
    keep_weekly: u32,
) -> Result<Vec<String>, BackupError> {
    let mut stems = Vec::new();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    while let Some(entry) = entries.next_entry().await.map_err(io(dir))? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = manifest::manifest_stem(&name)
            && let Some(at) = manifest::parse_time(stem)
        {
            stems.push((stem.to_owned(), at));
        }
    }
    let mut deleted = Vec::new();
    for stem in retention::to_delete(&stems, keep_daily, keep_weekly) {
        // The archive first: a manifest without its archive is listed, and pruned next time.
        for ext in [".sqlite.gz", ".pgdump"] {
            let archive = dir.join(format!("{stem}{ext}"));
            match tokio::fs::remove_file(&archive).await {
                Ok(()) => deleted.push(file_name(&archive)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&archive)(e)),
            }
        }
        // Another backup job pruning at the same time may have removed it already.
        let m = manifest::manifest_path(dir, &stem);
        match tokio::fs::remove_file(&m).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&m)(e)),
        }
    }
    Ok(deleted)
}

/// A restore's outcome.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    /// The rows the database held before (a `--force` restore replaced them).
    pub replaced_rows: i64,
}

/// Restores `file` (the archive or its manifest) into the database `settings` names.
#[tracing::instrument(skip_all, fields(file = %file.display()))]
pub async fn restore(
    settings: &DatabaseSettings,
    file: &Path,
    force: bool,
) -> Result<Restored, BackupError> {
    let stem = manifest::stem_of(file).ok_or_else(|| BackupError::Manifest {
        path: file.to_path_buf(),
        reason: "not a backup written by ai-service (expected ai-service-<time>.sqlite.gz, \
                 .pgdump or .manifest.json)"
            .to_owned(),
    })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let manifest_path = manifest::manifest_path(dir, &stem);
    let manifest = read_manifest(&manifest_path).await?;
    let archive = dir.join(&manifest.file);

    let backend = settings.backend();
    if manifest.backend != backend_name(backend) {
        return Err(BackupError::BackendMismatch {
            backup: manifest.backend.clone(),
            configured: backend_name(backend),
        });
    }
    let binary = super::newest_embedded(backend);
    if manifest.schema_version > binary {
        return Err(BackupError::SchemaNewer {
            backup: manifest.schema_version,
            binary,
        });
    }
    let (_, actual) = hash_file(archive.clone()).await?;
    if actual != manifest.sha256 {
        return Err(BackupError::Checksum {
            file: archive,
            expected: manifest.sha256.clone(),
            actual,
        });
    }
    let replaced_rows = match backend {
        Backend::Sqlite => sqlite::restore(settings, &archive, &manifest, force).await?,
        Backend::Postgres => postgres::restore(settings, &archive, &manifest, force).await?,
    };
    tracing::info!(file = %manifest.file, "restored");
    Ok(Restored {
        manifest,
        replaced_rows,
    })
}

/// Refuses a database holding rows unless `force`; returns how many it holds.
fn check_empty(counts: &BTreeMap<String, i64>, force: bool) -> Result<i64, BackupError> {
    let busy: Vec<String> = counts
        .iter()
        .filter(|(t, n)| **n > 0 && t.as_str() != "_sqlx_migrations")
        .map(|(t, n)| format!("{t}: {n}"))
        .collect();
    let total = counts
        .iter()
        .filter(|(t, _)| t.as_str() != "_sqlx_migrations")
        .map(|(_, n)| n)
        .sum();
    if !busy.is_empty() && !force {
        return Err(BackupError::NotEmpty(busy.join(", ")));
    }
    Ok(total)
}

/// Every table of the manifest has its row count.
fn verify_counts(manifest: &Manifest, actual: &BTreeMap<String, i64>) -> Result<(), BackupError> {
    for (table, expected) in &manifest.tables {
        let got = actual.get(table).copied().unwrap_or(-1);
        if got != *expected {
            return Err(BackupError::Count {
                table: table.clone(),
                expected: *expected,
                actual: got,
            });
        }
    }
    Ok(())
}

async fn free_stem(dir: &Path, at: DateTime<Utc>, backend: Backend) -> String {
    let mut n = 1;
    loop {
        let stem = manifest::stem(at, n);
        let taken =
            tokio::fs::try_exists(dir.join(format!("{stem}{}", manifest::extension(backend))))
                .await
                .unwrap_or(true)
                || tokio::fs::try_exists(manifest::manifest_path(dir, &stem))
                    .await
                    .unwrap_or(true);
        if !taken {
            return stem;
        }
        n += 1;
    }
}

async fn read_manifest(path: &Path) -> Result<Manifest, BackupError> {
    let bytes = tokio::fs::read(path).await.map_err(io(path))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| BackupError::Manifest {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if manifest.format != manifest::FORMAT {
        return Err(BackupError::Manifest {
            path: path.to_path_buf(),
            reason: format!(
                "format {} is not known to this binary (it reads format {})",
                manifest.format,
                manifest::FORMAT
            ),
        });
    }
    if manifest.file.contains(['/', '\\']) || manifest.file.starts_with('.') {
        return Err(BackupError::Manifest {
            path: path.to_path_buf(),
            reason: format!("`file` must be a plain file name, not {:?}", manifest.file),
        });
    }
    Ok(manifest)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Size and sha256 (hex) of a file, read off the async threads.
async fn hash_file(path: PathBuf) -> Result<(u64, String), BackupError> {
    blocking(move || {
        let mut file = std::fs::File::open(&path).map_err(io(&path))?;
        let mut hasher = Sha256::new();
        let bytes = std::io::copy(&mut file, &mut hasher).map_err(io(&path))?;
        Ok((bytes, manifest::hex(&hasher.finalize())))
    })
    .await
}

/// `bytes` to `path` through a temporary name, synced, then renamed.
async fn write_atomically(path: &Path, bytes: Vec<u8>) -> Result<(), BackupError> {
    let path = path.to_path_buf();
    blocking(move || {
        let tmp = tmp_name(&path);
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&path);
        Ok(())
    })
    .await
}

/// `.<name>.tmp` next to `path`.
fn tmp_name(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    dir.join(format!(".{}.tmp", file_name(path)))
}

/// Makes a rename in `path`'s directory durable (best effort: not every filesystem allows it).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        })?
}

/// `"table"` for SQL (names come from the catalog; quotes doubled all the same).
fn quote(table: &str) -> String {
    format!("\"{}\"", table.replace('"', "\"\""))
}

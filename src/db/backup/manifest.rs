//! The manifest written next to every backup (`<stem>.manifest.json`) and the file names.
//!
//! A backup is two files with one stem, `ai-service-20261202T140501Z`: the archive
//! (`.sqlite.gz`: a gzip of a SQLite file; `.pgdump`: `pg_dump --format=custom`, compressed by
//! pg_dump) and the manifest, which says what is inside and how to check it.

use crate::config::Backend;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bumped when the layout changes; restore refuses formats it does not know.
pub const FORMAT: u32 = 1;
const PREFIX: &str = "ai-service-";
const STAMP: &str = "%Y%m%dT%H%M%SZ";
const MANIFEST_SUFFIX: &str = ".manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// `sqlite` or `postgres`: a backup restores into the same backend only.
    pub backend: String,
    /// The version of the binary that wrote it.
    pub app_version: String,
    pub created_at: DateTime<Utc>,
    /// The newest applied migration in the backup.
    pub schema_version: i64,
    /// The archive's file name (in the same directory as the manifest).
    pub file: String,
    pub bytes: u64,
    /// sha256 of the archive as written (`sha256sum FILE` shows the same).
    pub sha256: String,
    /// Rows per table at the moment of the backup (the snapshot's, not a later count).
    pub tables: BTreeMap<String, i64>,
}

pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

pub fn extension(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => ".sqlite.gz",
        Backend::Postgres => ".pgdump",
    }
}

/// `ai-service-<UTC time>` (with `-2`, `-3`, … when a backup of that second exists).
pub fn stem(at: DateTime<Utc>, n: u32) -> String {
    let base = format!("{PREFIX}{}", at.format(STAMP));
    if n <= 1 { base } else { format!("{base}-{n}") }
}

pub fn manifest_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}{MANIFEST_SUFFIX}"))
}

/// The stem of a manifest file name, or `None` for other files.
pub fn manifest_stem(file_name: &str) -> Option<&str> {
    let stem = file_name.strip_suffix(MANIFEST_SUFFIX)?;
    parse_time(stem).map(|_| stem)
}

/// The time in a stem; `None` for names ai-service did not write.
pub fn parse_time(stem: &str) -> Option<DateTime<Utc>> {
    let rest = stem.strip_prefix(PREFIX)?;
    let stamp = rest.get(..16)?;
    let tail = &rest[16..];
    if !(tail.is_empty()
        || tail
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    NaiveDateTime::parse_from_str(stamp, STAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// The stem of an archive or manifest path given to `restore`.
pub fn stem_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    [MANIFEST_SUFFIX, ".sqlite.gz", ".pgdump"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .map(str::to_owned)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn names_carry_the_utc_time_and_parse_back() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 2, 14, 5, 1)
            .single()
            .expect("time");
        assert_eq!(stem(at, 1), "ai-service-20261202T140501Z");
        assert_eq!(stem(at, 2), "ai-service-20261202T140501Z-2");
        assert_eq!(parse_time("ai-service-20261202T140501Z"), Some(at));
        assert_eq!(parse_time("ai-service-20261202T140501Z-2"), Some(at));
        assert_eq!(parse_time("ai-service-20261202T140501Zx"), None);
        assert_eq!(parse_time("other-20261202T140501Z"), None);
        assert_eq!(
            manifest_stem("ai-service-20261202T140501Z.manifest.json"),
            Some("ai-service-20261202T140501Z")
        );
        assert_eq!(manifest_stem("notes.manifest.json"), None);
        assert_eq!(
            stem_of(Path::new("/x/ai-service-20261202T140501Z.sqlite.gz")).as_deref(),
            Some("ai-service-20261202T140501Z")
        );
    }
}

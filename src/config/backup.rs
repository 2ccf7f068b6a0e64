//! `[backup]`: the built-in daily backup and its retention.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// Run the scheduled backup (a `maintenance/backup` job at `cron`).
    pub enabled: bool,
    /// Six fields, seconds first, UTC.
    pub cron: String,
    /// Where backups are written (and pruned).
    pub dir: PathBuf,
    /// Keep the newest backup of each of this many most recent days that have one (≥ 1).
    pub keep_daily: u32,
    /// And the newest of each of this many most recent ISO weeks.
    pub keep_weekly: u32,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            cron: "0 30 3 * * *".to_owned(),
            dir: PathBuf::from("data/backups"),
            keep_daily: 7,
            keep_weekly: 4,
        }
    }
}

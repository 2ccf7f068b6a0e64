//! SQLite WAL checkpoints off the write path. By default SQLite checkpoints inside the commit
//! that takes the WAL past 1000 pages: that commit copies the pages back and fsyncs (with
//! `synchronous = NORMAL` the only fsync there is), so every ~1000 pages one writer, and every
//! writer queued behind it, waited several ms. Measured with `bench/trading.sh` (100
//! strategies, ~300 writes/s): the order path's p99 was 8.5 ms, the checkpoints' cadence.
//! Here a background task runs a `PASSIVE` checkpoint every second on its own connection; it
//! never waits for readers or writers, and writers keep appending meanwhile. The inline
//! threshold stays as a safety net (`wal_autocheckpoint`, raised to [`SAFETY_NET_PAGES`]), for
//! bursts like a big import and for processes without the task (the CLI).

use sqlx::SqlitePool;
use std::time::Duration;

/// Inline checkpoint threshold (pages of 4 KiB: 40 MiB of WAL).
pub(super) const SAFETY_NET_PAGES: u32 = 10_000;
const EVERY: Duration = Duration::from_secs(1);

/// The running checkpointer; dropping the last clone of the pool's [`super::SqliteDb`] drops
/// this and stops it, so the task's own pool handle never keeps a pool alive.
#[derive(Debug)]
pub(super) struct Checkpointer(tokio::task::AbortHandle);

impl Checkpointer {
    pub(super) fn start(pool: SqlitePool) -> Self {
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if pool.is_closed() {
                    return;
                }
                checkpoint(&pool).await;
            }
        });
        Self(task.abort_handle())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tracing::instrument(skip_all)]
async fn checkpoint(pool: &SqlitePool) {
    // (busy, WAL frames, frames checkpointed)
    let res: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await;
    match res {
        Ok((_, wal, done)) => tracing::trace!(wal, done, "checkpoint"),
        // A closed pool or a database gone: the next tick tries again; health checks report it.
        Err(e) => tracing::debug!(error = %e, "wal checkpoint failed"),
    }
}

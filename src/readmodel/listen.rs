//! The read model's Postgres listener: other processes' writes invalidate this one's cache.
//! Same pattern as the jobs listener (`jobs::listen`), but with `try_recv`: `recv` reconnects
//! silently and drops the notifications sent meanwhile, which would leave stale entries here.

use super::{CHANNEL, ReadModel};
use crate::db::{Db, DbHandle};
use std::sync::Arc;
use std::time::Duration;

/// Stops the listener. Stopped while the runtime still runs: sqlx's listener returns its
/// connection from `Drop` by spawning a task.
pub struct ListenHandle {
    stop: tokio::sync::oneshot::Sender<()>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl ListenHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// On Postgres, keeps a LISTEN connection; the read model is trusted only while it is up.
/// Reconnects on error. On SQLite it ends at once (one process per file).
pub fn listen(db: DbHandle, model: Arc<ReadModel>) -> ListenHandle {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = actix_web::rt::spawn(async move {
        loop {
            let Some(Db::Postgres(pool)) = db.get() else {
                if db.get().is_some() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                    _ = &mut stopped => return,
                }
            };
            tokio::select! {
                res = listen_once(&pool, &model) => {
                    model.set_listening(false);
                    if let Err(e) = res {
                        tracing::warn!(error = %e, "read model notifications interrupted; reading from the database until reconnected");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = &mut stopped => return,
                    }
                }
                _ = &mut stopped => {
                    model.set_listening(false);
                    return;
                }
            }
        }
    });
    ListenHandle { stop, task }
}

async fn listen_once(pool: &sqlx::PgPool, model: &ReadModel) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // From here on every commit's notification reaches us: what was read before may be stale.
    model.set_listening(true);
    // `None`: the connection was lost (notifications may have been missed).
    while let Some(_n) = listener.try_recv().await? {
        model.changed();
    }
    Ok(())
}

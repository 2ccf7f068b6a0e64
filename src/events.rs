//! The outbox on the database: staging events inside a caller's transaction, and the
//! [`OutboxStore`] port the relay actor reads.

use crate::db::{DbError, DbHandle, Sql, Tx};
use actors::TraceId;
use actors::events::{Event, OutboxRow, OutboxStore};
use actors::ports::DependencyError;
use async_trait::async_trait;

pub const INSERT: &str = "INSERT INTO outbox (id, event_type, payload, trace_id, created_at) VALUES ($1, $2, $3, $4, $5)";

/// An event ready to be written with [`stage_in`].
pub struct Staged {
    pub id: String,
    pub event_type: &'static str,
    pub payload: String,
    pub trace_id: String,
    pub created_at: i64,
}

pub fn stage<E: Event>(event: &E, trace_id: &TraceId) -> anyhow::Result<Staged> {
    Ok(Staged {
        id: uuid::Uuid::now_v7().to_string(),
        event_type: E::TYPE,
        payload: serde_json::to_string(event)?,
        trace_id: trace_id.as_str().to_owned(),
        created_at: chrono::Utc::now().timestamp_millis(),
    })
}

/// Writes a [`Staged`] event inside `tx`, so it commits or rolls back together with the
/// change that caused it.
pub async fn stage_in(tx: &mut Tx, staged: &Staged) -> Result<(), DbError> {
    tx.execute(insert_sql(staged)).await?;
    Ok(())
}

/// The outbox insert of a [`Staged`] event (for a caller batching statements).
pub fn insert_sql(staged: &Staged) -> Sql<'_> {
    Sql::new(INSERT)
        .bind(&staged.id)
        .bind(staged.event_type)
        .bind(&staged.payload)
        .bind(&staged.trace_id)
        .bind(staged.created_at)
}

pub struct SqlOutbox(pub DbHandle);

#[async_trait]
impl OutboxStore for SqlOutbox {
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxRow>, DependencyError> {
        let db = self.0.port()?;
        let sql = "SELECT id, event_type, payload FROM outbox WHERE published_at IS NULL \
                   AND (retry_at IS NULL OR retry_at <= $2) ORDER BY id LIMIT $1";
        let sql = Sql::new(sql)
            .bind(i64::from(limit))
            .bind(chrono::Utc::now().timestamp_millis());
        let rows: Vec<(String, String, String)> = db
            .fetch_all(sql)
            .await
            .map_err(|e| DependencyError(e.to_string()))?;
        Ok(rows
            .into_iter()
            .map(|(id, event_type, payload)| OutboxRow {
                id,
                event_type,
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    async fn mark_failed(
        &self,
        id: &str,
        error: &str,
        retry_after: std::time::Duration,
    ) -> Result<(), DependencyError> {
        let db = self.0.port()?;
        let at = chrono::Utc::now().timestamp_millis()
            + i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX / 4);
        let sql = Sql::new("UPDATE outbox SET last_error = $2, retry_at = $3 WHERE id = $1");
        db.execute(sql.bind(id).bind(error).bind(at))
            .await
            .map(drop)
            .map_err(|e| DependencyError(e.to_string()))
    }

    async fn mark_published(&self, ids: &[String]) -> Result<(), DependencyError> {
        let db = self.0.port()?;
        let now = chrono::Utc::now().timestamp_millis();
        let sql = "UPDATE outbox SET published_at = $2 WHERE id = $1";
        for id in ids {
            db.execute(Sql::new(sql).bind(id).bind(now))
                .await
                .map_err(|e| DependencyError(e.to_string()))?;
        }
        Ok(())
    }
}

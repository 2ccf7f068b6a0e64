//! `event_log`: the audit trail. Append-only; read by `GET /v1/audit`.

use super::{Db, DbError, Sql};
use actors::audit::AuditEvent;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub at: DateTime<Utc>,
    pub trace_id: String,
    pub principal: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub detail: Option<String>,
    pub occurrences: i64,
}

/// Filters for reading; every field optional. `before` is a cursor (an event id).
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub trace_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<String>,
    pub limit: u32,
}

/// Writes a batch in one transaction.
#[tracing::instrument(skip_all, fields(events = batch.len()))]
pub async fn insert_batch(db: &Db, batch: &[AuditEvent]) -> Result<(), DbError> {
    let sql = "INSERT INTO event_log (id, at, trace_id, principal, action, target, outcome, client_ip, detail, occurrences) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    let mut tx = db.begin_write().await?;
    for e in batch {
        let at = DateTime::<Utc>::from_timestamp_millis(e.at_ms).unwrap_or_else(Utc::now);
        let row = Sql::new(sql)
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(at)
            .bind(e.trace_id.as_str())
            .bind(&e.principal)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.outcome)
            .bind(&e.client_ip)
            .bind(&e.detail)
            .bind(i64::try_from(e.occurrences).unwrap_or(i64::MAX));
        tx.execute(row).await?;
    }
    tx.commit().await
}

/// Newest first. Ids are UUIDv7, so `id < cursor` pages backwards in time.
#[tracing::instrument(skip_all)]
pub async fn list(db: &Db, f: &EventFilter) -> Result<Vec<EventRow>, DbError> {
    let sql = "SELECT id, at, trace_id, principal, action, target, outcome, client_ip, detail, occurrences FROM event_log \
               WHERE ($1 IS NULL OR principal = $1) AND ($2 IS NULL OR action = $2) \
               AND ($3 IS NULL OR outcome = $3) AND ($4 IS NULL OR trace_id = $4) \
               AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) AND ($7 IS NULL OR id < $7) \
               ORDER BY id DESC LIMIT $8";
    let sql = Sql::new(sql)
        .bind(&f.principal)
        .bind(&f.action)
        .bind(&f.outcome)
        .bind(&f.trace_id)
        .bind(f.since)
        .bind(f.until)
        .bind(&f.before)
        .bind(i64::from(f.limit));
    db.fetch_all(sql).await
}

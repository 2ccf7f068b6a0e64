//! `fin_imports`: an uploaded statement and what became of it.

use crate::db::{Db, DbError};
use crate::on_db;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImportRow {
    pub id: String,
    pub account_id: String,
    pub format: String,
    pub filename: String,
    pub profile_id: Option<String>,
    pub skip_bad_rows: bool,
    /// `queued`, `completed` or `failed`.
    pub status: String,
    pub job_id: Option<String>,
    pub rows_total: i64,
    pub inserted: i64,
    pub updated: i64,
    pub duplicates: i64,
    /// JSON list of `{location, reason}`: rows skipped (or, when failed, the rows to blame).
    pub skipped: Option<String>,
    pub error: Option<String>,
    pub trace_id: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, format, filename, profile_id, skip_bad_rows, status, job_id, rows_total, inserted, \
    updated, duplicates, skipped, error, trace_id, created_at, finished_at";

pub async fn create(db: &Db, r: &ImportRow, content: &[u8]) -> Result<(), DbError> {
    on_db!(db, |p| {
        sqlx::query(
        "INSERT INTO fin_imports (id, account_id, format, filename, profile_id, skip_bad_rows, status, content, trace_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(&r.id)
    .bind(&r.account_id)
    .bind(&r.format)
    .bind(&r.filename)
    .bind(&r.profile_id)
    .bind(r.skip_bad_rows)
    .bind(&r.status)
    .bind(content)
    .bind(&r.trace_id)
    .bind(r.created_at)
    .execute(p)
    .await
    .map(drop)
    })?;
    Ok(())
}

pub async fn set_job(db: &Db, id: &str, job_id: &str) -> Result<(), DbError> {
    on_db!(db, |p| sqlx::query(
        "UPDATE fin_imports SET job_id = $1 WHERE id = $2"
    )
    .bind(job_id)
    .bind(id)
    .execute(p)
    .await
    .map(drop))?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ImportRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_imports WHERE id = $1");
    Ok(on_db!(db, |p| sqlx::query_as::<_, ImportRow>(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?)
}

pub async fn list(
    db: &Db,
    account_id: Option<&str>,
    limit: i64,
) -> Result<Vec<ImportRow>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM fin_imports WHERE ($1 IS NULL OR account_id = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    Ok(on_db!(db, |p| sqlx::query_as::<_, ImportRow>(&sql)
        .bind(account_id)
        .bind(limit)
        .fetch_all(p)
        .await)?)
}

pub async fn content(db: &Db, id: &str) -> Result<Option<Vec<u8>>, DbError> {
    let row: Option<(Option<Vec<u8>>,)> = on_db!(db, |p| sqlx::query_as(
        "SELECT content FROM fin_imports WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row.and_then(|(c,)| c))
}

/// Records the outcome. A completed import drops its file (the rows are in the books).
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    db: &Db,
    id: &str,
    status: &str,
    counts: (i64, i64, i64, i64),
    skipped: Option<String>,
    error: Option<String>,
) -> Result<(), DbError> {
    let now = chrono::Utc::now().timestamp_millis();
    on_db!(db, |p| {
        sqlx::query(
        "UPDATE fin_imports SET status = $1, rows_total = $2, inserted = $3, updated = $4, duplicates = $5, \
         skipped = $6, error = $7, finished_at = $8, content = CASE WHEN $1 = 'completed' THEN NULL ELSE content END \
         WHERE id = $9"
    )
    .bind(status)
    .bind(counts.0)
    .bind(counts.1)
    .bind(counts.2)
    .bind(counts.3)
    .bind(&skipped)
    .bind(&error)
    .bind(now)
    .bind(id)
    .execute(p)
    .await
    .map(drop)
    })?;
    Ok(())
}

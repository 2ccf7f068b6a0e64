//! `api_keys`: long-lived credentials for integrations, stored as SHA-256 of the key.

use super::{Db, DbError};
use crate::readmodel::{self, ReadModel, Table};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub role: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Within a minute (see [`touch`]); `None` until first used.
    pub last_used_at: Option<DateTime<Utc>>,
}

const INSERTED: &str =
    "id, name, prefix, key_hash, role, created_by, created_at, expires_at, revoked_at";
const COLUMNS: &str = "id, name, prefix, key_hash, role, created_by, created_at, expires_at, \
    revoked_at, last_used_at";

#[tracing::instrument(skip_all)]
pub async fn insert(db: &Db, row: &ApiKeyRow) -> Result<(), DbError> {
    let sql =
        format!("INSERT INTO api_keys ({INSERTED}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
    on_db!(db, |p| sqlx::query(&sql)
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.prefix)
        .bind(&row.key_hash)
        .bind(&row.role)
        .bind(&row.created_by)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.revoked_at)
        .execute(p)
        .await
        .map(drop))?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn by_prefix(db: &Db, prefix: &str) -> Result<Option<ApiKeyRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE prefix = $1");
    Ok(on_db!(db, |p| sqlx::query_as::<_, ApiKeyRow>(&sql)
        .bind(prefix)
        .fetch_optional(p)
        .await)?)
}

#[tracing::instrument(skip_all)]
pub async fn list(db: &Db) -> Result<Vec<ApiKeyRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC");
    Ok(on_db!(db, |p| sqlx::query_as::<_, ApiKeyRow>(&sql)
        .fetch_all(p)
        .await)?)
}

/// Records that key `id` was accepted at `at` (`auth::key_usage` decides when). Not a change
/// the read model hears of: the guard never reads this column, and the list reads the table.
#[tracing::instrument(skip_all)]
pub async fn touch(db: &Db, id: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    db.execute(
        super::Sql::new("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at),
    )
    .await?;
    Ok(())
}

/// `None` when no such key; revoking twice keeps the first revocation time. Every process
/// refuses the key from its next request on (the read model is told).
#[tracing::instrument(skip_all)]
pub async fn revoke(db: &Db, model: &ReadModel, id: &str) -> Result<Option<ApiKeyRow>, DbError> {
    let res = revoke_tx(db, id).await;
    model.changed();
    res
}

async fn revoke_tx(db: &Db, id: &str) -> Result<Option<ApiKeyRow>, DbError> {
    let sql = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1";
    let mut tx = db.begin_write().await?;
    let n = crate::on_tx!(&mut tx, |c| sqlx::query(sql)
        .bind(id)
        .bind(Utc::now())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Ok(None);
    }
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    let row = crate::on_tx!(&mut tx, |c| sqlx::query_as::<_, ApiKeyRow>(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    readmodel::notify(&mut tx, Table::ApiKeys).await?;
    tx.commit().await?;
    Ok(row)
}

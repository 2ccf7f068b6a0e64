//! `refresh_tokens`: hashed, single-use, grouped in families (one per login).

use super::{Db, DbError};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip_all)]
pub async fn insert(
    db: &Db,
    user_id: &str,
    family_id: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let sql = "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    on_db!(db, |p| sqlx::query(sql)
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(user_id)
        .bind(family_id)
        .bind(token_hash)
        .bind(Utc::now())
        .bind(expires_at)
        .execute(p)
        .await
        .map(drop))?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn by_hash(db: &Db, token_hash: &str) -> Result<Option<RefreshRow>, DbError> {
    let sql = "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1";
    Ok(on_db!(db, |p| sqlx::query_as::<_, RefreshRow>(sql)
        .bind(token_hash)
        .fetch_optional(p)
        .await)?)
}

/// Marks the token used, only if it is still unused and unrevoked. `false` = someone
/// already used it (a replay, or a race with a concurrent refresh).
#[tracing::instrument(skip_all)]
pub async fn consume(db: &Db, id: &str) -> Result<bool, DbError> {
    let sql = "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL";
    let n = on_db!(db, |p| sqlx::query(sql)
        .bind(id)
        .bind(Utc::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Revokes every token of a family (logout, or reuse detected).
#[tracing::instrument(skip_all)]
pub async fn revoke_family(db: &Db, family_id: &str) -> Result<u64, DbError> {
    let sql =
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";
    Ok(on_db!(db, |p| sqlx::query(sql)
        .bind(family_id)
        .bind(Utc::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Revokes all of a user's sessions (password change, disable).
pub async fn revoke_user(db: &Db, user_id: &str) -> Result<u64, DbError> {
    let sql = "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
    Ok(on_db!(db, |p| sqlx::query(sql)
        .bind(user_id)
        .bind(Utc::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
}

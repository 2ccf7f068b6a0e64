//! `users`: accounts that log in with a password.

use super::{Db, DbError};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, username, password_hash, role, disabled, created_at, updated_at";

#[tracing::instrument(skip_all, fields(username))]
pub async fn insert(
    db: &Db,
    username: &str,
    password_hash: &str,
    role: &str,
) -> Result<UserRow, DbError> {
    let now = Utc::now();
    let row = UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        username: username.to_owned(),
        password_hash: password_hash.to_owned(),
        role: role.to_owned(),
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let sql = "INSERT INTO users (id, username, password_hash, role, disabled, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_db!(db, |p| sqlx::query(sql)
        .bind(&row.id)
        .bind(&row.username)
        .bind(&row.password_hash)
        .bind(&row.role)
        .bind(row.disabled)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(p)
        .await
        .map(drop))?;
    Ok(row)
}

#[tracing::instrument(skip_all)]
pub async fn by_username(db: &Db, username: &str) -> Result<Option<UserRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
    Ok(on_db!(db, |p| sqlx::query_as::<_, UserRow>(&sql)
        .bind(username)
        .fetch_optional(p)
        .await)?)
}

#[tracing::instrument(skip_all)]
pub async fn by_id(db: &Db, id: &str) -> Result<Option<UserRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    Ok(on_db!(db, |p| sqlx::query_as::<_, UserRow>(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?)
}

#[tracing::instrument(skip_all)]
pub async fn list(db: &Db) -> Result<Vec<UserRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY username");
    Ok(on_db!(db, |p| sqlx::query_as::<_, UserRow>(&sql)
        .fetch_all(p)
        .await)?)
}

/// Updates the given fields; `None` leaves one unchanged. Returns the row after the update.
#[tracing::instrument(skip_all, fields(id))]
pub async fn update(
    db: &Db,
    id: &str,
    role: Option<&str>,
    disabled: Option<bool>,
    password_hash: Option<&str>,
) -> Result<Option<UserRow>, DbError> {
    let sql = "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), \
               password_hash = COALESCE($4, password_hash), updated_at = $5 WHERE id = $1";
    let n = on_db!(db, |p| sqlx::query(sql)
        .bind(id)
        .bind(role)
        .bind(disabled)
        .bind(password_hash)
        .bind(Utc::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 0 {
        Ok(None)
    } else {
        by_id(db, id).await
    }
}

/// What the session check needs, in one indexed query: the user (if it exists), and whether
/// the refresh-token family `family_id` still has an unrevoked token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub username: String,
    pub role: String,
    pub disabled: bool,
    pub live: bool,
}

#[tracing::instrument(skip_all)]
pub async fn session_state(
    db: &Db,
    user_id: &str,
    family_id: &str,
) -> Result<Option<SessionRow>, DbError> {
    let sql = "SELECT u.username, u.role, u.disabled, EXISTS (SELECT 1 FROM refresh_tokens t \
               WHERE t.family_id = $2 AND t.user_id = u.id AND t.revoked_at IS NULL) AS live \
               FROM users u WHERE u.id = $1";
    Ok(on_db!(db, |p| sqlx::query_as::<_, SessionRow>(sql)
        .bind(user_id)
        .bind(family_id)
        .fetch_optional(p)
        .await)?)
}

pub async fn count_admins(db: &Db) -> Result<i64, DbError> {
    let sql = "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = FALSE";
    Ok(on_db!(db, |p| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(p)
        .await)?)
}

//! `fin_csv_profiles`: saved CSV column mappings.

use crate::db::{Db, DbError};
use crate::on_db;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProfileRow {
    pub id: String,
    pub name: String,
    pub profile: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub async fn list(db: &Db) -> Result<Vec<ProfileRow>, DbError> {
    Ok(on_db!(db, |p| sqlx::query_as::<_, ProfileRow>(
        "SELECT id, name, profile, created_at, updated_at FROM fin_csv_profiles ORDER BY name"
    )
    .fetch_all(p)
    .await)?)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ProfileRow>, DbError> {
    Ok(on_db!(db, |p| sqlx::query_as::<_, ProfileRow>(
        "SELECT id, name, profile, created_at, updated_at FROM fin_csv_profiles WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?)
}

pub async fn upsert(db: &Db, r: &ProfileRow) -> Result<(), DbError> {
    on_db!(db, |p| {
        sqlx::query(
        "INSERT INTO fin_csv_profiles (id, name, profile, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, profile = excluded.profile, updated_at = excluded.updated_at"
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(&r.profile)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(p)
    .await
    .map(drop)
    })?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = on_db!(db, |p| sqlx::query(
        "DELETE FROM fin_csv_profiles WHERE id = $1"
    )
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

//! `fin_categories`: a two-level tree (parent/child), each income, expense or transfer.

use crate::db::BeginWrite;
use crate::db::{Db, DbError};
use crate::on_db;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRow {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub kind: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const KINDS: &[&str] = &["income", "expense", "transfer"];
const COLUMNS: &str = "id, name, parent_id, kind, created_at, updated_at";

pub async fn list(db: &Db) -> Result<Vec<CategoryRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_categories ORDER BY name, id");
    Ok(on_db!(db, |p| sqlx::query_as::<_, CategoryRow>(&sql)
        .fetch_all(p)
        .await)?)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<CategoryRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_categories WHERE id = $1");
    Ok(on_db!(db, |p| sqlx::query_as::<_, CategoryRow>(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?)
}

pub async fn upsert(db: &Db, c: &CategoryRow) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO fin_categories ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
         name = excluded.name, parent_id = excluded.parent_id, kind = excluded.kind, updated_at = excluded.updated_at"
    );
    on_db!(db, |p| sqlx::query(&sql)
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.parent_id)
        .bind(&c.kind)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(p)
        .await
        .map(drop))?;
    Ok(())
}

/// Deletes a category with no children; its transactions become uncategorized (and
/// unlocked: the user's choice no longer exists).
pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = on_db!(db, |p| {
        async {
        let mut tx = p.begin_write().await?;
        let children: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM fin_categories WHERE parent_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if children.0 > 0 {
            return Ok::<u64, sqlx::Error>(0);
        }
        sqlx::query(
            "UPDATE fin_transactions SET category_id = NULL, categorized_by = NULL, category_locked = FALSE WHERE category_id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE fin_transactions SET auto_category_id = NULL WHERE auto_category_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE fin_transactions SET suggested_category_id = NULL, suggestion_confidence = NULL \
             WHERE suggested_category_id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM fin_categories WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
    .await
    })?;
    Ok(n > 0)
}

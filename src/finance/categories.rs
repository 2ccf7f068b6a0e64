//! `fin_categories`: a two-level tree (parent/child), each income, expense or transfer.

use crate::db::{Arg, Db, DbError, Record, Sql};
use crate::readmodel::{self, ReadModel, Table};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRow {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub kind: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for CategoryRow {
    const COLUMNS: &'static str = "id, name, parent_id, kind, created_at, updated_at";

    fn args(&self) -> Vec<Arg<'_>> {
        vec![
            (&self.id).into(),
            (&self.name).into(),
            (&self.parent_id).into(),
            (&self.kind).into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

pub const KINDS: &[&str] = &["income", "expense", "transfer"];
const COLUMNS: &str = CategoryRow::COLUMNS;

pub async fn list(db: &Db) -> Result<Vec<CategoryRow>, DbError> {
    db.fetch_all(format!(
        "SELECT {COLUMNS} FROM fin_categories ORDER BY name, id"
    ))
    .await
}

pub async fn get(db: &Db, id: &str) -> Result<Option<CategoryRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_categories WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

/// Inserts or replaces `c`; every process's read model sees it on its next read.
pub async fn upsert(db: &Db, model: &ReadModel, c: &CategoryRow) -> Result<(), DbError> {
    let res = upsert_tx(db, c).await;
    // Even after an error: the commit's outcome may be unknown, and a drop costs one read.
    model.changed();
    res
}

async fn upsert_tx(db: &Db, c: &CategoryRow) -> Result<(), DbError> {
    let mut sql = Sql::insert("fin_categories", c);
    sql.push(
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id, \
         kind = excluded.kind, updated_at = excluded.updated_at",
    );
    let mut tx = db.begin_write().await?;
    tx.execute(sql).await?;
    readmodel::notify(&mut tx, Table::Categories).await?;
    tx.commit().await
}

/// Deletes a category with no children; its transactions become uncategorized (and
/// unlocked: the user's choice no longer exists).
pub async fn delete(db: &Db, model: &ReadModel, id: &str) -> Result<bool, DbError> {
    let res = delete_tx(db, id).await;
    model.changed();
    res
}

async fn delete_tx(db: &Db, id: &str) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let children: i64 = tx
        .fetch_scalar(Sql::new("SELECT COUNT(*) FROM fin_categories WHERE parent_id = $1").bind(id))
        .await?;
    if children > 0 {
        return Ok(false);
    }
    tx.execute(
        Sql::new(
            "UPDATE fin_transactions SET category_id = NULL, categorized_by = NULL, category_locked = FALSE \
             WHERE category_id = $1",
        )
        .bind(id),
    )
    .await?;
    tx.execute(
        Sql::new("UPDATE fin_transactions SET auto_category_id = NULL WHERE auto_category_id = $1")
            .bind(id),
    )
    .await?;
    tx.execute(
        Sql::new(
            "UPDATE fin_transactions SET suggested_category_id = NULL, suggestion_confidence = NULL \
             WHERE suggested_category_id = $1",
        )
        .bind(id),
    )
    .await?;
    let n = tx
        .execute(Sql::new("DELETE FROM fin_categories WHERE id = $1").bind(id))
        .await?;
    readmodel::notify(&mut tx, Table::Categories).await?;
    tx.commit().await?;
    Ok(n > 0)
}

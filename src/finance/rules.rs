//! `fin_rules`: categorization rules (conditions and actions stored as JSON).

use crate::db::{Db, DbError};
use crate::on_db;
use actors::finance::categorize::{Condition, Rule, RuleActions};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub enabled: bool,
    pub match_all: bool,
    pub conditions: String,
    pub actions: String,
    pub stop_processing: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RuleRow {
    pub fn rule(&self) -> Result<Rule, serde_json::Error> {
        Ok(Rule {
            id: self.id.clone(),
            name: self.name.clone(),
            position: self.position,
            enabled: self.enabled,
            match_all: self.match_all,
            conditions: serde_json::from_str::<Vec<Condition>>(&self.conditions)?,
            actions: serde_json::from_str::<RuleActions>(&self.actions)?,
            stop_processing: self.stop_processing,
        })
    }
}

const COLUMNS: &str = "id, name, position, enabled, match_all, conditions, actions, stop_processing, created_at, updated_at";

pub async fn list(db: &Db) -> Result<Vec<RuleRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_rules ORDER BY position, id");
    Ok(on_db!(db, |p| sqlx::query_as::<_, RuleRow>(&sql)
        .fetch_all(p)
        .await)?)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<RuleRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_rules WHERE id = $1");
    Ok(on_db!(db, |p| sqlx::query_as::<_, RuleRow>(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?)
}

pub async fn upsert(db: &Db, r: &RuleRow) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO fin_rules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET \
         name = excluded.name, position = excluded.position, enabled = excluded.enabled, match_all = excluded.match_all, \
         conditions = excluded.conditions, actions = excluded.actions, stop_processing = excluded.stop_processing, \
         updated_at = excluded.updated_at"
    );
    on_db!(db, |p| sqlx::query(&sql)
        .bind(&r.id)
        .bind(&r.name)
        .bind(r.position)
        .bind(r.enabled)
        .bind(r.match_all)
        .bind(&r.conditions)
        .bind(&r.actions)
        .bind(r.stop_processing)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(p)
        .await
        .map(drop))?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = on_db!(db, |p| sqlx::query("DELETE FROM fin_rules WHERE id = $1")
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

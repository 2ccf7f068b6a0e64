//! `fin_rules`: categorization rules (conditions and actions stored as JSON).

use crate::db::{Arg, Db, DbError, Record, Sql};
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

impl Record for RuleRow {
    const COLUMNS: &'static str = "id, name, position, enabled, match_all, conditions, actions, stop_processing, \
        created_at, updated_at";

    fn args(&self) -> Vec<Arg<'_>> {
        vec![
            (&self.id).into(),
            (&self.name).into(),
            self.position.into(),
            self.enabled.into(),
            self.match_all.into(),
            (&self.conditions).into(),
            (&self.actions).into(),
            self.stop_processing.into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

const COLUMNS: &str = RuleRow::COLUMNS;

pub async fn list(db: &Db) -> Result<Vec<RuleRow>, DbError> {
    db.fetch_all(format!(
        "SELECT {COLUMNS} FROM fin_rules ORDER BY position, id"
    ))
    .await
}

pub async fn get(db: &Db, id: &str) -> Result<Option<RuleRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_rules WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

pub async fn upsert(db: &Db, r: &RuleRow) -> Result<(), DbError> {
    let mut sql = Sql::insert("fin_rules", r);
    sql.push(
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, position = excluded.position, \
         enabled = excluded.enabled, match_all = excluded.match_all, conditions = excluded.conditions, \
         actions = excluded.actions, stop_processing = excluded.stop_processing, updated_at = excluded.updated_at",
    );
    db.execute(sql).await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = db
        .execute(Sql::new("DELETE FROM fin_rules WHERE id = $1").bind(id))
        .await?;
    Ok(n > 0)
}

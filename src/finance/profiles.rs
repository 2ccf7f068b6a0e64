//! `fin_csv_profiles`: saved CSV column mappings.

use crate::db::{Arg, Db, DbError, Record, Sql};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProfileRow {
    pub id: String,
    pub name: String,
    pub profile: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for ProfileRow {
    const COLUMNS: &'static str = "id, name, profile, created_at, updated_at";

    fn args(&self) -> Vec<Arg<'_>> {
        vec![
            (&self.id).into(),
            (&self.name).into(),
            (&self.profile).into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

const COLUMNS: &str = ProfileRow::COLUMNS;

pub async fn list(db: &Db) -> Result<Vec<ProfileRow>, DbError> {
    db.fetch_all(format!(
        "SELECT {COLUMNS} FROM fin_csv_profiles ORDER BY name"
    ))
    .await
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ProfileRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_csv_profiles WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

pub async fn upsert(db: &Db, r: &ProfileRow) -> Result<(), DbError> {
    let mut sql = Sql::insert("fin_csv_profiles", r);
    sql.push(
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, profile = excluded.profile, \
         updated_at = excluded.updated_at",
    );
    db.execute(sql).await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = db
        .execute(Sql::new("DELETE FROM fin_csv_profiles WHERE id = $1").bind(id))
        .await?;
    Ok(n > 0)
}

//! `fin_accounts` and account balances.

use super::money::from_e4;
use crate::db::{Arg, Db, DbError, Record, Sql};
use rust_decimal::Decimal;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub account_type: String,
    pub currency: String,
    pub institution: Option<String>,
    pub opening_balance: String,
    pub opening_e4: i64,
    pub external_ref: Option<String>,
    pub archived: bool,
    pub last_synced_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const TYPES: &[&str] = &[
    "checking",
    "savings",
    "credit_card",
    "cash",
    "investment",
    "loan",
    "other",
];

impl Record for AccountRow {
    const COLUMNS: &'static str = "id, name, account_type, currency, institution, opening_balance, opening_e4, \
        external_ref, archived, last_synced_at, created_at, updated_at";

    fn args(&self) -> Vec<Arg<'_>> {
        vec![
            (&self.id).into(),
            (&self.name).into(),
            (&self.account_type).into(),
            (&self.currency).into(),
            (&self.institution).into(),
            (&self.opening_balance).into(),
            self.opening_e4.into(),
            (&self.external_ref).into(),
            self.archived.into(),
            self.last_synced_at.into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

const COLUMNS: &str = AccountRow::COLUMNS;

pub async fn list(db: &Db, include_archived: bool) -> Result<Vec<AccountRow>, DbError> {
    let sql =
        format!("SELECT {COLUMNS} FROM fin_accounts WHERE archived = FALSE OR $1 ORDER BY name");
    db.fetch_all(Sql::new(sql).bind(include_archived)).await
}

pub async fn get(db: &Db, id: &str) -> Result<Option<AccountRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_accounts WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

/// Insert or replace (by id).
#[tracing::instrument(skip_all, fields(account = %a.id))]
pub async fn upsert(db: &Db, a: &AccountRow) -> Result<(), DbError> {
    let mut sql = Sql::insert("fin_accounts", a);
    sql.push(
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, account_type = excluded.account_type, \
         currency = excluded.currency, institution = excluded.institution, opening_balance = excluded.opening_balance, \
         opening_e4 = excluded.opening_e4, external_ref = excluded.external_ref, archived = excluded.archived, \
         updated_at = excluded.updated_at",
    );
    db.execute(sql).await?;
    Ok(())
}

/// Deletes an account without transactions. `Ok(false)` when it has some (archive instead).
pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let sql = Sql::new(
        "DELETE FROM fin_accounts WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM fin_transactions WHERE account_id = $1) \
         AND NOT EXISTS (SELECT 1 FROM fin_imports WHERE account_id = $1)",
    );
    let n = db.execute(sql.bind(id)).await?;
    Ok(n > 0)
}

pub async fn touch_synced(db: &Db, id: &str, at_ms: i64) -> Result<(), DbError> {
    let sql = Sql::new("UPDATE fin_accounts SET last_synced_at = $1 WHERE id = $2");
    db.execute(sql.bind(at_ms).bind(id)).await?;
    Ok(())
}

/// Current balance: opening balance plus booked transactions; pending ones separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub booked: Decimal,
    pub pending: Decimal,
}

pub async fn balance(db: &Db, a: &AccountRow) -> Result<Balance, DbError> {
    let sql = Sql::new(
        "SELECT CAST(SUM(CASE WHEN status = 'booked' THEN amount_e4 ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN status = 'pending' THEN amount_e4 ELSE 0 END) AS BIGINT) \
         FROM fin_transactions WHERE account_id = $1",
    );
    let (booked, pending): (Option<i64>, Option<i64>) = db.fetch_one(sql.bind(&a.id)).await?;
    Ok(Balance {
        booked: from_e4(a.opening_e4 + booked.unwrap_or(0)),
        pending: from_e4(pending.unwrap_or(0)),
    })
}

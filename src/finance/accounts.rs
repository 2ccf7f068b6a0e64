//! `fin_accounts` and account balances.

use super::sql::from_e4;
use crate::db::{Db, DbError};
use crate::on_db;
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

const COLUMNS: &str = "id, name, account_type, currency, institution, opening_balance, opening_e4, external_ref, archived, last_synced_at, created_at, updated_at";

pub async fn list(db: &Db, include_archived: bool) -> Result<Vec<AccountRow>, DbError> {
    let sql =
        format!("SELECT {COLUMNS} FROM fin_accounts WHERE archived = FALSE OR $1 ORDER BY name");
    Ok(on_db!(db, |p| sqlx::query_as::<_, AccountRow>(&sql)
        .bind(include_archived)
        .fetch_all(p)
        .await)?)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<AccountRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_accounts WHERE id = $1");
    Ok(on_db!(db, |p| sqlx::query_as::<_, AccountRow>(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?)
}

/// Insert or replace (by id).
#[tracing::instrument(skip_all, fields(account = %a.id))]
pub async fn upsert(db: &Db, a: &AccountRow) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO fin_accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, account_type = excluded.account_type, \
         currency = excluded.currency, institution = excluded.institution, opening_balance = excluded.opening_balance, \
         opening_e4 = excluded.opening_e4, external_ref = excluded.external_ref, archived = excluded.archived, \
         updated_at = excluded.updated_at"
    );
    on_db!(db, |p| sqlx::query(&sql)
        .bind(&a.id)
        .bind(&a.name)
        .bind(&a.account_type)
        .bind(&a.currency)
        .bind(&a.institution)
        .bind(&a.opening_balance)
        .bind(a.opening_e4)
        .bind(&a.external_ref)
        .bind(a.archived)
        .bind(a.last_synced_at)
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(p)
        .await
        .map(drop))?;
    Ok(())
}

/// Deletes an account without transactions. `Ok(false)` when it has some (archive instead).
pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = on_db!(db, |p| {
        sqlx::query(
        "DELETE FROM fin_accounts WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM fin_transactions WHERE account_id = $1) \
         AND NOT EXISTS (SELECT 1 FROM fin_imports WHERE account_id = $1)"
    )
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n > 0)
}

pub async fn touch_synced(db: &Db, id: &str, at_ms: i64) -> Result<(), DbError> {
    on_db!(db, |p| sqlx::query(
        "UPDATE fin_accounts SET last_synced_at = $1 WHERE id = $2"
    )
    .bind(at_ms)
    .bind(id)
    .execute(p)
    .await
    .map(drop))?;
    Ok(())
}

/// Current balance: opening balance plus booked transactions; pending ones separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub booked: Decimal,
    pub pending: Decimal,
}

pub async fn balance(db: &Db, a: &AccountRow) -> Result<Balance, DbError> {
    let (booked, pending): (Option<i64>, Option<i64>) = on_db!(db, |p| sqlx::query_as(
        "SELECT CAST(SUM(CASE WHEN status = 'booked' THEN amount_e4 ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN status = 'pending' THEN amount_e4 ELSE 0 END) AS BIGINT) \
         FROM fin_transactions WHERE account_id = $1"
    )
    .bind(&a.id)
    .fetch_one(p)
    .await)?;
    Ok(Balance {
        booked: from_e4(a.opening_e4 + booked.unwrap_or(0)),
        pending: from_e4(pending.unwrap_or(0)),
    })
}

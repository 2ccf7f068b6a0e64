//! Strategy rows for the API: create, replace, delete, list, and their history.

use super::store::{STRATEGY_COLUMNS, StrategyRow};
use crate::db::{Db, DbError, Sql};

pub async fn list(db: &Db) -> Result<Vec<StrategyRow>, DbError> {
    db.fetch_all(format!(
        "SELECT {STRATEGY_COLUMNS} FROM strategies ORDER BY name"
    ))
    .await
}

pub async fn get(db: &Db, id: &str) -> Result<Option<StrategyRow>, DbError> {
    super::store::strategy_row(db, id).await
}

#[tracing::instrument(skip_all, fields(strategy = %row.id))]
pub async fn insert(db: &Db, row: &StrategyRow) -> Result<(), DbError> {
    db.execute(Sql::insert("strategies", row)).await?;
    Ok(())
}

/// Replaces the configuration, only while the strategy is not running (`state_version`
/// guards against a deploy racing the edit). `false`: it changed or started meanwhile.
#[tracing::instrument(skip_all, fields(strategy = %row.id))]
pub async fn update_config(db: &Db, row: &StrategyRow) -> Result<bool, DbError> {
    let sql = "UPDATE strategies SET name = $1, kind = $2, params = $3, connector = $4, symbols = $5, mode = $6, \
               tick_interval_ms = $7, max_order_notional = $8, max_open_position = $9, max_orders_per_minute = $10, \
               daily_loss_limit = $11, updated_at = $12 \
               WHERE id = $13 AND state_version = $14 AND state NOT IN ('live', 'paused')";
    let sql = Sql::new(sql)
        .bind(&row.name)
        .bind(&row.kind)
        .bind(&row.params)
        .bind(&row.connector)
        .bind(&row.symbols)
        .bind(&row.mode)
        .bind(row.tick_interval_ms)
        .bind(&row.max_order_notional)
        .bind(&row.max_open_position)
        .bind(row.max_orders_per_minute)
        .bind(&row.daily_loss_limit)
        .bind(row.updated_at)
        .bind(&row.id)
        .bind(row.state_version);
    let n = db.execute(sql).await?;
    Ok(n > 0)
}

/// Deletes a strategy that is not running, with its positions. Orders, fills and
/// transitions stay: they are the trading record.
pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let sql = Sql::new("DELETE FROM strategies WHERE id = $1 AND state NOT IN ('live', 'paused')");
    let n = tx.execute(sql.bind(id)).await?;
    let sql = Sql::new("DELETE FROM positions WHERE strategy_id = $1 AND $2");
    tx.execute(sql.bind(id).bind(n > 0)).await?;
    tx.commit().await?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransitionRow {
    pub id: String,
    pub from_state: String,
    pub to_state: String,
    pub cause: String,
    pub reason: String,
    pub principal: String,
    pub trace_id: String,
    pub at: i64,
}

pub async fn transitions(db: &Db, id: &str, limit: i64) -> Result<Vec<TransitionRow>, DbError> {
    let sql = "SELECT id, from_state, to_state, cause, reason, principal, trace_id, at FROM strategy_transitions \
               WHERE strategy_id = $1 ORDER BY at DESC, id DESC LIMIT $2";
    db.fetch_all(Sql::new(sql).bind(id).bind(limit)).await
}

//! Strategy rows for the API: create, replace, delete, list, and their history.

use super::store::{STRATEGY_COLUMNS, StrategyRow};
use crate::db::BeginWrite;
use crate::db::{Db, DbError};
use crate::on_db;

pub async fn list(db: &Db) -> Result<Vec<StrategyRow>, DbError> {
    let sql = format!("SELECT {STRATEGY_COLUMNS} FROM strategies ORDER BY name");
    Ok(on_db!(db, |p| sqlx::query_as::<_, StrategyRow>(&sql)
        .fetch_all(p)
        .await)?)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<StrategyRow>, DbError> {
    Ok(super::store::strategy_row(db, id).await?)
}

#[tracing::instrument(skip_all, fields(strategy = %row.id))]
pub async fn insert(db: &Db, row: &StrategyRow) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO strategies ({STRATEGY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
    );
    on_db!(db, |p| sqlx::query(&sql)
        .bind(&row.id)
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
        .bind(&row.state)
        .bind(row.state_version)
        .bind(row.state_since)
        .bind(&row.state_reason)
        .bind(row.last_tick_at)
        .bind(row.ticks)
        .bind(row.slow_ticks)
        .bind(row.pnl_day)
        .bind(&row.pnl_day_start)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(p)
        .await
        .map(drop))?;
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
    let n = on_db!(db, |p| sqlx::query(sql)
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
        .bind(row.state_version)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Deletes a strategy that is not running, with its positions. Orders, fills and
/// transitions stay: they are the trading record.
pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = on_db!(db, |p| {
        let mut tx = p.begin_write().await?;
        let n =
            sqlx::query("DELETE FROM strategies WHERE id = $1 AND state NOT IN ('live', 'paused')")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query("DELETE FROM positions WHERE strategy_id = $1 AND $2")
            .bind(id)
            .bind(n > 0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(n)
    })?;
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
    Ok(on_db!(db, |p| sqlx::query_as::<_, TransitionRow>(sql)
        .bind(id)
        .bind(limit)
        .fetch_all(p)
        .await)?)
}

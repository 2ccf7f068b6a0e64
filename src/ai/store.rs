//! `llm_calls`: one row per model request; the budget's starting point and the usage report.

use crate::db::{Db, DbError, DbHandle, Sql, port_error};
use actors::ai::engine::{BudgetReached, CallRecord, LlmCallStore};
use actors::ports::DependencyError;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use utoipa::ToSchema;

/// Costs are stored in billionths of a dollar.
const NANO: u32 = 9;

fn to_nano(usd: Decimal) -> i64 {
    (usd * Decimal::from(1_000_000_000u64))
        .round()
        .to_i64()
        .unwrap_or(i64::MAX)
}

fn from_nano(n: i64) -> Decimal {
    Decimal::new(n, NANO).normalize()
}

#[tracing::instrument(skip_all, fields(purpose = %c.purpose, outcome = %c.outcome))]
pub async fn insert(db: &Db, c: &CallRecord, now_ms: i64, month: &str) -> Result<(), DbError> {
    let sql = "INSERT INTO llm_calls (id, created_at, month, purpose, template, template_version, provider, model, \
               input_tokens, output_tokens, cost_nano_usd, latency_ms, outcome, trace_id) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let q = Sql::new(sql)
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(now_ms)
        .bind(month)
        .bind(&c.purpose)
        .bind(&c.template)
        .bind(i64::from(c.template_version))
        .bind(&c.provider)
        .bind(&c.model)
        .bind(clamp(c.input_tokens))
        .bind(clamp(c.output_tokens))
        .bind(to_nano(c.cost_usd))
        .bind(clamp(c.latency_ms))
        .bind(&c.outcome)
        .bind(&c.trace_id);
    db.execute(q).await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(month))]
pub async fn spent(db: &Db, month: &str) -> Result<Decimal, DbError> {
    let sql =
        "SELECT CAST(COALESCE(SUM(cost_nano_usd), 0) AS BIGINT) FROM llm_calls WHERE month = $1";
    let n: i64 = db.fetch_scalar(Sql::new(sql).bind(month)).await?;
    Ok(from_nano(n))
}

/// One line of `GET /v1/ai/usage`: a month's calls for one purpose and model.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageLine {
    /// `categorize` or `ask`.
    pub purpose: String,
    pub provider: String,
    pub model: String,
    /// Rows of every outcome (cache hits and refused calls included).
    pub calls: i64,
    /// Requests the provider answered (`ok`, `invalid`, `refusal`).
    pub answered: i64,
    pub cache_hits: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// USD as a decimal string.
    #[schema(value_type = String, example = "0.0123")]
    pub cost_usd: Decimal,
}

#[derive(sqlx::FromRow)]
struct UsageRow {
    purpose: String,
    provider: String,
    model: String,
    calls: i64,
    answered: i64,
    cache_hits: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost: i64,
}

#[tracing::instrument(skip_all, fields(month))]
pub async fn usage(db: &Db, month: &str) -> Result<Vec<UsageLine>, DbError> {
    let sql = "SELECT purpose, provider, model, COUNT(*) AS calls, \
               CAST(SUM(CASE WHEN outcome IN ('ok', 'invalid', 'refusal') THEN 1 ELSE 0 END) AS BIGINT) AS answered, \
               CAST(SUM(CASE WHEN outcome = 'cache_hit' THEN 1 ELSE 0 END) AS BIGINT) AS cache_hits, \
               CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
               CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
               CAST(SUM(cost_nano_usd) AS BIGINT) AS cost \
               FROM llm_calls WHERE month = $1 GROUP BY purpose, provider, model ORDER BY purpose, provider, model";
    let rows: Vec<UsageRow> = db.fetch_all(Sql::new(sql).bind(month)).await?;
    Ok(rows
        .into_iter()
        .map(|r| UsageLine {
            purpose: r.purpose,
            provider: r.provider,
            model: r.model,
            calls: r.calls,
            answered: r.answered,
            cache_hits: r.cache_hits,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_usd: from_nano(r.cost),
        })
        .collect())
}

/// The engine's `LlmCallStore` port over the database.
#[derive(Clone)]
pub struct DbCallStore {
    pub db: DbHandle,
    pub alarm: Option<super::alarm::BudgetAlarm>,
}

#[async_trait::async_trait]
impl LlmCallStore for DbCallStore {
    async fn record(&self, call: &CallRecord) -> Result<(), DependencyError> {
        let db = self.db.port()?;
        let now = chrono::Utc::now();
        insert(
            &db,
            call,
            now.timestamp_millis(),
            &now.format("%Y-%m").to_string(),
        )
        .await
        .map_err(port_error)
    }

    async fn spent(&self, month: &str) -> Result<Decimal, DependencyError> {
        spent(&self.db.port()?, month).await.map_err(port_error)
    }

    async fn budget_reached(&self, reached: &BudgetReached) {
        if let Some(a) = &self.alarm {
            a.raise(reached).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn nano_round_trip() {
        assert_eq!(to_nano(dec!(0.0001851)), 185_100);
        assert_eq!(from_nano(185_100), dec!(0.0001851));
        assert_eq!(from_nano(0), Decimal::ZERO);
    }
}

//! [`CategoryStore`] on SQLite/Postgres: rules, the persisted model, candidates and the
//! writes of automatic categorization (never over a user's choice or lock).

use super::money::from_e4;
use crate::db::{Db, DbError, DbHandle, Sql};
use crate::events::{stage, stage_in};
use actors::TraceId;
use actors::events::CategoryUpdated;
use actors::finance::categorize::{NaiveBayes, Rule, Tier};
use actors::finance::categorizer::{
    Candidate, CategoryChange, CategoryStore, Example, Selection, Suggestion,
};
use actors::ports::DependencyError;
use async_trait::async_trait;

pub struct SqlCategoryStore(pub DbHandle);

use crate::db::port_error as dep;

impl SqlCategoryStore {
    fn db(&self) -> Result<Db, DependencyError> {
        self.0.port()
    }
}

pub fn tier_str(t: Tier) -> &'static str {
    match t {
        Tier::Rule => "rule",
        Tier::Model => "model",
        Tier::Llm => "llm",
    }
}

/// Only transactions automation may touch: not user-categorized and not locked.
fn selection_sql<'a>(sel: &'a Selection, sql: &mut Sql<'a>) {
    sql.push(
        " AND category_locked = FALSE AND (categorized_by IS NULL OR categorized_by <> 'user')",
    );
    match sel {
        Selection::ImportBatch(b) => {
            let p = sql.arg(b);
            sql.push(&format!(" AND import_batch = {p}"));
        }
        Selection::Ids(ids) => {
            if ids.is_empty() {
                sql.push(" AND 1 = 0");
            } else {
                let ps: Vec<String> = ids.iter().map(|i| sql.arg(i)).collect();
                sql.push(&format!(" AND id IN ({})", ps.join(", ")));
            }
        }
        Selection::DateRange {
            from,
            to,
            account_id,
        } => {
            let (a, b) = (sql.arg(from), sql.arg(to));
            sql.push(&format!(" AND booked_date >= {a} AND booked_date <= {b}"));
            if let Some(acc) = account_id {
                let p = sql.arg(acc);
                sql.push(&format!(" AND account_id = {p}"));
            }
        }
    }
}

#[async_trait]
impl CategoryStore for SqlCategoryStore {
    async fn rules(&self) -> Result<Vec<Rule>, DependencyError> {
        let db = self.db()?;
        super::rules::list(&db)
            .await
            .map_err(dep)?
            .into_iter()
            .map(|r| r.rule().map_err(dep))
            .collect()
    }

    async fn load_model(&self) -> Result<Option<NaiveBayes>, DependencyError> {
        let db = self.db()?;
        let body: Option<(String,)> = db
            .fetch_optional("SELECT body FROM fin_model WHERE id = 'default'")
            .await
            .map_err(dep)?;
        body.map(|(b,)| serde_json::from_str(&b).map_err(dep))
            .transpose()
    }

    async fn save_model(&self, model: &NaiveBayes) -> Result<(), DependencyError> {
        let db = self.db()?;
        let body = serde_json::to_string(model).map_err(dep)?;
        let now = chrono::Utc::now().timestamp_millis();
        let sql = Sql::new(
            "INSERT INTO fin_model (id, body, updated_at) VALUES ('default', $1, $2) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        );
        db.execute(sql.bind(&body).bind(now))
            .await
            .map(drop)
            .map_err(dep)
    }

    async fn examples(&self) -> Result<Vec<Example>, DependencyError> {
        let db = self.db()?;
        let rows: Vec<(String, Option<String>, i64, String)> = db
            .fetch_all(
                "SELECT description, counterparty, amount_e4, category_id FROM fin_transactions \
                 WHERE categorized_by = 'user' AND category_id IS NOT NULL ORDER BY id",
            )
            .await
            .map_err(dep)?;
        Ok(rows
            .into_iter()
            .map(|(description, counterparty, e4, category_id)| Example {
                description,
                counterparty,
                amount: from_e4(e4),
                category_id,
            })
            .collect())
    }

    async fn candidates(
        &self,
        selection: &Selection,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Candidate>, DependencyError> {
        let db = self.db()?;
        let mut sql = Sql::new(
            "SELECT id, account_id, description, counterparty, amount_e4, booked_date FROM fin_transactions WHERE 1 = 1",
        );
        selection_sql(selection, &mut sql);
        if let Some(a) = after {
            let p = sql.arg(a);
            sql.push(&format!(" AND id > {p}"));
        }
        let p = sql.arg(i64::from(limit));
        sql.push(&format!(" ORDER BY id LIMIT {p}"));
        let rows: Vec<(String, String, String, Option<String>, i64, String)> =
            db.fetch_all(sql).await.map_err(dep)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, account_id, description, counterparty, e4, date)| Candidate {
                    id,
                    account_id,
                    description,
                    counterparty,
                    amount: from_e4(e4),
                    date,
                },
            )
            .collect())
    }

    async fn count(&self, selection: &Selection) -> Result<u64, DependencyError> {
        let db = self.db()?;
        let mut sql = Sql::new("SELECT COUNT(*) FROM fin_transactions WHERE 1 = 1");
        selection_sql(selection, &mut sql);
        let n: i64 = db.fetch_scalar(sql).await.map_err(dep)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    #[tracing::instrument(skip_all, fields(changes = changes.len(), trace_id = %trace_id))]
    async fn apply(
        &self,
        changes: &[CategoryChange],
        trace_id: &TraceId,
    ) -> Result<u64, DependencyError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let db = self.db()?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut staged = Vec::with_capacity(changes.len());
        for c in changes {
            staged.push(
                stage(
                    &CategoryUpdated {
                        transaction_id: c.transaction_id.clone(),
                        category: c.category_id.clone(),
                        categorized_by: tier_str(c.tier).to_owned(),
                        trace_id: trace_id.clone(),
                    },
                    trace_id,
                )
                .map_err(dep)?,
            );
        }
        apply_in(&db, changes, &staged, now).await.map_err(dep)
    }

    async fn categories(&self) -> Result<Vec<(String, String)>, DependencyError> {
        let db = self.db()?;
        let rows = super::categories::list(&db).await.map_err(dep)?;
        Ok(rows
            .into_iter()
            .filter(|c| c.kind != "transfer")
            .map(|c| (c.id, c.name))
            .collect())
    }

    #[tracing::instrument(skip_all, fields(suggestions = suggestions.len()))]
    async fn suggest(&self, suggestions: &[Suggestion]) -> Result<u64, DependencyError> {
        let db = self.db()?;
        suggest_in(&db, suggestions, chrono::Utc::now().timestamp_millis())
            .await
            .map_err(dep)
    }
}

/// Stores the LLM tier's low-confidence answers on rows still uncategorized and unlocked.
async fn suggest_in(db: &Db, suggestions: &[Suggestion], now: i64) -> Result<u64, DbError> {
    let mut tx = db.begin_write().await?;
    let mut written = 0u64;
    for s in suggestions {
        let sql = Sql::new(
            "UPDATE fin_transactions SET suggested_category_id = $1, suggestion_confidence = $2, updated_at = $3 \
             WHERE id = $4 AND category_locked = FALSE AND category_id IS NULL",
        )
        .bind(&s.category_id)
        .bind(s.confidence)
        .bind(now)
        .bind(&s.transaction_id);
        written += tx.execute(sql).await?;
    }
    tx.commit().await?;
    Ok(written)
}

/// Writes the changes and their events in one transaction. The WHERE re-checks the lock: a
/// user may have categorized a transaction meanwhile.
async fn apply_in(
    db: &Db,
    changes: &[CategoryChange],
    staged: &[crate::events::Staged],
    now: i64,
) -> Result<u64, DbError> {
    let mut tx = db.begin_write().await?;
    let mut written = 0u64;
    for (c, event) in changes.iter().zip(staged) {
        let sql = Sql::new(
            "UPDATE fin_transactions SET category_id = $1, categorized_by = $2, auto_category_id = $1, \
             auto_tier = $2, rule_id = $3, counterparty = COALESCE($4, counterparty), \
             notes = COALESCE($5, notes), updated_at = $6 \
             WHERE id = $7 AND category_locked = FALSE AND (categorized_by IS NULL OR categorized_by <> 'user')",
        )
        .bind(&c.category_id)
        .bind(tier_str(c.tier))
        .bind(&c.rule_id)
        .bind(&c.counterparty)
        .bind(&c.notes)
        .bind(now)
        .bind(&c.transaction_id);
        let n = tx.execute(sql).await?;
        if n == 0 {
            continue;
        }
        stage_in(&mut tx, event).await?;
        written += n;
        if c.counterparty.is_some() || c.notes.is_some() {
            // The rule rewrote searchable text: refresh the search column.
            let sql = Sql::new(
                "SELECT description, counterparty, notes FROM fin_transactions WHERE id = $1",
            )
            .bind(&c.transaction_id);
            let (d, cp, notes): (String, Option<String>, Option<String>) =
                tx.fetch_one(sql).await?;
            let search = super::transactions::search_text(&d, cp.as_deref(), notes.as_deref());
            let sql = Sql::new("UPDATE fin_transactions SET search = $1 WHERE id = $2")
                .bind(search)
                .bind(&c.transaction_id);
            tx.execute(sql).await?;
        }
    }
    tx.commit().await?;
    Ok(written)
}

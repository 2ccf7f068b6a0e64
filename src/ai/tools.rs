//! The ask loop's tools: thin read-only wrappers over the report and query functions the
//! REST API already uses. Nothing here writes; the registry lists only these, so a model
//! asking for anything else (a mutation included) is refused before reaching this file.
//! Arguments arrive schema-checked; dates and limits are checked again here because the
//! schema subset has no patterns.

use crate::db::DbHandle;
use crate::finance::money::from_e4;
use crate::finance::{accounts, categories, reports, transactions};
use actors::ai::ToolSpec;
use actors::ai::engine::{ToolExecutor, ToolOutput};
use actors::ai::tools::ToolRegistry;
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;

pub struct FinanceTools {
    pub db: DbHandle,
}

fn nullable(ty: &str, description: &str) -> Value {
    json!({"type": [ty, "null"], "description": description})
}

fn object(props: Value) -> Value {
    let required: Vec<String> = props
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn range_props() -> Value {
    json!({
        "from": nullable("string", "first day, YYYY-MM-DD, or null"),
        "to": nullable("string", "last day (inclusive), YYYY-MM-DD, or null"),
        "account_id": nullable("string", "one account's id, or null for all"),
    })
}

fn tool(name: &str, description: &str, parameters: Value) -> ToolSpec {
    ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    }
}

pub fn specs() -> Vec<ToolSpec> {
    vec![
        tool(
            "list_categories",
            "The user's categories (id, name, kind).",
            object(json!({})),
        ),
        tool(
            "list_accounts",
            "Accounts with their booked and pending balances.",
            object(json!({})),
        ),
        tool(
            "spending_by_category",
            "Money spent per month and category (negative sums), transfers excluded.",
            object(range_props()),
        ),
        tool(
            "cashflow",
            "Income and expense per month and currency.",
            object(range_props()),
        ),
        tool(
            "balance_by_month",
            "Each account's booked balance at the end of every month with movement (opening \
             balance included), and its balance before `from`.",
            object(range_props()),
        ),
        tool(
            "search_transactions",
            "Transactions matching a text (description, counterparty, notes), newest first.",
            object(json!({
                "text": nullable("string", "words to look for, or null"),
                "from": nullable("string", "YYYY-MM-DD or null"),
                "to": nullable("string", "YYYY-MM-DD or null"),
                "category_id": nullable("string", "a category id or null"),
                "limit": {"type": "integer", "minimum": 1, "maximum": 50},
            })),
        ),
        tool(
            "list_strategies",
            "Trading strategies with their state.",
            object(json!({})),
        ),
        tool(
            "realised_pnl",
            "Realised profit and loss (fees included) per quote currency in a window.",
            object(json!({
                "strategy_id": nullable("string", "one strategy's id, or null for all"),
                "from": nullable("string", "YYYY-MM-DD or null"),
                "to": nullable("string", "YYYY-MM-DD (inclusive) or null"),
            })),
        ),
        tool(
            "recent_jobs",
            "Background jobs, newest first.",
            object(json!({
                "state": nullable("string", "waiting, running, completed, failed, dead, cancelled or null"),
                "limit": {"type": "integer", "minimum": 1, "maximum": 50},
            })),
        ),
    ]
}

fn date(args: &Value, key: &str) -> Result<Option<String>, String> {
    match args[key].as_str() {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|_| Some(s.to_owned()))
            .map_err(|_| format!("`{key}` must be a date YYYY-MM-DD, got `{s}`")),
    }
}

fn text(args: &Value, key: &str) -> Option<String> {
    args[key].as_str().map(str::to_owned)
}

fn range(args: &Value) -> Result<reports::Range, String> {
    Ok(reports::Range {
        from: date(args, "from")?,
        to: date(args, "to")?,
        account_id: text(args, "account_id"),
    })
}

fn internal(e: impl std::fmt::Display) -> String {
    tracing::warn!(error = %e, "ask tool failed");
    "the data could not be read right now".to_owned()
}

#[async_trait::async_trait]
impl ToolExecutor for FinanceTools {
    fn registry(&self) -> ToolRegistry {
        ToolRegistry::new(specs())
    }

    #[tracing::instrument(skip_all, fields(tool = name))]
    async fn run(&self, name: &str, args: &Value) -> Result<ToolOutput, String> {
        let db = self.db.get().ok_or("the database is not connected")?;
        let out = match name {
            "list_categories" => {
                let rows = categories::list(&db).await.map_err(internal)?;
                let data: Vec<Value> = rows
                    .iter()
                    .map(|c| json!({"id": c.id, "name": c.name, "kind": c.kind}))
                    .collect();
                ToolOutput {
                    summary: format!("{} categories", data.len()),
                    data: json!(data),
                }
            }
            "list_accounts" => {
                let mut data = Vec::new();
                for a in accounts::list(&db, false).await.map_err(internal)? {
                    let b = accounts::balance(&db, &a).await.map_err(internal)?;
                    data.push(json!({"id": a.id, "name": a.name, "type": a.account_type, "currency": a.currency,
                        "booked_balance": b.booked.to_string(), "pending": b.pending.to_string()}));
                }
                ToolOutput {
                    summary: format!("{} accounts", data.len()),
                    data: json!(data),
                }
            }
            "spending_by_category" => {
                let names: HashMap<String, String> = categories::list(&db)
                    .await
                    .map_err(internal)?
                    .into_iter()
                    .map(|c| (c.id, c.name))
                    .collect();
                let rows = reports::spending(&db, &range(args)?)
                    .await
                    .map_err(internal)?;
                let data: Vec<Value> = rows
                    .iter()
                    .map(|(month, cat, cur, sum, n)| json!({
                        "month": month,
                        "category": cat.as_ref().map_or("uncategorized", |c| names.get(c).map_or(c.as_str(), String::as_str)),
                        "currency": cur, "spent": from_e4(*sum).to_string(), "transactions": n,
                    }))
                    .collect();
                ToolOutput {
                    summary: format!("{} month/category rows", data.len()),
                    data: json!(data),
                }
            }
            "cashflow" => {
                let rows = reports::cashflow(&db, &range(args)?)
                    .await
                    .map_err(internal)?;
                let data: Vec<Value> = rows
                    .iter()
                    .map(|(month, cur, inc, exp, n)| json!({
                        "month": month, "currency": cur, "income": from_e4(*inc).to_string(),
                        "expense": from_e4(*exp).to_string(), "net": from_e4(inc + exp).to_string(), "transactions": n,
                    }))
                    .collect();
                ToolOutput {
                    summary: format!("{} months", data.len()),
                    data: json!(data),
                }
            }
            "balance_by_month" => {
                let r = range(args)?;
                let mut chosen = accounts::list(&db, false).await.map_err(internal)?;
                if let Some(id) = &r.account_id {
                    chosen.retain(|a| &a.id == id);
                    if chosen.is_empty() {
                        return Err(format!("no account `{id}`; list_accounts gives the ids"));
                    }
                }
                let mut data = Vec::new();
                for a in &chosen {
                    let (before, months) = reports::monthly_movement(&db, &a.id, &r)
                        .await
                        .map_err(internal)?;
                    // The same running sum as GET /v1/financial/reports/balance.
                    let mut running = a.opening_e4 + before;
                    let start = running;
                    let points: Vec<Value> = months
                        .into_iter()
                        .map(|(month, sum)| {
                            running += sum;
                            json!({"month": month, "balance": from_e4(running).to_string()})
                        })
                        .collect();
                    data.push(
                        json!({"account_id": a.id, "account": a.name, "currency": a.currency,
                        "starting_balance": from_e4(start).to_string(), "months": points}),
                    );
                }
                ToolOutput {
                    summary: format!("monthly balances of {} accounts", data.len()),
                    data: json!(data),
                }
            }
            "search_transactions" => {
                if text(args, "text").is_some_and(|t| !transactions::searchable(&t)) {
                    return Err(format!(
                        "`text` is longer than {} characters",
                        transactions::MAX_SEARCH_CHARS
                    ));
                }
                let filter = transactions::Filter {
                    text: text(args, "text"),
                    from: date(args, "from")?,
                    to: date(args, "to")?,
                    category_id: text(args, "category_id"),
                    ..transactions::Filter::default()
                };
                let limit = args["limit"].as_u64().unwrap_or(20).clamp(1, 50) as u32;
                let (rows, more) = transactions::list::<transactions::TxRow>(
                    &db,
                    &filter,
                    transactions::Sort::DateDesc,
                    None,
                    limit,
                )
                .await
                .map_err(internal)?;
                let data: Vec<Value> = rows
                    .iter()
                    .map(|t| json!({"date": t.booked_date, "amount": t.amount, "currency": t.currency,
                        "description": t.description, "counterparty": t.counterparty, "category_id": t.category_id}))
                    .collect();
                ToolOutput {
                    summary: format!(
                        "{} transactions{}",
                        data.len(),
                        if more { " (more exist)" } else { "" }
                    ),
                    data: json!({"transactions": data, "more": more}),
                }
            }
            "list_strategies" => {
                let rows = crate::trading::strategies::list(&db)
                    .await
                    .map_err(internal)?;
                let data: Vec<Value> = rows
                    .iter()
                    .map(|s| json!({"id": s.id, "name": s.name, "kind": s.kind, "state": s.state, "mode": s.mode}))
                    .collect();
                ToolOutput {
                    summary: format!("{} strategies", data.len()),
                    data: json!(data),
                }
            }
            "realised_pnl" => {
                let day = |key: &str, end: bool| -> Result<Option<chrono::DateTime<Utc>>, String> {
                    Ok(date(args, key)?.and_then(|d| {
                        let d = NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()?;
                        let t = if end {
                            d.and_hms_opt(23, 59, 59)?
                        } else {
                            d.and_hms_opt(0, 0, 0)?
                        };
                        Utc.from_local_datetime(&t).single()
                    }))
                };
                let w = crate::trading::pnl_history::PnlWindow {
                    strategy_id: text(args, "strategy_id"),
                    from: day("from", false)?,
                    to: day("to", true)?,
                };
                let curves = crate::trading::pnl_history::cumulative_realised(&db, &w, Utc::now())
                    .await
                    .map_err(internal)?;
                let data: Vec<Value> = curves
                    .iter()
                    .map(|(cur, points)| json!({"currency": cur,
                        "realised_pnl": points.last().map_or("0".to_owned(), |(_, v)| v.to_string())}))
                    .collect();
                ToolOutput {
                    summary: format!("{} currencies", data.len()),
                    data: json!(data),
                }
            }
            "recent_jobs" => {
                let limit = args["limit"].as_u64().unwrap_or(10).clamp(1, 50) as u32;
                let rows = crate::jobs::store::list(&db, None, args["state"].as_str(), None, limit)
                    .await
                    .map_err(internal)?;
                let data: Vec<Value> = rows
                    .iter()
                    .map(|j| json!({"id": j.id, "queue": j.queue, "name": j.name, "state": j.state, "attempts": j.attempts}))
                    .collect();
                ToolOutput {
                    summary: format!("{} jobs", data.len()),
                    data: json!(data),
                }
            }
            other => return Err(format!("unknown tool `{other}`")),
        };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::ai::schema::validate;

    #[test]
    fn every_tool_schema_is_strict_and_accepts_nulls() {
        for t in specs() {
            assert_eq!(
                t.parameters["additionalProperties"],
                json!(false),
                "{}",
                t.name
            );
            let all_null: serde_json::Map<String, Value> = t.parameters["properties"]
                .as_object()
                .map(|o| {
                    o.keys()
                        .map(|k| (k.clone(), if k == "limit" { json!(5) } else { Value::Null }))
                        .collect()
                })
                .unwrap_or_default();
            assert!(
                validate(&t.parameters, &Value::Object(all_null)).is_empty(),
                "{}",
                t.name
            );
        }
    }
}

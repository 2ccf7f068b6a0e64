//! The one way transactions enter the books, for file imports and bank syncs alike:
//! dedupe keys, the per-account-and-month lock, pending → booked updates, and a single
//! database transaction so a crash leaves nothing half-imported (a re-run then completes it
//! exactly, because the keys are the same).

use super::accounts::AccountRow;
use super::sql::to_e4;
use super::transactions::{TxRow, search_text};
use crate::db::{Db, DbError, Tx};
use crate::events::stage;
use crate::{on_tx, stage_event};
use actors::TraceId;
use actors::events::TransactionSynced;
use actors::finance::identity::{dedupe_keys, normalize_description};
use actors::finance::{StatementLine, TxStatus};
use chrono::{Datelike, NaiveDate};
use std::collections::{BTreeSet, HashMap, HashSet};

/// How far apart a pending line and its booked version may be dated.
const PENDING_MATCH_DAYS: i64 = 7;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub inserted: u64,
    /// Pending transactions now booked (matched by bank id, or by amount and description).
    pub updated: u64,
    /// Already known: nothing changed.
    pub duplicates: u64,
    pub inserted_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{location}: amount {amount} has more than 4 decimal places")]
    Precision { location: String, amount: String },
    #[error("{location}: currency {found} differs from the account's {expected}")]
    Currency {
        location: String,
        found: String,
        expected: String,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    /// Rows or an event could not be serialised (a bug, not the database's fault).
    #[error("encoding rows for the database: {0}")]
    Encode(String),
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::from(e))
    }
}

#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub import_batch: Option<String>,
}

fn month_key(account: &str, d: NaiveDate) -> String {
    format!("sync:{account}:{:04}{:02}", d.year(), d.month())
}

/// Serialises ingests of one account and month inside the transaction itself, so the lock
/// dies with it: a killed process (its connection gone) or a rollback frees it at once, and
/// the retried job takes it without waiting out a TTL. SQLite needs nothing here: the
/// transaction began `IMMEDIATE`, so it already is the only writer. On Postgres a
/// transaction-scoped advisory lock per month, taken in key order (no deadlock between two
/// ingests); waiting for one is waiting, not a failed attempt. `lock_timeout` bounds the wait
/// for an ingest that hangs.
async fn lock_months(tx: &mut Tx, keys: &BTreeSet<String>) -> Result<(), IngestError> {
    let Tx::Postgres(t) = tx else {
        return Ok(());
    };
    sqlx::query("SET LOCAL lock_timeout = '120s'")
        .execute(&mut **t)
        .await?;
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// The columns of `fin_transactions` an insert writes, with their Postgres types.
const INSERT_COLUMNS: [(&str, &str); 23] = [
    ("id", "text"),
    ("account_id", "text"),
    ("booked_date", "text"),
    ("value_date", "text"),
    ("amount", "text"),
    ("amount_e4", "bigint"),
    ("currency", "text"),
    ("description", "text"),
    ("counterparty", "text"),
    ("notes", "text"),
    ("external_id", "text"),
    ("dedupe_key", "text"),
    ("import_batch", "text"),
    ("status", "text"),
    ("category_id", "text"),
    ("categorized_by", "text"),
    ("category_locked", "boolean"),
    ("auto_category_id", "text"),
    ("auto_tier", "text"),
    ("rule_id", "text"),
    ("created_at", "bigint"),
    ("updated_at", "bigint"),
    ("search", "text"),
];

/// Postgres: `INSERT … SELECT` from a JSON array of rows (`json_to_recordset`). A key taken
/// meanwhile by a writer outside the month lock loses quietly.
fn json_insert_sql(postgres: bool) -> &'static str {
    static POSTGRES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let names: Vec<&str> = INSERT_COLUMNS.iter().map(|(n, _)| *n).collect();
    match postgres {
        // SQLite takes VALUES lists (see `write`); this is never used for it.
        false => "",
        true => POSTGRES.get_or_init(|| {
            let typed: Vec<String> = INSERT_COLUMNS.iter().map(|(n, t)| format!("{n} {t}")).collect();
            format!(
                "INSERT INTO fin_transactions ({0}) SELECT {0} FROM json_to_recordset($1::json) AS x({1}) \
                 ON CONFLICT (account_id, dedupe_key) DO NOTHING",
                names.join(", "),
                typed.join(", ")
            )
        }),
    }
}

/// `INSERT … VALUES` for `rows` rows (SQLite), with anonymous `?` parameters: for numbered
/// ones sqlx asks SQLite each parameter's name, a linear scan per parameter (perf showed it
/// taking a fifth of an import), which made long lists quadratic.
fn values_insert_sql(rows: usize) -> String {
    let names: Vec<&str> = INSERT_COLUMNS.iter().map(|(n, _)| *n).collect();
    let width = names.len();
    let tuples: Vec<String> = (0..rows)
        .map(|_| format!("({})", vec!["?"; width].join(",")))
        .collect();
    format!(
        "INSERT INTO fin_transactions ({}) VALUES {} ON CONFLICT (account_id, dedupe_key) DO NOTHING",
        names.join(", "),
        tuples.join(",")
    )
}

/// One row of that JSON array.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    id: &'a str,
    account_id: &'a str,
    booked_date: &'a str,
    value_date: Option<&'a str>,
    amount: &'a str,
    amount_e4: i64,
    currency: &'a str,
    description: &'a str,
    counterparty: Option<&'a str>,
    notes: Option<&'a str>,
    external_id: Option<&'a str>,
    dedupe_key: &'a str,
    import_batch: Option<&'a str>,
    status: &'a str,
    category_id: Option<&'a str>,
    categorized_by: Option<&'a str>,
    category_locked: bool,
    auto_category_id: Option<&'a str>,
    auto_tier: Option<&'a str>,
    rule_id: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
    search: String,
}

impl<'a> From<&'a TxRow> for JsonRow<'a> {
    fn from(t: &'a TxRow) -> Self {
        Self {
            id: &t.id,
            account_id: &t.account_id,
            booked_date: &t.booked_date,
            value_date: t.value_date.as_deref(),
            amount: &t.amount,
            amount_e4: t.amount_e4,
            currency: &t.currency,
            description: &t.description,
            counterparty: t.counterparty.as_deref(),
            notes: t.notes.as_deref(),
            external_id: t.external_id.as_deref(),
            dedupe_key: &t.dedupe_key,
            import_batch: t.import_batch.as_deref(),
            status: &t.status,
            category_id: t.category_id.as_deref(),
            categorized_by: t.categorized_by.as_deref(),
            category_locked: t.category_locked,
            auto_category_id: t.auto_category_id.as_deref(),
            auto_tier: t.auto_tier.as_deref(),
            rule_id: t.rule_id.as_deref(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            search: search_text(
                &t.description,
                t.counterparty.as_deref(),
                t.notes.as_deref(),
            ),
        }
    }
}

/// What ingest needs to know of an existing transaction (a narrow read: re-imports of large
/// files read every row of their date range).
#[derive(sqlx::FromRow)]
struct Known {
    id: String,
    dedupe_key: String,
    status: String,
    amount_e4: i64,
    description: String,
    booked_date: String,
}

/// What to do with one incoming line.
enum Plan {
    Insert(Box<TxRow>),
    /// Book a pending transaction: (id, new key, line).
    Book(String, String, StatementLine),
    Duplicate,
}

/// Ingests `lines` in a transaction of its own.
pub async fn ingest(
    db: &Db,
    account: &AccountRow,
    lines: &[StatementLine],
    opts: &IngestOptions,
    trace_id: &TraceId,
) -> Result<IngestOutcome, IngestError> {
    let mut tx = db.begin_write().await?;
    let out = ingest_in(&mut tx, account, lines, opts, trace_id).await?;
    tx.commit().await?;
    Ok(out)
}

/// Ingests `lines` inside the caller's write transaction, which may add its own rows (the
/// import's outcome, the categorization job) before it commits: all of it lands or none.
#[tracing::instrument(skip_all, fields(account = %account.id, lines = lines.len(), trace_id = %trace_id))]
pub async fn ingest_in(
    tx: &mut Tx,
    account: &AccountRow,
    lines: &[StatementLine],
    opts: &IngestOptions,
    trace_id: &TraceId,
) -> Result<IngestOutcome, IngestError> {
    if lines.is_empty() {
        return Ok(IngestOutcome::default());
    }
    let months: BTreeSet<String> = lines
        .iter()
        .map(|l| month_key(&account.id, l.booked))
        .collect();
    lock_months(tx, &months).await?;
    let keys = dedupe_keys(&account.id, lines);
    let (min, max) = lines
        .iter()
        .fold((lines[0].booked, lines[0].booked), |(a, b), l| {
            (a.min(l.booked), b.max(l.booked))
        });
    let from = (min - chrono::Duration::days(PENDING_MATCH_DAYS)).to_string();
    let to = (max + chrono::Duration::days(PENDING_MATCH_DAYS)).to_string();
    // Known rows around these dates: by key, and pending ones for fuzzy booking. Keys with a
    // bank id can move in time (pending → booked), so those are looked up without a date.
    const KNOWN: &str =
        "SELECT id, dedupe_key, status, amount_e4, description, booked_date FROM fin_transactions";
    let sql = format!("{KNOWN} WHERE account_id = $1 AND booked_date >= $2 AND booked_date <= $3");
    let mut known: Vec<Known> = on_tx!(tx, |c| sqlx::query_as::<_, Known>(&sql)
        .bind(&account.id)
        .bind(&from)
        .bind(&to)
        .fetch_all(c)
        .await)
    .map_err(DbError::from)?;
    // A bank id can move in time (pending → booked weeks later): look those keys up by value
    // rather than by date, and only the ones this batch carries.
    let in_window: HashSet<&str> = known.iter().map(|t| t.dedupe_key.as_str()).collect();
    let outside: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("ext:") && !in_window.contains(k.as_str()))
        .collect();
    let mut moved = Vec::new();
    for chunk in outside.chunks(200) {
        let marks: Vec<String> = (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "{KNOWN} WHERE account_id = $1 AND dedupe_key IN ({})",
            marks.join(", ")
        );
        let rows: Vec<Known> = on_tx!(tx, |c| {
            let mut q = sqlx::query_as::<_, Known>(&sql).bind(&account.id);
            for k in chunk {
                q = q.bind(k.as_str());
            }
            q.fetch_all(c).await
        })
        .map_err(DbError::from)?;
        moved.extend(rows);
    }
    known.extend(moved);
    let mut by_key: HashMap<&str, &Known> =
        known.iter().map(|t| (t.dedupe_key.as_str(), t)).collect();
    let mut pending: Vec<&Known> = known.iter().filter(|t| t.status == "pending").collect();
    let now = chrono::Utc::now().timestamp_millis();
    let mut plans = Vec::with_capacity(lines.len());
    let mut seen_in_batch: HashSet<&str> = HashSet::with_capacity(lines.len());
    for (line, key) in lines.iter().zip(&keys) {
        if let Some(cur) = line.currency.as_deref()
            && !cur.eq_ignore_ascii_case(&account.currency)
        {
            return Err(IngestError::Currency {
                location: line.source.clone(),
                found: cur.to_owned(),
                expected: account.currency.clone(),
            });
        }
        let e4 = to_e4(line.amount).ok_or_else(|| IngestError::Precision {
            location: line.source.clone(),
            amount: line.amount.to_string(),
        })?;
        if !seen_in_batch.insert(key.as_str()) {
            plans.push(Plan::Duplicate);
            continue;
        }
        if let Some(existing) = by_key.remove(key.as_str()) {
            if existing.status == "pending" && line.status == TxStatus::Booked {
                pending.retain(|p| p.id != existing.id);
                plans.push(Plan::Book(existing.id.clone(), key.clone(), line.clone()));
            } else {
                plans.push(Plan::Duplicate);
            }
            continue;
        }
        if line.status == TxStatus::Booked {
            // A booked line without a matching key may be a pending one that got booked with
            // a new date (and so a new hash): same amount and description, a few days apart.
            let desc = normalize_description(&line.description);
            if let Some(pos) = pending.iter().position(|p| {
                p.amount_e4 == e4
                    && normalize_description(&p.description) == desc
                    && NaiveDate::parse_from_str(&p.booked_date, "%Y-%m-%d")
                        .is_ok_and(|d| (d - line.booked).num_days().abs() <= PENDING_MATCH_DAYS)
            }) {
                let p = pending.remove(pos);
                plans.push(Plan::Book(p.id.clone(), key.clone(), line.clone()));
                continue;
            }
        }
        plans.push(Plan::Insert(Box::new(TxRow {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            booked_date: line.booked.to_string(),
            value_date: line.value_date.map(|d| d.to_string()),
            amount: line.amount.normalize().to_string(),
            amount_e4: e4,
            currency: account.currency.clone(),
            description: line.description.clone(),
            counterparty: line.counterparty.clone(),
            notes: None,
            external_id: line.external_id.clone(),
            dedupe_key: key.clone(),
            import_batch: opts.import_batch.clone(),
            status: line.status.as_str().to_owned(),
            category_id: None,
            categorized_by: None,
            category_locked: false,
            auto_category_id: None,
            auto_tier: None,
            rule_id: None,
            suggested_category_id: None,
            suggestion_confidence: None,
            created_at: now,
            updated_at: now,
        })));
    }
    write(tx, account, plans, trace_id, now).await
}

async fn write(
    tx: &mut Tx,
    account: &AccountRow,
    plans: Vec<Plan>,
    trace_id: &TraceId,
    now: i64,
) -> Result<IngestOutcome, IngestError> {
    let mut out = IngestOutcome::default();
    let mut inserts = Vec::new();
    let mut books = Vec::new();
    for plan in plans {
        match plan {
            Plan::Insert(row) => inserts.push(*row),
            Plan::Book(id, key, line) => books.push((id, key, line)),
            Plan::Duplicate => out.duplicates += 1,
        }
    }
    let mut changed: Vec<String> = Vec::new();
    // Postgres: one `INSERT … SELECT FROM json_to_recordset` per 1000 rows. SQLite: its JSON
    // functions cost more than they save (perf: a quarter of the time in JSON text
    // conversion), so VALUES lists of 200 rows with anonymous parameters.
    let values = !tx.is_postgres();
    let chunk_size = if values { 200 } else { 1000 };
    let insert_sql = json_insert_sql(!values);
    on_tx!(tx, |tx| {
        async {
        if values {
            // A bigger page cache for this connection while it writes many rows into several
            // indexes (measured: ~15 % faster at 100k rows). It stays with this pooled
            // connection until the pool retires it.
            sqlx::query("PRAGMA cache_size = -16384").execute(&mut *tx).await?;
        }
        for chunk in inserts.chunks(chunk_size) {
            let rows: Vec<JsonRow<'_>> = chunk.iter().map(JsonRow::from).collect();
            let values_sql;
            let q = if values {
                values_sql = values_insert_sql(rows.len());
                let mut q = sqlx::query(&values_sql);
                for r in &rows {
                    q = q
                        .bind(r.id)
                        .bind(r.account_id)
                        .bind(r.booked_date)
                        .bind(r.value_date)
                        .bind(r.amount)
                        .bind(r.amount_e4)
                        .bind(r.currency)
                        .bind(r.description)
                        .bind(r.counterparty)
                        .bind(r.notes)
                        .bind(r.external_id)
                        .bind(r.dedupe_key)
                        .bind(r.import_batch)
                        .bind(r.status)
                        .bind(r.category_id)
                        .bind(r.categorized_by)
                        .bind(r.category_locked)
                        .bind(r.auto_category_id)
                        .bind(r.auto_tier)
                        .bind(r.rule_id)
                        .bind(r.created_at)
                        .bind(r.updated_at)
                        .bind(r.search.as_str());
                }
                q
            } else {
                let json = serde_json::to_string(&rows).map_err(|e| IngestError::Encode(e.to_string()))?;
                sqlx::query(insert_sql).bind(json)
            };
            let n = q.execute(&mut *tx).await?.rows_affected() as usize;
            // Known keys were filtered out and the month lock is held, so every row goes in;
            // only a writer outside the lock could take one first. Then ask which did.
            let ids: Vec<String> = if n == chunk.len() {
                chunk.iter().map(|t| t.id.clone()).collect()
            } else {
                let mut ids = Vec::with_capacity(n);
                for t in chunk {
                    let here: Option<(String,)> = sqlx::query_as("SELECT id FROM fin_transactions WHERE id = $1")
                        .bind(&t.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    ids.extend(here.map(|h| h.0));
                }
                ids
            };
            out.duplicates += (chunk.len() - ids.len()) as u64;
            out.inserted += ids.len() as u64;
            out.inserted_ids.extend(ids);
        }
        for (id, key, line) in &books {
            sqlx::query(
                "UPDATE fin_transactions SET status = 'booked', booked_date = $1, value_date = COALESCE($2, value_date), \
                 amount = $3, amount_e4 = $4, description = $5, counterparty = COALESCE($6, counterparty), \
                 dedupe_key = $7, external_id = COALESCE($8, external_id), updated_at = $9, search = $11 \
                 WHERE id = $10 AND status = 'pending'",
            )
            .bind(line.booked.to_string())
            .bind(line.value_date.map(|d| d.to_string()))
            .bind(line.amount.normalize().to_string())
            .bind(to_e4(line.amount).unwrap_or_default())
            .bind(&line.description)
            .bind(&line.counterparty)
            .bind(key)
            .bind(&line.external_id)
            .bind(now)
            .bind(id)
            .bind(search_text(&line.description, line.counterparty.as_deref(), None))
            .execute(&mut *tx)
            .await?;
            out.updated += 1;
            changed.push(id.clone());
        }
        let count = out.inserted_ids.len() + changed.len();
        if count > 0 {
            // The event names at most the first 1000 ids; `count` says how many changed.
            let ids = out
                .inserted_ids
                .iter()
                .chain(&changed)
                .take(1000)
                .cloned()
                .collect();
            let event = stage(
                &TransactionSynced {
                    account_id: account.id.clone(),
                    transaction_ids: ids,
                    count: count as u64,
                    trace_id: trace_id.clone(),
                },
                trace_id,
            )
            .map_err(|e| IngestError::Encode(format!("{e:#}")))?;
            stage_event!(tx, event).await?;
        }
        Ok::<(), IngestError>(())
    }
    .await
    })?;
    Ok(out)
}

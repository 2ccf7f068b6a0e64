//! The one way transactions enter the books, for file imports and bank syncs alike:
//! dedupe keys, the per-account-and-month lock, pending → booked updates, and a single
//! database transaction so a crash leaves nothing half-imported (a re-run then completes it
//! exactly, because the keys are the same).

use super::accounts::AccountRow;
use super::money::to_e4;
use super::transactions::{TxRow, insert_columns, search_text};
use crate::db::sql::{json_records, pg_record_types};
use crate::db::{Arg, Db, DbError, Sql, Tx};
use crate::events::{stage, stage_in};
use actors::TraceId;
use actors::events::TransactionSynced;
use actors::finance::StatementLine;
use actors::finance::identity::dedupe_keys;
use actors::finance::matching::{KnownTx, LineMatch, PENDING_MATCH_DAYS, match_lines};
use chrono::{Datelike, NaiveDate};
use std::collections::{BTreeSet, HashSet};

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

#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub import_batch: Option<String>,
}

fn month_key(account: &str, d: NaiveDate) -> String {
    format!("sync:{account}:{:04}{:02}", d.year(), d.month())
}

/// Postgres: `INSERT … SELECT` from a JSON array of rows (`json_to_recordset`), typed from
/// one row's values. A key taken meanwhile by a writer outside the month lock loses quietly.
fn json_insert_sql(sample: &[Arg<'_>]) -> String {
    format!(
        "INSERT INTO fin_transactions ({0}) SELECT {0} FROM json_to_recordset($1::json) AS x({1}) \
         ON CONFLICT (account_id, dedupe_key) DO NOTHING",
        insert_columns(),
        pg_record_types(insert_columns(), sample)
    )
}

/// `INSERT … VALUES` for `rows` rows (SQLite), with anonymous `?` parameters: for numbered
/// ones sqlx asks SQLite each parameter's name, a linear scan per parameter (perf showed it
/// taking a fifth of an import), which made long lists quadratic.
fn values_insert_sql(rows: usize) -> String {
    let width = insert_columns().split(',').count();
    let tuples: Vec<String> = (0..rows)
        .map(|_| format!("({})", vec!["?"; width].join(",")))
        .collect();
    format!(
        "INSERT INTO fin_transactions ({}) VALUES {} ON CONFLICT (account_id, dedupe_key) DO NOTHING",
        insert_columns(),
        tuples.join(",")
    )
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

impl From<Known> for KnownTx {
    fn from(k: Known) -> Self {
        Self {
            pending: k.status == "pending",
            id: k.id,
            dedupe_key: k.dedupe_key,
            amount_e4: k.amount_e4,
            description: k.description,
            booked_date: k.booked_date,
        }
    }
}

/// A pending transaction to book: (its id, the line's key, the line).
type Booking<'l> = (String, &'l str, &'l StatementLine);

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
    let amounts_e4 = checked_amounts(account, lines)?;
    let months: BTreeSet<String> = lines
        .iter()
        .map(|l| month_key(&account.id, l.booked))
        .collect();
    // One ingest per account and month at a time, the lock tied to this transaction.
    tx.lock_keys(&months).await?;
    let keys = dedupe_keys(&account.id, lines);
    let known = load_known(tx, &account.id, lines, &keys).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut out = IngestOutcome::default();
    let mut inserts = Vec::new();
    let mut books: Vec<Booking<'_>> = Vec::new();
    let matches = match_lines(&known, lines, &keys, &amounts_e4);
    for (((line, key), e4), m) in lines.iter().zip(&keys).zip(&amounts_e4).zip(matches) {
        match m {
            LineMatch::New => inserts.push(new_row(account, line, key, *e4, opts, now)),
            LineMatch::Book(id) => books.push((id, key, line)),
            LineMatch::Duplicate => out.duplicates += 1,
        }
    }
    insert_rows(tx, &inserts, &mut out).await?;
    let booked = book_pending(tx, &books, now).await?;
    out.updated = booked.len() as u64;
    announce(tx, account, &out.inserted_ids, &booked, trace_id).await?;
    Ok(out)
}

/// Each line's amount in ten-thousandths, after checking every line against the account: a
/// foreign currency or a sub-e4 amount refuses the whole batch, naming the first bad line.
fn checked_amounts(account: &AccountRow, lines: &[StatementLine]) -> Result<Vec<i64>, IngestError> {
    lines
        .iter()
        .map(|line| {
            if let Some(cur) = line.currency.as_deref()
                && !cur.eq_ignore_ascii_case(&account.currency)
            {
                return Err(IngestError::Currency {
                    location: line.source.clone(),
                    found: cur.to_owned(),
                    expected: account.currency.clone(),
                });
            }
            to_e4(line.amount).ok_or_else(|| IngestError::Precision {
                location: line.source.clone(),
                amount: line.amount.to_string(),
            })
        })
        .collect()
}

/// The account's rows these lines may match: by date around theirs (pending ones are booked
/// with a new date), plus, by key, the rows of the bank ids this batch carries that lie
/// outside that window (a bank id can move in time, pending → booked weeks later).
async fn load_known(
    tx: &mut Tx,
    account_id: &str,
    lines: &[StatementLine],
    keys: &[String],
) -> Result<Vec<KnownTx>, DbError> {
    let (min, max) = lines
        .iter()
        .fold((lines[0].booked, lines[0].booked), |(a, b), l| {
            (a.min(l.booked), b.max(l.booked))
        });
    let from = (min - chrono::Duration::days(PENDING_MATCH_DAYS)).to_string();
    let to = (max + chrono::Duration::days(PENDING_MATCH_DAYS)).to_string();
    const KNOWN: &str =
        "SELECT id, dedupe_key, status, amount_e4, description, booked_date FROM fin_transactions";
    let sql = format!("{KNOWN} WHERE account_id = $1 AND booked_date >= $2 AND booked_date <= $3");
    let mut known: Vec<Known> = tx
        .fetch_all(Sql::new(sql).bind(account_id).bind(&from).bind(&to))
        .await?;
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
        let sql = Sql::new(sql)
            .bind(account_id)
            .bind_all(chunk.iter().map(|k| Arg::from(k.as_str())));
        let rows: Vec<Known> = tx.fetch_all(sql).await?;
        moved.extend(rows);
    }
    known.extend(moved);
    Ok(known.into_iter().map(KnownTx::from).collect())
}

fn new_row(
    account: &AccountRow,
    line: &StatementLine,
    key: &str,
    amount_e4: i64,
    opts: &IngestOptions,
    now: i64,
) -> TxRow {
    TxRow {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account.id.clone(),
        booked_date: line.booked.to_string(),
        value_date: line.value_date.map(|d| d.to_string()),
        amount: line.amount.normalize().to_string(),
        amount_e4,
        currency: account.currency.clone(),
        description: line.description.clone(),
        counterparty: line.counterparty.clone(),
        notes: None,
        external_id: line.external_id.clone(),
        dedupe_key: key.to_owned(),
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
    }
}

/// Inserts the new rows in chunks and counts them into `out`. Postgres: one `INSERT …
/// SELECT FROM json_to_recordset` per 1000 rows. SQLite: its JSON functions cost more than
/// they save (perf: a quarter of the time in JSON text conversion), so VALUES lists of 200
/// rows with anonymous parameters.
async fn insert_rows(
    tx: &mut Tx,
    inserts: &[TxRow],
    out: &mut IngestOutcome,
) -> Result<(), IngestError> {
    let values = !tx.is_postgres();
    let chunk_size = if values { 200 } else { 1000 };
    if values {
        // A bigger page cache for this connection while it writes many rows into several
        // indexes (measured: ~15 % faster at 100k rows). It stays with this pooled
        // connection until the pool retires it.
        tx.execute("PRAGMA cache_size = -16384").await?;
    }
    for chunk in inserts.chunks(chunk_size) {
        let sql = if values {
            Sql::new(values_insert_sql(chunk.len()))
                .bind_all(chunk.iter().flat_map(TxRow::insert_args))
        } else {
            let json = json_records(insert_columns(), chunk.iter().map(TxRow::insert_args))
                .map_err(|e| IngestError::Encode(e.to_string()))?;
            Sql::new(json_insert_sql(&chunk[0].insert_args())).bind(json)
        };
        let n = usize::try_from(tx.execute(sql).await?).unwrap_or(usize::MAX);
        // Known keys were filtered out and the month lock is held, so every row goes in;
        // only a writer outside the lock could take one first. Then ask which did.
        let ids: Vec<String> = if n == chunk.len() {
            chunk.iter().map(|t| t.id.clone()).collect()
        } else {
            let mut ids = Vec::with_capacity(n);
            for t in chunk {
                let sql = Sql::new("SELECT id FROM fin_transactions WHERE id = $1").bind(&t.id);
                ids.extend(tx.fetch_scalar_optional::<String>(sql).await?);
            }
            ids
        };
        out.duplicates += (chunk.len() - ids.len()) as u64;
        out.inserted += ids.len() as u64;
        out.inserted_ids.extend(ids);
    }
    Ok(())
}

/// Books the pending transactions with their lines' final values. The ids booked.
async fn book_pending(
    tx: &mut Tx,
    books: &[Booking<'_>],
    now: i64,
) -> Result<Vec<String>, DbError> {
    let mut booked = Vec::with_capacity(books.len());
    for (id, key, line) in books {
        let sql = Sql::new(
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
        .bind(*key)
        .bind(&line.external_id)
        .bind(now)
        .bind(id)
        .bind(search_text(&line.description, line.counterparty.as_deref(), None));
        tx.execute(sql).await?;
        booked.push(id.clone());
    }
    Ok(booked)
}

/// Stages `TransactionSynced` for what changed, in the same transaction. The event names at
/// most the first 1000 ids; `count` says how many changed.
async fn announce(
    tx: &mut Tx,
    account: &AccountRow,
    inserted: &[String],
    booked: &[String],
    trace_id: &TraceId,
) -> Result<(), IngestError> {
    let count = inserted.len() + booked.len();
    if count == 0 {
        return Ok(());
    }
    let ids = inserted.iter().chain(booked).take(1000).cloned().collect();
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
    stage_in(tx, &event).await?;
    Ok(())
}

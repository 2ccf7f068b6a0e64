//! `fin_transactions`: filtered, stably paginated listing, manual entry and edits.

use crate::db::{Arg, Db, DbError, PageRow, Record, Sql};

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct TxRow {
    pub id: String,
    pub account_id: String,
    pub booked_date: String,
    pub value_date: Option<String>,
    pub amount: String,
    pub amount_e4: i64,
    pub currency: String,
    pub description: String,
    pub counterparty: Option<String>,
    pub notes: Option<String>,
    pub external_id: Option<String>,
    pub dedupe_key: String,
    pub import_batch: Option<String>,
    pub status: String,
    pub category_id: Option<String>,
    pub categorized_by: Option<String>,
    pub category_locked: bool,
    pub auto_category_id: Option<String>,
    pub auto_tier: Option<String>,
    pub rule_id: Option<String>,
    /// The LLM tier's answer below the threshold (never applied); only the categorizer
    /// writes it, so inserts and edits leave it out (see [`READ_COLUMNS`]).
    pub suggested_category_id: Option<String>,
    pub suggestion_confidence: Option<f64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What reads select: [`Record::COLUMNS`] plus the LLM tier's suggestion.
pub const READ_COLUMNS: &str = "id, account_id, booked_date, value_date, amount, amount_e4, currency, description, \
    counterparty, notes, external_id, dedupe_key, import_batch, status, category_id, categorized_by, category_locked, \
    auto_category_id, auto_tier, rule_id, suggested_category_id, suggestion_confidence, created_at, updated_at";

/// [`READ_COLUMNS`] with `NULL` for the three the API does not show (`dedupe_key`,
/// `auto_category_id`, `auto_tier`): the quick page read of a type that never reads them
/// ([`TxPageRow::COLUMNS`]). Positions are unchanged, so both row readers stay the same.
///
/// Why: Postgres sends every selected value and our driver parses it; on imported rows
/// (a 66-byte dedupe key, an automatic category) pgbench ran the page query 3-7 % faster
/// without them (2026-12-04).
pub const SHOWN_COLUMNS: &str = "id, account_id, booked_date, value_date, amount, amount_e4, currency, description, \
    counterparty, notes, external_id, NULL AS dedupe_key, import_batch, status, category_id, categorized_by, category_locked, \
    NULL AS auto_category_id, NULL AS auto_tier, rule_id, suggested_category_id, suggestion_confidence, created_at, updated_at";

/// What a page of transactions is read as, and the columns its quick read selects.
pub trait TxPageRow: PageRow + From<TxRow> + Send {
    /// [`READ_COLUMNS`], in order; a type that does not read a column may select `NULL` in
    /// its place ([`SHOWN_COLUMNS`]). The slow paths read [`TxRow`]s, so all of them.
    const COLUMNS: &'static str = READ_COLUMNS;
}

impl TxPageRow for TxRow {}

/// [`READ_COLUMNS`] as a JSON array per row, for SQLite's one-value pages (see [`list`]): the
/// same columns in the same order (serde reads a JSON array into the struct's fields in
/// order), `category_locked` as a JSON boolean (SQLite stores 0/1).
const JSON_ROW: &str = "json_array(id, account_id, booked_date, value_date, amount, amount_e4, currency, description, \
    counterparty, notes, external_id, dedupe_key, import_batch, status, category_id, categorized_by, \
    json(CASE WHEN category_locked THEN 'true' ELSE 'false' END), \
    auto_category_id, auto_tier, rule_id, suggested_category_id, suggestion_confidence, created_at, updated_at)";

/// The columns of [`READ_COLUMNS`], in order.
impl PageRow for TxRow {
    fn read<R: crate::db::Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: r.col(0)?,
            account_id: r.col(1)?,
            booked_date: r.col(2)?,
            value_date: r.col(3)?,
            amount: r.col(4)?,
            amount_e4: r.col(5)?,
            currency: r.col(6)?,
            description: r.col(7)?,
            counterparty: r.col(8)?,
            notes: r.col(9)?,
            external_id: r.col(10)?,
            dedupe_key: r.col(11)?,
            import_batch: r.col(12)?,
            status: r.col(13)?,
            category_id: r.col(14)?,
            categorized_by: r.col(15)?,
            category_locked: r.col(16)?,
            auto_category_id: r.col(17)?,
            auto_tier: r.col(18)?,
            rule_id: r.col(19)?,
            suggested_category_id: r.col(20)?,
            suggestion_confidence: r.col(21)?,
            created_at: r.col(22)?,
            updated_at: r.col(23)?,
        })
    }
}

impl Record for TxRow {
    const COLUMNS: &'static str = "id, account_id, booked_date, value_date, amount, amount_e4, currency, description, \
        counterparty, notes, external_id, dedupe_key, import_batch, status, category_id, categorized_by, category_locked, \
        auto_category_id, auto_tier, rule_id, created_at, updated_at";

    fn args(&self) -> Vec<Arg<'_>> {
        vec![
            (&self.id).into(),
            (&self.account_id).into(),
            (&self.booked_date).into(),
            (&self.value_date).into(),
            (&self.amount).into(),
            self.amount_e4.into(),
            (&self.currency).into(),
            (&self.description).into(),
            (&self.counterparty).into(),
            (&self.notes).into(),
            (&self.external_id).into(),
            (&self.dedupe_key).into(),
            (&self.import_batch).into(),
            (&self.status).into(),
            (&self.category_id).into(),
            (&self.categorized_by).into(),
            self.category_locked.into(),
            (&self.auto_category_id).into(),
            (&self.auto_tier).into(),
            (&self.rule_id).into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

impl TxRow {
    /// The values of an insert: the row's, then its `search` text.
    pub fn insert_args(&self) -> Vec<Arg<'_>> {
        let mut args = self.args();
        args.push(self.search().into());
        args
    }

    /// The row's `search` column (see [`search_text`]).
    pub fn search(&self) -> String {
        search_text(
            &self.description,
            self.counterparty.as_deref(),
            self.notes.as_deref(),
        )
    }
}

/// What an insert writes: [`TxRow`]'s columns and `search`.
pub fn insert_columns() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| format!("{}, search", <TxRow as Record>::COLUMNS))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    DateDesc,
    DateAsc,
    AmountDesc,
    AmountAsc,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "-date" | "date_desc" => Some(Self::DateDesc),
            "date" | "date_asc" => Some(Self::DateAsc),
            "-amount" | "amount_desc" => Some(Self::AmountDesc),
            "amount" | "amount_asc" => Some(Self::AmountAsc),
            _ => None,
        }
    }

    fn column(self) -> &'static str {
        match self {
            Self::DateDesc | Self::DateAsc => "booked_date",
            Self::AmountDesc | Self::AmountAsc => "amount_e4",
        }
    }

    fn descending(self) -> bool {
        matches!(self, Self::DateDesc | Self::AmountDesc)
    }
}

/// The page boundary: the sort key and id of the last row seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cursor {
    Date(String, String),
    Amount(i64, String),
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub account_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub category_id: Option<String>,
    pub uncategorized: bool,
    pub text: Option<String>,
    pub min_e4: Option<i64>,
    pub max_e4: Option<i64>,
    pub status: Option<String>,
    pub import_batch: Option<String>,
}

impl Filter {
    /// Appends ` AND …` conditions.
    pub fn apply<'a>(&'a self, sql: &mut Sql<'a>) {
        if let Some(a) = &self.account_id {
            let p = sql.arg(a);
            sql.push(&format!(" AND account_id = {p}"));
        }
        if let Some(d) = &self.from {
            let p = sql.arg(d);
            sql.push(&format!(" AND booked_date >= {p}"));
        }
        if let Some(d) = &self.to {
            let p = sql.arg(d);
            sql.push(&format!(" AND booked_date <= {p}"));
        }
        if let Some(c) = &self.category_id {
            let p = sql.arg(c);
            sql.push(&format!(" AND category_id = {p}"));
        }
        if self.uncategorized {
            sql.push(" AND category_id IS NULL");
        }
        if let Some(t) = &self.text {
            // Escaped so `%` and `_` in the search are literal.
            let escaped = t
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let p = sql.arg(format!("%{escaped}%"));
            sql.push(&format!(" AND search LIKE {p} ESCAPE '\\'"));
        }
        if let Some(v) = self.min_e4 {
            let p = sql.arg(v);
            sql.push(&format!(" AND amount_e4 >= {p}"));
        }
        if let Some(v) = self.max_e4 {
            let p = sql.arg(v);
            sql.push(&format!(" AND amount_e4 <= {p}"));
        }
        if let Some(s) = &self.status {
            let p = sql.arg(s);
            sql.push(&format!(" AND status = {p}"));
        }
        if let Some(b) = &self.import_batch {
            let p = sql.arg(b);
            sql.push(&format!(" AND import_batch = {p}"));
        }
    }
}

/// The longest text search (characters). Why a bound: SQLite refuses a `LIKE` pattern over
/// 50,000 bytes ("LIKE or GLOB pattern too complex"), which a 60k-character `q` turned into a
/// 500 (2026-12-04); a description holds at most 500 characters.
pub const MAX_SEARCH_CHARS: usize = 500;

/// Whether `text` is short enough to search for ([`MAX_SEARCH_CHARS`]).
pub fn searchable(text: &str) -> bool {
    text.chars().count() <= MAX_SEARCH_CHARS
}

/// One page: up to `limit` rows after `cursor`, plus whether more follow. Keyset pagination
/// on (sort key, id): stable while rows are added or edited elsewhere.
#[tracing::instrument(skip_all)]
///
/// `T` is what a row becomes: a [`TxRow`], or the API's JSON of it read straight from the
/// driver's row on the quick paths (`api/financial/tx_json.rs`); the slow paths read
/// `TxRow`s and convert them.
pub async fn list<T: TxPageRow>(
    db: &Db,
    filter: &Filter,
    sort: Sort,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<(Vec<T>, bool), DbError> {
    let mut sql = Sql::new(format!(
        "SELECT {} FROM fin_transactions WHERE 1 = 1",
        T::COLUMNS
    ));
    filter.apply(&mut sql);
    let col = sort.column();
    let op = if sort.descending() { "<" } else { ">" };
    // The leading `col {op}= a` repeats what the OR implies so that both planners turn it
    // into an index range instead of scanning from the first row and filtering.
    match cursor {
        Some(Cursor::Date(d, id)) if col == "booked_date" => {
            let (a, b) = (sql.arg(d), sql.arg(id));
            sql.push(&format!(
                " AND booked_date {op}= {a} AND (booked_date {op} {a} OR (booked_date = {a} AND id {op} {b}))"
            ));
        }
        Some(Cursor::Amount(v, id)) if col == "amount_e4" => {
            let (a, b) = (sql.arg(*v), sql.arg(id));
            sql.push(&format!(
                " AND amount_e4 {op}= {a} AND (amount_e4 {op} {a} OR (amount_e4 = {a} AND id {op} {b}))"
            ));
        }
        _ => {}
    }
    let dir = if sort.descending() { "DESC" } else { "ASC" };
    let order = format!("ORDER BY {col} {dir}, id {dir}");
    sql.push(&format!(" {order}"));
    sql.push_limit(u64::from(limit) + 1);
    // Text searches over many rows are not among the quick reads (Postgres's pipelined lanes,
    // SQLite's reads on this thread).
    let quick = if filter.text.is_some() && db.backend() == crate::config::Backend::Postgres {
        None
    } else {
        db.try_page::<T>(&sql).await
    };
    if quick.is_none() && T::COLUMNS != READ_COLUMNS {
        // The slow paths read `TxRow`s: every column.
        sql.text = sql.text.replacen(T::COLUMNS, READ_COLUMNS, 1);
    }
    let mut rows: Vec<T> = if let Some(rows) = quick {
        rows
    } else if db.backend() == crate::config::Backend::Postgres {
        let rows: Vec<TxRow> = db.fetch_all(sql).await?;
        rows.into_iter().map(T::from).collect()
    } else {
        // A slow filter (text search over many rows) on the pool, the page as one value:
        // sqlx hands each SQLite row from the connection's thread to ours separately (a
        // wake-up and ~24 allocations per row, docs/decisions.md "The transactions page,
        // profiled").
        sql.text = format!(
            "SELECT json_group_array({JSON_ROW} {order}) FROM ({})",
            sql.text
        );
        let page: String = db.fetch_scalar(sql).await?;
        let rows: Vec<TxRow> = serde_json::from_str(&page)
            .map_err(|e| DbError::Query(sqlx::Error::Decode(Box::new(e))))?;
        rows.into_iter().map(T::from).collect()
    };
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// What a page's cursor is made of: the sort keys of a row.
pub trait TxKey {
    fn id(&self) -> &str;
    fn booked_date(&self) -> &str;
    fn amount_e4(&self) -> i64;
}

impl TxKey for TxRow {
    fn id(&self) -> &str {
        &self.id
    }
    fn booked_date(&self) -> &str {
        &self.booked_date
    }
    fn amount_e4(&self) -> i64 {
        self.amount_e4
    }
}

pub fn cursor_after(sort: Sort, row: &impl TxKey) -> Cursor {
    let id = row.id().to_owned();
    match sort {
        Sort::DateDesc | Sort::DateAsc => Cursor::Date(row.booked_date().to_owned(), id),
        Sort::AmountDesc | Sort::AmountAsc => Cursor::Amount(row.amount_e4(), id),
    }
}

pub async fn get(db: &Db, id: &str) -> Result<Option<TxRow>, DbError> {
    let sql = format!("SELECT {READ_COLUMNS} FROM fin_transactions WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

/// The `search` column: description, counterparty and notes, lower-cased (Unicode).
pub fn search_text(description: &str, counterparty: Option<&str>, notes: Option<&str>) -> String {
    let mut s = description.to_lowercase();
    for part in [counterparty, notes].into_iter().flatten() {
        s.push('\n');
        s.push_str(&part.to_lowercase());
    }
    s
}

/// Insert (new id) or replace every editable field (same id).
#[tracing::instrument(skip_all, fields(tx = %t.id))]
pub async fn upsert(db: &Db, t: &TxRow) -> Result<(), DbError> {
    let mut sql = Sql::insert_values("fin_transactions", insert_columns(), t.insert_args());
    sql.push(
        " ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, booked_date = excluded.booked_date, \
         value_date = excluded.value_date, amount = excluded.amount, amount_e4 = excluded.amount_e4, currency = excluded.currency, \
         description = excluded.description, counterparty = excluded.counterparty, notes = excluded.notes, status = excluded.status, \
         category_id = excluded.category_id, categorized_by = excluded.categorized_by, category_locked = excluded.category_locked, \
         updated_at = excluded.updated_at, search = excluded.search",
    );
    db.execute(sql).await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = db
        .execute(Sql::new("DELETE FROM fin_transactions WHERE id = $1").bind(id))
        .await?;
    Ok(n > 0)
}

#[cfg(test)]
mod json_row_tests {
    use super::*;

    /// The JSON page and the row decoder read the same columns in the same order.
    #[test]
    fn json_rows_list_the_read_columns_in_order() {
        let json: Vec<String> = JSON_ROW
            .trim_start_matches("json_array(")
            .trim_end_matches(')')
            .replace(
                "json(CASE WHEN category_locked THEN 'true' ELSE 'false' END)",
                "category_locked",
            )
            .split(',')
            .map(|c| c.trim().to_owned())
            .collect();
        let read: Vec<String> = READ_COLUMNS
            .split(',')
            .map(|c| c.trim().to_owned())
            .collect();
        assert_eq!(json, read);
    }
}

#[cfg(test)]
mod shown_columns_tests {
    use super::*;

    /// The quick page read's columns are the read columns, with three never shown as `NULL`.
    #[test]
    fn shown_columns_are_the_read_columns_less_three_never_shown() {
        let shown = SHOWN_COLUMNS
            .replace("NULL AS dedupe_key", "dedupe_key")
            .replace("NULL AS auto_category_id", "auto_category_id")
            .replace("NULL AS auto_tier", "auto_tier");
        assert_eq!(shown, READ_COLUMNS);
        assert_eq!(SHOWN_COLUMNS.matches("NULL AS").count(), 3);
    }
}

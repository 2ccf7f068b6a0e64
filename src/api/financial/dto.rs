//! Bodies of `/v1/financial`. Amounts are decimal strings (`"-12.50"`), dates `YYYY-MM-DD`.

use crate::api::present::{money, money_text, time, time_opt};
use crate::error::FieldError;
use crate::finance::accounts::AccountRow;
use crate::finance::categories::CategoryRow;
use crate::finance::imports::ImportRow;
use crate::finance::transactions::TxRow;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;

/// Parses a decimal string with at most 4 decimal places, or records why not.
pub fn amount(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Option<Decimal> {
    match Decimal::from_str(v.trim()) {
        Ok(d) if crate::finance::money::to_e4(d).is_some() => Some(d),
        Ok(_) => {
            errors.push(FieldError::new(field, "at most 4 decimal places"));
            None
        }
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be a decimal string such as \"-12.50\"",
            ));
            None
        }
    }
}

/// Exactly `YYYY-MM-DD` (the spec's `format: date`): chrono alone would also take `2024-1-5`.
pub fn date(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let shaped = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let d = shaped
        .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .flatten();
    if d.is_none() {
        errors.push(FieldError::new(field, "a date as YYYY-MM-DD"));
    }
    d
}

pub fn currency(field: &str, v: &str, errors: &mut Vec<FieldError>) {
    if v.len() != 3 || !v.chars().all(|c| c.is_ascii_uppercase()) {
        errors.push(FieldError::new(field, "an ISO 4217 code such as EUR"));
    }
}

pub fn text(field: &str, v: &str, max: usize, errors: &mut Vec<FieldError>) {
    if v.trim().is_empty() || v.chars().count() > max {
        errors.push(FieldError::new(field, format!("1-{max} characters")));
    }
}

pub fn done(errors: Vec<FieldError>) -> Result<(), crate::error::ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(crate::error::ApiError::Validation(errors))
    }
}

// ---- accounts ------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Main checking", "account_type": "checking", "currency": "EUR", "institution": "Banco Ejemplo", "opening_balance": "1500.00"}))]
pub struct AccountInput {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(inline, value_type = crate::api::schema::AccountType)]
    pub account_type: String,
    /// ISO 4217.
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
    #[serde(default)]
    pub institution: Option<String>,
    /// Decimal string; default "0".
    #[serde(default)]
    pub opening_balance: Option<String>,
    /// The bank's / provider's id of the account (SimpleFIN account id for sync).
    #[serde(default)]
    pub external_ref: Option<String>,
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub account_type: String,
    pub currency: String,
    pub institution: Option<String>,
    pub opening_balance: String,
    pub external_ref: Option<String>,
    pub archived: bool,
    /// Opening balance plus booked transactions.
    pub balance: String,
    /// Sum of pending transactions (not in `balance`).
    pub pending: String,
    #[serde(serialize_with = "crate::api::present::rfc3339_opt")]
    pub last_synced_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl Account {
    pub fn new(a: AccountRow, balance: crate::finance::accounts::Balance) -> Self {
        Self {
            id: a.id,
            name: a.name,
            account_type: a.account_type,
            currency: a.currency.clone(),
            institution: a.institution,
            opening_balance: money_text(&a.opening_balance, &a.currency),
            external_ref: a.external_ref,
            archived: a.archived,
            balance: money(balance.booked, &a.currency),
            pending: money(balance.pending, &a.currency),
            last_synced_at: time_opt(a.last_synced_at),
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

// ---- categories ----------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Groceries", "kind": "expense", "parent_id": null}))]
pub struct CategoryInput {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `income`, `expense` or `transfer` (transfers are left out of spending and cash flow).
    #[schema(inline, value_type = crate::api::schema::CategoryKind)]
    pub kind: String,
    /// A top-level category (two levels at most).
    #[serde(default)]
    pub parent_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Category {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub kind: String,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<CategoryRow> for Category {
    fn from(c: CategoryRow) -> Self {
        Self {
            id: c.id,
            name: c.name,
            parent_id: c.parent_id,
            kind: c.kind,
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

// ---- transactions --------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"account_id": "…", "booked_date": "2026-11-28", "amount": "-42.10", "description": "MERCADONA VALENCIA", "counterparty": "Mercadona"}))]
pub struct TransactionInput {
    pub account_id: String,
    #[schema(format = Date)]
    pub booked_date: String,
    #[serde(default)]
    #[schema(format = Date)]
    pub value_date: Option<String>,
    /// Signed decimal string: negative = money out.
    pub amount: String,
    pub description: String,
    #[serde(default)]
    pub counterparty: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// `booked` (default) or `pending`.
    #[serde(default)]
    #[schema(inline, value_type = Option<crate::api::schema::TransactionStatus>)]
    pub status: Option<String>,
    /// Setting a category here marks it as the user's (locked against automation).
    #[serde(default)]
    pub category_id: Option<String>,
}

/// Absent → `None` (leave as is); `null` → `Some(None)` (clear); a value → `Some(Some(v))`.
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// Every field optional; `category_id: null` clears the category.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category_id: Option<Option<String>>,
    /// Keep automation away from this transaction's category (set automatically when you
    /// choose a category).
    #[serde(default)]
    pub category_locked: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub counterparty: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Transaction {
    pub id: String,
    pub account_id: String,
    pub booked_date: String,
    pub value_date: Option<String>,
    pub amount: String,
    pub currency: String,
    pub description: String,
    pub counterparty: Option<String>,
    pub notes: Option<String>,
    pub external_id: Option<String>,
    pub import_batch: Option<String>,
    /// `pending` or `booked`.
    pub status: String,
    pub category_id: Option<String>,
    /// `user`, `rule`, `model` or `llm`.
    pub categorized_by: Option<String>,
    pub category_locked: bool,
    /// The LLM tier's suggestion for an uncategorized transaction (below
    /// `finance.llm_threshold`, so not applied); accept it by setting the category.
    pub suggested_category_id: Option<String>,
    /// 0-1.
    pub suggestion_confidence: Option<f64>,
    /// The rule that set the category, when one did.
    pub rule_id: Option<String>,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<TxRow> for Transaction {
    fn from(t: TxRow) -> Self {
        let uncategorized = t.category_id.is_none();
        Self {
            id: t.id,
            account_id: t.account_id,
            booked_date: t.booked_date,
            value_date: t.value_date,
            amount: money_text(&t.amount, &t.currency),
            currency: t.currency,
            description: t.description,
            counterparty: t.counterparty,
            notes: t.notes,
            external_id: t.external_id,
            import_batch: t.import_batch,
            status: t.status,
            category_id: t.category_id,
            categorized_by: t.categorized_by,
            category_locked: t.category_locked,
            suggested_category_id: uncategorized.then_some(t.suggested_category_id).flatten(),
            suggestion_confidence: uncategorized.then_some(t.suggestion_confidence).flatten(),
            rule_id: t.rule_id,
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionPage {
    pub items: Vec<Transaction>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

// ---- imports -------------------------------------------------------------------------

/// `multipart/form-data` fields of an upload (no others: an unknown field is refused).
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ImportForm {
    pub account_id: String,
    /// `auto` (default: sniffed; CSV cannot be), `csv`, `ofx` (also QFX), `camt053`, `norma43`.
    #[schema(inline, value_type = Option<crate::api::schema::ImportFormat>)]
    pub format: Option<String>,
    /// A saved CSV profile's id (required for CSV).
    pub profile_id: Option<String>,
    /// `true`: import the readable rows and list the skipped ones; default `false`: a file
    /// with any unreadable row imports nothing. (The default is declared so that Swagger UI
    /// does not pre-fill its sample value, `true`.)
    #[schema(default = false, example = false)]
    pub skip_bad_rows: Option<bool>,
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportAccepted {
    pub import_id: String,
    /// Follow it at `GET /v1/jobs/{id}` (progress) or `GET /v1/financial/imports/{id}`.
    pub job_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Import {
    pub id: String,
    pub account_id: String,
    pub format: String,
    pub filename: String,
    pub profile_id: Option<String>,
    pub skip_bad_rows: bool,
    /// `queued`, `running`, `retrying` (an attempt failed and will be retried; `error` says why),
    /// `completed` or `failed`.
    pub status: String,
    pub job_id: Option<String>,
    pub rows: i64,
    pub inserted: i64,
    /// Pending transactions that arrived booked.
    pub updated: i64,
    /// Already in the books (re-imported or overlapping files).
    pub duplicates: i64,
    /// Rows that could not be read: skipped (completed) or to blame (failed).
    pub problems: Vec<RowProblem>,
    pub error: Option<String>,
    pub trace_id: String,
    #[serde(serialize_with = "crate::api::present::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::present::rfc3339_opt")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// One row (or place) of a statement that could not be read. Its own schema name: it shared
/// `Problem` with the RFC 9457 error body, so the spec described import rows as error bodies.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RowProblem {
    /// `line 12`, `Ntry[3]`, …
    pub location: String,
    pub reason: String,
}

impl From<ImportRow> for Import {
    fn from(r: ImportRow) -> Self {
        Self {
            problems: r
                .skipped
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
            id: r.id,
            account_id: r.account_id,
            format: r.format,
            filename: r.filename,
            profile_id: r.profile_id,
            skip_bad_rows: r.skip_bad_rows,
            status: r.status,
            job_id: r.job_id,
            rows: r.rows_total,
            inserted: r.inserted,
            updated: r.updated,
            duplicates: r.duplicates,
            error: r.error,
            trace_id: r.trace_id,
            created_at: time(r.created_at),
            finished_at: time_opt(r.finished_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobAccepted {
    pub job_id: String,
    /// `true`: the same request was already queued; this is that job.
    pub deduplicated: bool,
}

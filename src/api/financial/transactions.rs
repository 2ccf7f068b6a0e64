//! `/v1/financial/transactions`: filters, stable keyset pagination, manual entry, edits.
//! A category chosen here is the user's: locked against automation and taught to the model.

use super::dto::{self, Transaction, TransactionInput, TransactionPage, TransactionPatch};
use super::tx_json::{self, TxJson};
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::api::query::ApiQuery;
use crate::db::Db;
use crate::error::{ApiError, FieldError};
use crate::finance::accounts::{self, AccountRow};
use crate::finance::categories;
use crate::finance::money::{from_e4, to_e4};
use crate::finance::transactions::{self, Cursor, Filter, Sort, TxRow};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use actors::events::CategoryUpdated;
use actors::finance::categorizer::Learn;
use actors::finance::identity::dedupe_keys;
use actors::finance::{StatementLine, TxStatus};
use base64::Engine as _;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TxQuery {
    pub account_id: Option<String>,
    /// Booked on or after (YYYY-MM-DD).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Booked on or before (YYYY-MM-DD).
    #[param(format = Date)]
    pub to: Option<String>,
    pub category_id: Option<String>,
    /// Only transactions without a category.
    pub uncategorized: Option<bool>,
    /// Text in description, counterparty or notes (case-insensitive).
    #[param(max_length = 500)]
    pub q: Option<String>,
    /// Signed decimal bounds, inclusive.
    pub min_amount: Option<String>,
    pub max_amount: Option<String>,
    /// `pending` or `booked`.
    #[param(inline, value_type = Option<crate::api::schema::TransactionStatus>)]
    pub status: Option<String>,
    /// Transactions of one import.
    pub import_id: Option<String>,
    /// `-date` (default), `date`, `-amount`, `amount`.
    #[param(inline, value_type = Option<crate::api::schema::TransactionSort>)]
    pub sort: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (same filters and sort).
    pub cursor: Option<String>,
}

fn encode(c: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode(s: &str) -> Option<Cursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Transactions, newest first by default, a page at a time.
#[utoipa::path(tag = "financial", params(TxQuery), responses((status = 200, description = "A page", body = TransactionPage), (status = 422, description = "Bad filter", body = crate::error::Problem)))]
#[get("/v1/financial/transactions")]
#[tracing::instrument(skip_all)]
pub async fn list_transactions(ctx: Ctx, q: ApiQuery<TxQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let mut errors = Vec::new();
    for (field, v) in [("from", &q.from), ("to", &q.to)] {
        if let Some(v) = v {
            dto::date(field, v, &mut errors);
        }
    }
    let mut bound = |field: &str, v: &Option<String>| {
        v.as_ref()
            .and_then(|v| dto::amount(field, v, &mut errors))
            .and_then(to_e4)
    };
    let (min_e4, max_e4) = (
        bound("min_amount", &q.min_amount),
        bound("max_amount", &q.max_amount),
    );
    let sort = match q.sort.as_deref() {
        None => Sort::DateDesc,
        Some(s) => Sort::parse(s).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "sort",
                "`-date`, `date`, `-amount` or `amount`",
            ));
            Sort::DateDesc
        }),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "between 1 and 500"));
    }
    if q.q.as_deref().is_some_and(|t| !transactions::searchable(t)) {
        errors.push(FieldError::new(
            "q",
            format!("at most {} characters", transactions::MAX_SEARCH_CHARS),
        ));
    }
    if let Some(s) = &q.status
        && TxStatus::parse(s).is_none()
    {
        errors.push(FieldError::new("status", "`pending` or `booked`"));
    }
    let cursor = match &q.cursor {
        Some(c) => {
            let d = decode(c);
            if d.is_none() {
                errors.push(FieldError::new("cursor", "not a cursor from this endpoint"));
            }
            d
        }
        None => None,
    };
    dto::done(errors)?;
    let filter = Filter {
        account_id: q.account_id,
        from: q.from,
        to: q.to,
        category_id: q.category_id,
        uncategorized: q.uncategorized.unwrap_or(false),
        text: q.q.filter(|t| !t.trim().is_empty()),
        min_e4,
        max_e4,
        status: q.status,
        import_batch: q.import_id,
    };
    // Rows go straight from the driver's row into the page's JSON (`tx_json.rs`).
    let (rows, more) =
        transactions::list::<TxJson>(&ctx.db()?, &filter, sort, cursor.as_ref(), limit).await?;
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|r| encode(&transactions::cursor_after(sort, r)))
        })
        .flatten();
    Ok(HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(tx_json::page(&rows, next_cursor.as_deref())))
}

/// Enter a transaction by hand (cash, corrections).
#[utoipa::path(tag = "financial", request_body = TransactionInput, responses((status = 201, description = "Created", body = Transaction), (status = 409, description = "Already recorded", body = crate::error::Problem)))]
#[post("/v1/financial/transactions")]
#[tracing::instrument(skip_all)]
pub async fn create_transaction(
    ctx: Ctx,
    body: ApiJson<TransactionInput>,
) -> Result<HttpResponse, ApiError> {
    let i = body.into_inner();
    let db = ctx.db()?;
    let (account, line) = validate_new(&db, &i).await?;
    let row = new_row(&account, &line, i);
    match transactions::upsert(&db, &row).await {
        Err(crate::db::DbError::Conflict { .. }) => {
            return Err(ApiError::Conflict(
                "an identical transaction (same day, amount and description) is already recorded"
                    .to_owned(),
            ));
        }
        other => other?,
    }
    if let Some(c) = &row.category_id {
        learn(&ctx, &row, None, c);
    }
    ctx.audit(
        ctx.who(),
        "transaction.create",
        format!("transaction:{}", row.id),
        "success",
        None,
    );
    Ok(HttpResponse::Created().json(Transaction::from(row)))
}

/// Checks every field of a new transaction (naming each bad one) and reads it as the line a
/// statement would have carried.
async fn validate_new(
    db: &Db,
    i: &TransactionInput,
) -> Result<(AccountRow, StatementLine), ApiError> {
    let mut errors = Vec::new();
    let account = accounts::get(db, &i.account_id).await?;
    if account.is_none() {
        errors.push(FieldError::new("account_id", "no such account"));
    }
    let booked = dto::date("booked_date", &i.booked_date, &mut errors);
    let value = i
        .value_date
        .as_deref()
        .and_then(|v| dto::date("value_date", v, &mut errors));
    let amount = dto::amount("amount", &i.amount, &mut errors);
    dto::text("description", &i.description, 500, &mut errors);
    let status = match i.status.as_deref() {
        None => Some(TxStatus::Booked),
        Some(s) => {
            let st = TxStatus::parse(s);
            if st.is_none() {
                errors.push(FieldError::new("status", "`pending` or `booked`"));
            }
            st
        }
    };
    if let Some(c) = &i.category_id
        && categories::get(db, c).await?.is_none()
    {
        errors.push(FieldError::new("category_id", "no such category"));
    }
    dto::done(errors)?;
    let (Some(account), Some(booked), Some(amount), Some(status)) =
        (account, booked, amount, status)
    else {
        return Err(ApiError::BadRequest("invalid transaction".to_owned()));
    };
    let line = StatementLine {
        source: "api".to_owned(),
        booked,
        value_date: value,
        amount,
        currency: None,
        description: i.description.trim().to_owned(),
        counterparty: i.counterparty.clone(),
        external_id: None,
        status,
    };
    Ok((account, line))
}

/// The row of a manual entry. It gets a dedupe key too, so the same purchase imported later
/// is not doubled; a category given here is the user's, and locked.
fn new_row(account: &AccountRow, line: &StatementLine, i: TransactionInput) -> TxRow {
    let key = dedupe_keys(&account.id, std::slice::from_ref(line)).remove(0);
    let now = chrono::Utc::now().timestamp_millis();
    let user_category = i.category_id.is_some();
    TxRow {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account.id.clone(),
        booked_date: line.booked.to_string(),
        value_date: line.value_date.map(|d| d.to_string()),
        amount: line.amount.normalize().to_string(),
        amount_e4: to_e4(line.amount).unwrap_or_default(),
        currency: account.currency.clone(),
        description: line.description.clone(),
        counterparty: i.counterparty,
        notes: i.notes,
        external_id: None,
        dedupe_key: key,
        import_batch: None,
        status: line.status.as_str().to_owned(),
        category_id: i.category_id,
        categorized_by: user_category.then(|| "user".to_owned()),
        category_locked: user_category,
        auto_category_id: None,
        auto_tier: None,
        rule_id: None,
        suggested_category_id: None,
        suggestion_confidence: None,
        created_at: now,
        updated_at: now,
    }
}

fn learn(ctx: &Ctx, row: &TxRow, previous: Option<String>, category: &str) {
    let _ = ctx.state.finance.categorizer.try_tell(Learn {
        description: row.description.clone(),
        counterparty: row.counterparty.clone(),
        amount: from_e4(row.amount_e4),
        previous_user_category: previous,
        category_id: category.to_owned(),
    });
}

async fn load(ctx: &Ctx, id: &str) -> Result<TxRow, ApiError> {
    transactions::get(&ctx.db()?, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no transaction {id}")))
}

/// One transaction.
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 200, description = "Transaction", body = Transaction), (status = 404, description = "No such transaction", body = crate::error::Problem)))]
#[get("/v1/financial/transactions/{id}")]
pub async fn get_transaction(
    ctx: Ctx,
    id: web::Path<String>,
) -> Result<web::Json<Transaction>, ApiError> {
    Ok(web::Json(load(&ctx, &id).await?.into()))
}

/// Edit a transaction. Choosing a category makes it the user's (`categorized_by: user`,
/// locked against rules and the model, which learns from it); amounts and dates come from the
/// bank and are not editable.
#[utoipa::path(tag = "financial", request_body = TransactionPatch, params(("id" = String, Path)), responses((status = 200, description = "Updated", body = Transaction), (status = 404, description = "No such transaction", body = crate::error::Problem)))]
#[patch("/v1/financial/transactions/{id}")]
#[tracing::instrument(skip_all, fields(tx = %id))]
pub async fn patch_transaction(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<TransactionPatch>,
) -> Result<web::Json<Transaction>, ApiError> {
    let p = body.into_inner();
    let db = ctx.db()?;
    let mut row = load(&ctx, &id).await?;
    let mut errors = Vec::new();
    if let Some(d) = &p.description {
        dto::text("description", d, 500, &mut errors);
    }
    if let Some(Some(c)) = &p.category_id
        && categories::get(&db, c).await?.is_none()
    {
        errors.push(FieldError::new("category_id", "no such category"));
    }
    dto::done(errors)?;
    let previous_user = (row.categorized_by.as_deref() == Some("user"))
        .then(|| row.category_id.clone())
        .flatten();
    let mut learned = None;
    if let Some(c) = p.category_id {
        match c {
            Some(c) => {
                learned = (row.category_id.as_deref() != Some(&c)
                    || row.categorized_by.as_deref() != Some("user"))
                .then(|| c.clone());
                row.category_id = Some(c);
                row.categorized_by = Some("user".to_owned());
                row.category_locked = true;
            }
            None => {
                row.category_id = None;
                row.categorized_by = None;
            }
        }
    }
    if let Some(l) = p.category_locked {
        row.category_locked = l;
    }
    if let Some(d) = p.description {
        row.description = d.trim().to_owned();
    }
    if let Some(c) = p.counterparty {
        row.counterparty = c;
    }
    if let Some(n) = p.notes {
        row.notes = n;
    }
    row.updated_at = chrono::Utc::now().timestamp_millis();
    transactions::upsert(&db, &row).await?;
    if let Some(c) = &learned {
        learn(&ctx, &row, previous_user, c);
        ctx.state.events.publish(CategoryUpdated {
            transaction_id: row.id.clone(),
            category: c.clone(),
            categorized_by: "user".to_owned(),
            trace_id: ctx.trace_id.clone(),
        });
    }
    ctx.audit(
        ctx.who(),
        "transaction.update",
        format!("transaction:{}", row.id),
        "success",
        None,
    );
    Ok(web::Json(row.into()))
}

/// Delete a transaction (a re-import of the same file brings it back).
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such transaction", body = crate::error::Problem)))]
#[delete("/v1/financial/transactions/{id}")]
#[tracing::instrument(skip_all, fields(tx = %id))]
pub async fn delete_transaction(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = load(&ctx, &id).await?;
    transactions::delete(&ctx.db()?, &row.id).await?;
    ctx.audit(
        ctx.who(),
        "transaction.delete",
        format!("transaction:{}", row.id),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

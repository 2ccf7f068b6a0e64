//! `/v1/financial/accounts` (with balances) and on-demand bank sync.

use super::dto::{self, Account, AccountInput, JobAccepted};
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::api::query::ApiQuery;
use crate::error::{ApiError, FieldError};
use crate::finance::accounts::{self, AccountRow, TYPES};
use crate::finance::jobs::{SyncBank, SyncBankPayload};
use actix_web::{HttpResponse, delete, get, post, put, web};
use actors::jobs::JobSpec;
use serde::Deserialize;
use utoipa::IntoParams;

fn validate(i: &AccountInput) -> Result<rust_decimal::Decimal, ApiError> {
    let mut errors = Vec::new();
    dto::text("name", &i.name, 100, &mut errors);
    if !TYPES.contains(&i.account_type.as_str()) {
        errors.push(FieldError::new(
            "account_type",
            format!("one of: {}", TYPES.join(", ")),
        ));
    }
    dto::currency("currency", &i.currency, &mut errors);
    let opening = match &i.opening_balance {
        Some(v) => dto::amount("opening_balance", v, &mut errors),
        None => Some(rust_decimal::Decimal::ZERO),
    };
    dto::done(errors)?;
    Ok(opening.unwrap_or_default())
}

async fn save(
    ctx: &Ctx,
    id: String,
    i: AccountInput,
    base: Option<AccountRow>,
) -> Result<Account, ApiError> {
    let opening = validate(&i)?;
    let db = ctx.db()?;
    let now = chrono::Utc::now().timestamp_millis();
    let row = AccountRow {
        id,
        name: i.name.trim().to_owned(),
        account_type: i.account_type,
        currency: i.currency,
        institution: i.institution.filter(|s| !s.trim().is_empty()),
        opening_balance: opening.normalize().to_string(),
        opening_e4: crate::finance::money::to_e4(opening).unwrap_or_default(),
        external_ref: i.external_ref.filter(|s| !s.trim().is_empty()),
        archived: i.archived,
        last_synced_at: base.as_ref().and_then(|b| b.last_synced_at),
        created_at: base.as_ref().map_or(now, |b| b.created_at),
        updated_at: now,
    };
    if let Some(b) = &base
        && b.currency != row.currency
        && has_transactions(&db, &b.id).await?
    {
        return Err(ApiError::Conflict(
            "the account has transactions; its currency cannot change".to_owned(),
        ));
    }
    match accounts::upsert(&db, &row).await {
        Err(crate::db::DbError::Conflict { .. }) => {
            return Err(ApiError::Conflict(format!(
                "an account named `{}` exists",
                row.name
            )));
        }
        other => other?,
    }
    ctx.audit(
        ctx.who(),
        "account.save",
        format!("account:{}", row.name),
        "success",
        None,
    );
    let balance = accounts::balance(&db, &row).await?;
    Ok(Account::new(row, balance))
}

async fn has_transactions(db: &crate::db::Db, id: &str) -> Result<bool, ApiError> {
    let f = crate::finance::transactions::Filter {
        account_id: Some(id.to_owned()),
        ..Default::default()
    };
    let (rows, _) = crate::finance::transactions::list::<crate::finance::transactions::TxRow>(
        db,
        &f,
        crate::finance::transactions::Sort::DateDesc,
        None,
        1,
    )
    .await?;
    Ok(!rows.is_empty())
}

pub(super) async fn load(ctx: &Ctx, id: &str) -> Result<AccountRow, ApiError> {
    accounts::get(&ctx.db()?, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account {id}")))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Include archived accounts (default false).
    pub archived: Option<bool>,
}

/// Accounts with their balances.
#[utoipa::path(tag = "financial", params(AccountQuery), responses((status = 200, description = "Accounts", body = [Account])))]
#[get("/v1/financial/accounts")]
#[tracing::instrument(skip_all)]
pub async fn list_accounts(
    ctx: Ctx,
    q: ApiQuery<AccountQuery>,
) -> Result<web::Json<Vec<Account>>, ApiError> {
    let db = ctx.db()?;
    let mut out = Vec::new();
    for a in accounts::list(&db, q.archived.unwrap_or(false)).await? {
        let b = accounts::balance(&db, &a).await?;
        out.push(Account::new(a, b));
    }
    Ok(web::Json(out))
}

/// Create an account.
#[utoipa::path(tag = "financial", request_body = AccountInput, responses((status = 201, description = "Created", body = Account), (status = 409, description = "Name taken", body = crate::error::Problem)))]
#[post("/v1/financial/accounts")]
#[tracing::instrument(skip_all)]
pub async fn create_account(
    ctx: Ctx,
    body: ApiJson<AccountInput>,
) -> Result<HttpResponse, ApiError> {
    let a = save(
        &ctx,
        uuid::Uuid::now_v7().to_string(),
        body.into_inner(),
        None,
    )
    .await?;
    Ok(HttpResponse::Created().json(a))
}

/// One account with its balance.
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 200, description = "Account", body = Account), (status = 404, description = "No such account", body = crate::error::Problem)))]
#[get("/v1/financial/accounts/{id}")]
#[tracing::instrument(skip_all, fields(account = %id))]
pub async fn get_account(ctx: Ctx, id: web::Path<String>) -> Result<web::Json<Account>, ApiError> {
    let a = load(&ctx, &id).await?;
    let b = accounts::balance(&ctx.db()?, &a).await?;
    Ok(web::Json(Account::new(a, b)))
}

/// Replace an account (its currency is fixed once it has transactions).
#[utoipa::path(tag = "financial", request_body = AccountInput, params(("id" = String, Path)), responses((status = 200, description = "Updated", body = Account), (status = 404, description = "No such account", body = crate::error::Problem)))]
#[put("/v1/financial/accounts/{id}")]
#[tracing::instrument(skip_all, fields(account = %id))]
pub async fn update_account(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<AccountInput>,
) -> Result<web::Json<Account>, ApiError> {
    let base = load(&ctx, &id).await?;
    Ok(web::Json(
        save(&ctx, base.id.clone(), body.into_inner(), Some(base)).await?,
    ))
}

/// Delete an account that has no transactions or imports (archive it otherwise).
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 409, description = "Has transactions", body = crate::error::Problem)))]
#[delete("/v1/financial/accounts/{id}")]
#[tracing::instrument(skip_all, fields(account = %id))]
pub async fn delete_account(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let a = load(&ctx, &id).await?;
    if !accounts::delete(&ctx.db()?, &a.id).await? {
        return Err(ApiError::Conflict(
            "the account has transactions or imports; archive it instead".to_owned(),
        ));
    }
    ctx.audit(
        ctx.who(),
        "account.delete",
        format!("account:{}", a.name),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

/// Sync the account from its bank provider now (a `sync_bank` job; SimpleFIN credentials in
/// `/v1/settings/integrations/default/simplefin`, the account's `external_ref` = its id there).
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 202, description = "Job enqueued", body = JobAccepted), (status = 404, description = "No such account", body = crate::error::Problem), (status = 422, description = "Not linked to a provider", body = crate::error::Problem)))]
#[post("/v1/financial/accounts/{id}/sync")]
#[tracing::instrument(skip_all, fields(account = %id))]
pub async fn sync_account(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let a = load(&ctx, &id).await?;
    if a.external_ref.is_none() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "external_ref",
            "the account is not linked to a provider account; set external_ref first",
        )]));
    }
    let mut spec = JobSpec::of::<SyncBank>(
        &SyncBankPayload {
            account_id: a.id.clone(),
        },
        ctx.trace_id.clone(),
    );
    // A double click within two seconds returns the first job; later requests sync again
    // (syncs are idempotent anyway: nothing already known is added twice).
    spec.idempotency_key = Some(format!("sync:{}", a.id));
    spec.idempotency_window = std::time::Duration::from_secs(2);
    let (job_id, created) = ctx.state.jobs.enqueue(&spec).await?;
    ctx.audit(
        ctx.who(),
        "account.sync.request",
        format!("account:{}", a.name),
        "accepted",
        Some(format!("job {job_id}")),
    );
    Ok(HttpResponse::Accepted().json(JobAccepted {
        job_id,
        deduplicated: !created,
    }))
}

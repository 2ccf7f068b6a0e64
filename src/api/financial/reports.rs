//! `/v1/financial/reports/*`. Sums are exact (integer
//! ten-thousandths in SQL) and stay in each transaction's currency: when currencies mix, the
//! response says so (`mixed_currencies`) and groups by currency, without FX conversion.

use super::dto;
use crate::api::ctx::Ctx;
use crate::api::query::ApiQuery;
use crate::error::{ApiError, FieldError};
use crate::finance::money::from_e4;
use crate::finance::reports::{self, Range};
use crate::finance::{accounts, categories};
use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::{IntoParams, ToSchema};

const FX_NOTE: &str =
    "amounts are in each transaction's own currency; currencies are not converted";

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// YYYY-MM-DD, inclusive.
    #[param(format = Date)]
    pub from: Option<String>,
    /// YYYY-MM-DD, inclusive.
    #[param(format = Date)]
    pub to: Option<String>,
    pub account_id: Option<String>,
    /// Rows of the top-counterparties report: 1-100, default 10 (checked everywhere).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn range(q: &ReportQuery) -> Result<Range, ApiError> {
    let mut errors = Vec::new();
    let r = checked_range(&q.from, &q.to, &q.account_id, &mut errors);
    // Only top-counterparties uses it, but every report documents it: check it everywhere.
    if q.limit.is_some_and(|l| !(1..=100).contains(&l)) {
        errors.push(FieldError::new("limit", "between 1 and 100"));
    }
    dto::done(errors)?;
    Ok(r)
}

/// The range every report (and the spending chart) takes, its field errors added to `errors`.
pub(super) fn checked_range(
    from: &Option<String>,
    to: &Option<String>,
    account_id: &Option<String>,
    errors: &mut Vec<FieldError>,
) -> Range {
    for (f, v) in [("from", from), ("to", to)] {
        if let Some(v) = v {
            dto::date(f, v, errors);
        }
    }
    Range {
        from: from.clone(),
        to: to.clone(),
        account_id: account_id.clone(),
    }
}

/// A sum in ten-thousandths, at its currency's scale (see `present::money`).
fn money(e4: i64, currency: &str) -> String {
    crate::api::present::money(from_e4(e4), currency)
}

#[derive(Serialize, ToSchema)]
pub struct SpendingRow {
    /// YYYY-MM.
    pub month: String,
    pub category_id: Option<String>,
    /// `null` = uncategorized.
    pub category: Option<String>,
    pub currency: String,
    /// Money out, as a positive decimal.
    pub spent: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct SpendingReport {
    pub currencies: Vec<String>,
    pub mixed_currencies: bool,
    pub note: Option<String>,
    pub rows: Vec<SpendingRow>,
}

/// Spending by category per month (transfers excluded).
#[utoipa::path(tag = "financial", params(ReportQuery), responses((status = 200, description = "Spending", body = SpendingReport)))]
#[get("/v1/financial/reports/spending")]
#[tracing::instrument(skip_all)]
pub async fn spending(
    ctx: Ctx,
    q: ApiQuery<ReportQuery>,
) -> Result<web::Json<SpendingReport>, ApiError> {
    let r = range(&q)?;
    let db = ctx.db()?;
    let names: BTreeMap<String, String> = categories::list(&db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let rows = reports::spending(&db, &r).await?;
    let currencies: BTreeSet<String> = rows.iter().map(|r| r.2.clone()).collect();
    let mixed = currencies.len() > 1;
    Ok(web::Json(SpendingReport {
        mixed_currencies: mixed,
        note: mixed.then(|| FX_NOTE.to_owned()),
        currencies: currencies.into_iter().collect(),
        rows: rows
            .into_iter()
            .map(|(month, category_id, currency, sum, count)| SpendingRow {
                category: category_id.as_ref().and_then(|c| names.get(c).cloned()),
                month,
                category_id,
                spent: money(-sum, &currency),
                currency,
                count,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CashflowRow {
    pub month: String,
    pub currency: String,
    pub income: String,
    /// Money out, as a positive decimal.
    pub expense: String,
    pub net: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CashflowReport {
    pub currencies: Vec<String>,
    pub mixed_currencies: bool,
    pub note: Option<String>,
    pub rows: Vec<CashflowRow>,
}

/// Income vs expense per month (transfers excluded).
#[utoipa::path(tag = "financial", params(ReportQuery), responses((status = 200, description = "Cash flow", body = CashflowReport)))]
#[get("/v1/financial/reports/cashflow")]
#[tracing::instrument(skip_all)]
pub async fn cashflow(
    ctx: Ctx,
    q: ApiQuery<ReportQuery>,
) -> Result<web::Json<CashflowReport>, ApiError> {
    let r = range(&q)?;
    let rows = reports::cashflow(&ctx.db()?, &r).await?;
    let currencies: BTreeSet<String> = rows.iter().map(|r| r.1.clone()).collect();
    let mixed = currencies.len() > 1;
    Ok(web::Json(CashflowReport {
        mixed_currencies: mixed,
        note: mixed.then(|| FX_NOTE.to_owned()),
        currencies: currencies.into_iter().collect(),
        rows: rows
            .into_iter()
            .map(|(month, currency, income, expense, count)| CashflowRow {
                month,
                income: money(income, &currency),
                expense: money(-expense, &currency),
                net: money(income + expense, &currency),
                currency,
                count,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BalancePoint {
    /// YYYY-MM: the balance at the end of that month (months without movement omitted).
    pub month: String,
    pub balance: String,
}

#[derive(Serialize, ToSchema)]
pub struct BalanceReport {
    pub account_id: String,
    pub currency: String,
    /// Balance just before `from` (the opening balance without `from`).
    pub starting_balance: String,
    pub points: Vec<BalancePoint>,
}

/// An account's balance at the end of each month (booked transactions).
#[utoipa::path(tag = "financial", params(ReportQuery), responses((status = 200, description = "Balance over time", body = BalanceReport), (status = 422, description = "account_id missing", body = crate::error::Problem)))]
#[get("/v1/financial/reports/balance")]
#[tracing::instrument(skip_all)]
pub async fn balance(
    ctx: Ctx,
    q: ApiQuery<ReportQuery>,
) -> Result<web::Json<BalanceReport>, ApiError> {
    let r = range(&q)?;
    let Some(account_id) = &r.account_id else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "account_id",
            "required",
        )]));
    };
    let db = ctx.db()?;
    let account = accounts::get(&db, account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account {account_id}")))?;
    let (before, months) = reports::monthly_movement(&db, &account.id, &r).await?;
    let mut running = account.opening_e4 + before;
    let start = running;
    let points = months
        .into_iter()
        .map(|(month, sum)| {
            running += sum;
            BalancePoint {
                month,
                balance: money(running, &account.currency),
            }
        })
        .collect();
    Ok(web::Json(BalanceReport {
        account_id: account.id,
        starting_balance: money(start, &account.currency),
        currency: account.currency,
        points,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CounterpartyRow {
    /// The counterparty, or the description when none is known.
    pub counterparty: String,
    pub currency: String,
    pub count: i64,
    /// Money out, as a positive decimal.
    pub spent: String,
}

#[derive(Serialize, ToSchema)]
pub struct CounterpartyReport {
    pub mixed_currencies: bool,
    pub note: Option<String>,
    pub rows: Vec<CounterpartyRow>,
}

/// Where the money goes: counterparties by amount spent.
#[utoipa::path(tag = "financial", params(ReportQuery), responses((status = 200, description = "Top counterparties", body = CounterpartyReport)))]
#[get("/v1/financial/reports/top-counterparties")]
#[tracing::instrument(skip_all)]
pub async fn top_counterparties(
    ctx: Ctx,
    q: ApiQuery<ReportQuery>,
) -> Result<web::Json<CounterpartyReport>, ApiError> {
    let r = range(&q)?;
    let limit = q.limit.unwrap_or(10);
    let rows = reports::top_counterparties(&ctx.db()?, &r, i64::from(limit)).await?;
    let mixed = rows.iter().map(|r| &r.1).collect::<BTreeSet<_>>().len() > 1;
    Ok(web::Json(CounterpartyReport {
        mixed_currencies: mixed,
        note: mixed.then(|| FX_NOTE.to_owned()),
        rows: rows
            .into_iter()
            .map(|(counterparty, currency, count, sum)| CounterpartyRow {
                counterparty,
                spent: money(-sum, &currency),
                currency,
                count,
            })
            .collect(),
    }))
}

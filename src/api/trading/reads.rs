//! Read-only trading views: connectors and balances, a strategy's orders, PnL overall.

use super::dto::{self, Balance, Connector, Order, PnlReport, StrategyPnl};
use crate::api::ctx::Ctx;
use crate::api::query::ApiQuery;
use crate::error::ApiError;
use crate::trading::reconcile::Reconciler;
use crate::trading::store::{order_rows, position_rows};
use crate::trading::strategies;
use actix_web::{get, web};
use actors::trading::types::split_symbol;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::IntoParams;

/// The venues strategies can use.
#[utoipa::path(tag = "trading", responses((status = 200, description = "Connectors", body = [Connector])))]
#[get("/v1/trading/connectors")]
pub async fn list_connectors(ctx: Ctx) -> web::Json<Vec<Connector>> {
    web::Json(
        ctx.state
            .trading
            .venues
            .values()
            .map(|v| Connector {
                name: v.name().to_owned(),
                live: v.is_live(),
                mode: v.mode().to_owned(),
                maker_fee: v.fees().maker.to_string(),
                taker_fee: v.fees().taker.to_string(),
            })
            .collect(),
    )
}

/// Balances on a venue: free, locked by open orders, and their total; on real venues also
/// reconciled against what our fills imply (README "Trading").
#[utoipa::path(tag = "trading", params(("name" = String, Path)), responses((status = 200, description = "Balances", body = [Balance]), (status = 404, description = "No such connector", body = crate::error::Problem), (status = 503, description = "Venue unavailable", body = crate::error::Problem)))]
#[get("/v1/trading/connectors/{name}/balances")]
#[tracing::instrument(skip_all, fields(venue = %name))]
pub async fn connector_balances(
    ctx: Ctx,
    name: web::Path<String>,
) -> Result<web::Json<Vec<Balance>>, ApiError> {
    let venue = ctx
        .state
        .trading
        .venues
        .get(name.as_str())
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no connector `{name}`")))?;
    let asked_at = chrono::Utc::now().timestamp_millis();
    let balances = venue
        .balance_sheet()
        .await
        .map_err(|e| ApiError::Unavailable(format!("venue `{name}`: {e}")))?;
    // Reconciled on demand too (real venues): the answer shows the check it just ran, or
    // the last one when this one could not run.
    let reconciler = &ctx.state.trading.reconciler;
    let check = if Reconciler::applies_to(venue.as_ref()) {
        match reconciler.check(name.as_str(), &balances, asked_at).await {
            Ok(check) => Some(check),
            Err(e) => {
                tracing::warn!(error = %e, "balances not reconciled");
                reconciler.last(name.as_str())
            }
        }
    } else {
        None
    };
    let at = check.as_ref().and_then(|c| {
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(c.at_ms).map(|t| t.to_rfc3339())
    });
    let mut rows: BTreeMap<String, Balance> = balances
        .into_iter()
        .map(|(asset, b)| {
            let row = Balance {
                asset: asset.clone(),
                free: b.free.normalize().to_string(),
                locked: b.locked.normalize().to_string(),
                total: b.total().normalize().to_string(),
                expected: None,
                drift: None,
                within_tolerance: None,
                reconciled_at: None,
            };
            (asset, row)
        })
        .collect();
    for (asset, c) in check.iter().flat_map(|c| &c.assets) {
        // An asset we expect but the venue no longer lists still gets a row (holding 0).
        let row = rows.entry(asset.clone()).or_insert_with(|| Balance {
            asset: asset.clone(),
            free: "0".to_owned(),
            locked: "0".to_owned(),
            total: "0".to_owned(),
            expected: None,
            drift: None,
            within_tolerance: None,
            reconciled_at: None,
        });
        row.expected = Some(c.expected.to_string());
        row.drift = Some(c.drift.to_string());
        row.within_tolerance = Some(c.within_tolerance);
        row.reconciled_at.clone_from(&at);
    }
    Ok(web::Json(rows.into_values().collect()))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    /// 1-1000, default 100. Newest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A strategy's orders, newest first.
#[utoipa::path(tag = "trading", params(("id" = String, Path), OrdersQuery), responses((status = 200, description = "Orders", body = [Order]), (status = 404, description = "No such strategy", body = crate::error::Problem)))]
#[get("/v1/trading/strategies/{id}/orders")]
#[tracing::instrument(skip_all, fields(strategy = %id))]
pub async fn list_orders(
    ctx: Ctx,
    id: web::Path<String>,
    query: ApiQuery<OrdersQuery>,
) -> Result<web::Json<Vec<Order>>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Validation(vec![crate::error::FieldError::new(
            "limit",
            "between 1 and 1000",
        )]));
    }
    let row = super::strategies::load(&ctx, &id).await?;
    let rows = order_rows(&ctx.db()?, &row.id, i64::from(limit)).await?;
    Ok(web::Json(rows.into_iter().map(Order::from).collect()))
}

/// PnL per strategy and in total (per quote currency; no FX conversion).
#[utoipa::path(tag = "trading", responses((status = 200, description = "PnL", body = PnlReport)))]
#[get("/v1/trading/pnl")]
#[tracing::instrument(skip_all)]
pub async fn pnl(ctx: Ctx) -> Result<web::Json<PnlReport>, ApiError> {
    let db = ctx.db()?;
    Ok(web::Json(pnl_report(&db, &ctx.state.trading.venues).await?))
}

/// PnL per strategy and per quote currency (REST and Telegram).
pub async fn pnl_report(
    db: &crate::db::Db,
    venues: &crate::trading::Venues,
) -> Result<PnlReport, ApiError> {
    let db = db.clone();
    let mut report = PnlReport {
        strategies: Vec::new(),
        totals: BTreeMap::new(),
    };
    let mut sums: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for s in strategies::list(&db).await? {
        let (mut realised, mut unrealised) = (Decimal::ZERO, Decimal::ZERO);
        let mut currency = String::new();
        for p in position_rows(&db, &s.id).await? {
            let fee = venues
                .get(&p.venue)
                .map_or(Decimal::ZERO, |v| v.fees().taker);
            let (_, r, u) = dto::position_dto(&p, fee);
            realised += r;
            unrealised += u;
            if let Some((_, quote)) = split_symbol(&p.symbol) {
                quote.clone_into(&mut currency);
            }
        }
        if currency.is_empty() {
            let symbols: Vec<String> = serde_json::from_str(&s.symbols).unwrap_or_default();
            currency = symbols
                .first()
                .and_then(|sym| split_symbol(sym))
                .map(|(_, q)| q.to_owned())
                .unwrap_or_default();
        }
        let sum = sums.entry(currency.clone()).or_default();
        sum.0 += realised;
        sum.1 += unrealised;
        report.strategies.push(StrategyPnl {
            strategy_id: s.id.clone(),
            name: s.name.clone(),
            state: s.state.clone(),
            currency,
            pnl: dto::pnl(realised, unrealised),
        });
    }
    report.totals = sums
        .into_iter()
        .map(|(c, (r, u))| (c, dto::pnl(r, u)))
        .collect();
    Ok(report)
}

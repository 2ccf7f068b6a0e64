//! `/v1/trading/strategies`: create, read, replace and delete strategies.

use super::dto::{self, StrategyDetail, StrategyInput};
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::error::{ApiError, FieldError};
use crate::trading::store::{StrategyRow, open_order_count, position_rows};
use crate::trading::strategies;
use actix_web::{HttpResponse, delete, get, post, put, web};
use actors::trading::strategy;
use actors::trading::types::split_symbol;
use rust_decimal::Decimal;

/// Validates the input against the kind's parameters and the known venues.
fn validate(ctx: &Ctx, i: &StrategyInput) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let t = &ctx.state.trading;
    if !(1..=64).contains(&i.name.len())
        || !i
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        errors.push(FieldError::new(
            "name",
            "1-64 characters: letters, digits, `.`, `_`, `-`",
        ));
    }
    if !t.venues.contains_key(&i.connector) {
        errors.push(FieldError::new(
            "connector",
            format!(
                "unknown connector; available: {}",
                t.venues.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if i.symbols.is_empty() || i.symbols.len() > 20 {
        errors.push(FieldError::new(
            "symbols",
            "1 to 20 symbols such as `BTC-USDT`",
        ));
    }
    for (n, s) in i.symbols.iter().enumerate() {
        if split_symbol(s).is_none() {
            errors.push(FieldError::new(
                format!("symbols[{n}]"),
                "must be `BASE-QUOTE`, e.g. `BTC-USDT`",
            ));
        }
    }
    // `paper`: no real money (a paper venue, or a real venue's sandbox); `live`: a venue that
    // an admin switched to live. The strategy's mode must say so explicitly.
    let venue = t.venues.get(&i.connector);
    match i.mode.as_str() {
        "paper" => {
            if venue.is_some_and(|v| v.is_live()) {
                errors.push(FieldError::new(
                    "mode",
                    format!(
                        "connector `{}` is live (real money): a strategy on it needs `mode: live`",
                        i.connector
                    ),
                ));
            }
        }
        "live" => {
            if let Some(v) = venue.filter(|v| !v.is_live()) {
                errors.push(FieldError::new(
                    "mode",
                    format!(
                        "connector `{}` is {}, not live: an admin switches it at /v1/settings/integrations first",
                        i.connector,
                        v.mode()
                    ),
                ));
            }
        }
        _ => errors.push(FieldError::new("mode", "`paper` or `live`")),
    }
    if i.tick_interval_ms < t.min_tick_interval_ms || i.tick_interval_ms > 86_400_000 {
        errors.push(FieldError::new(
            "tick_interval_ms",
            format!("between {} and 86400000", t.min_tick_interval_ms),
        ));
    }
    let r = &i.risk;
    dto::decimal(
        "risk.max_order_notional",
        &r.max_order_notional,
        &mut errors,
    );
    dto::decimal("risk.max_open_position", &r.max_open_position, &mut errors);
    dto::decimal("risk.daily_loss_limit", &r.daily_loss_limit, &mut errors);
    if !(1..=10_000).contains(&r.max_orders_per_minute) {
        errors.push(FieldError::new(
            "risk.max_orders_per_minute",
            "between 1 and 10000",
        ));
    }
    if strategy::KINDS.contains(&i.kind.as_str()) {
        if let Err(param_errors) = strategy::build(&i.kind, &i.params, &i.connector, &i.symbols) {
            errors.extend(
                param_errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.message)),
            );
        }
        for venue in strategy::extra_venues(&i.kind, &i.params) {
            if !t.venues.contains_key(&venue) {
                errors.push(FieldError::new(
                    "params.other_connector",
                    format!("unknown connector `{venue}`"),
                ));
            }
        }
    } else {
        errors.push(FieldError::new(
            "kind",
            format!("one of: {}", strategy::KINDS.join(", ")),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The row for `input`, normalising decimals (validated before).
fn row(id: String, i: StrategyInput, base: Option<&StrategyRow>) -> StrategyRow {
    let now = chrono::Utc::now().timestamp_millis();
    let norm = |s: &str| {
        s.trim()
            .parse::<Decimal>()
            .map(|d| d.normalize().to_string())
            .unwrap_or_default()
    };
    StrategyRow {
        id,
        name: i.name,
        kind: i.kind,
        params: i.params.to_string(),
        connector: i.connector,
        symbols: serde_json::to_string(&i.symbols).unwrap_or_else(|_| "[]".to_owned()),
        mode: i.mode,
        tick_interval_ms: i64::try_from(i.tick_interval_ms).unwrap_or(i64::MAX),
        max_order_notional: norm(&i.risk.max_order_notional),
        max_open_position: norm(&i.risk.max_open_position),
        max_orders_per_minute: i64::from(i.risk.max_orders_per_minute),
        daily_loss_limit: norm(&i.risk.daily_loss_limit),
        state: base.map_or_else(|| "idle".to_owned(), |b| b.state.clone()),
        state_version: base.map_or(0, |b| b.state_version),
        state_since: base.map_or(now, |b| b.state_since),
        state_reason: base.and_then(|b| b.state_reason.clone()),
        last_tick_at: base.and_then(|b| b.last_tick_at),
        ticks: base.map_or(0, |b| b.ticks),
        slow_ticks: base.map_or(0, |b| b.slow_ticks),
        pnl_day: base.and_then(|b| b.pnl_day),
        pnl_day_start: base.and_then(|b| b.pnl_day_start.clone()),
        created_at: base.map_or(now, |b| b.created_at),
        updated_at: now,
    }
}

fn name_taken(e: &crate::db::DbError) -> bool {
    matches!(e, crate::db::DbError::Conflict { .. })
}

pub(super) async fn load(ctx: &Ctx, id: &str) -> Result<StrategyRow, ApiError> {
    strategies::get(&ctx.db()?, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no strategy {id}")))
}

/// List strategies.
#[utoipa::path(tag = "trading", responses((status = 200, description = "Strategies", body = [dto::Strategy])))]
#[get("/v1/trading/strategies")]
#[tracing::instrument(skip_all)]
pub async fn list_strategies(ctx: Ctx) -> Result<web::Json<Vec<dto::Strategy>>, ApiError> {
    let rows = strategies::list(&ctx.db()?).await?;
    Ok(web::Json(rows.iter().map(dto::Strategy::from).collect()))
}

/// Create a strategy (state `idle`; deploy it with `POST /v1/trading/deploy`).
#[utoipa::path(tag = "trading", request_body = StrategyInput, responses((status = 201, description = "Created", body = dto::Strategy), (status = 409, description = "Name taken", body = crate::error::Problem)))]
#[post("/v1/trading/strategies")]
#[tracing::instrument(skip_all)]
pub async fn create_strategy(
    ctx: Ctx,
    body: ApiJson<StrategyInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    validate(&ctx, &input)?;
    let row = row(uuid::Uuid::now_v7().to_string(), input, None);
    match strategies::insert(&ctx.db()?, &row).await {
        Err(e) if name_taken(&e) => {
            return Err(ApiError::Conflict(format!(
                "a strategy named `{}` exists",
                row.name
            )));
        }
        other => other?,
    }
    ctx.audit(
        ctx.who(),
        "strategy.create",
        format!("strategy:{}", row.name),
        "success",
        Some(format!("{} on {}", row.kind, row.connector)),
    );
    Ok(HttpResponse::Created().json(dto::Strategy::from(&row)))
}

/// A strategy with its state, since when, last tick, positions and PnL.
#[utoipa::path(tag = "trading", params(("id" = String, Path)), responses((status = 200, description = "The strategy", body = StrategyDetail), (status = 404, description = "No such strategy", body = crate::error::Problem)))]
#[get("/v1/trading/strategies/{id}")]
#[tracing::instrument(skip_all, fields(strategy = %id))]
pub async fn get_strategy(
    ctx: Ctx,
    id: web::Path<String>,
) -> Result<web::Json<StrategyDetail>, ApiError> {
    let row = load(&ctx, &id).await?;
    let db = ctx.db()?;
    let venues = &ctx.state.trading.venues;
    let (mut realised, mut unrealised) = (Decimal::ZERO, Decimal::ZERO);
    let mut positions = Vec::new();
    for p in position_rows(&db, &row.id).await? {
        let fee = venues
            .get(&p.venue)
            .map_or(Decimal::ZERO, |v| v.fees().taker);
        let (dto, r, u) = dto::position_dto(&p, fee);
        realised += r;
        unrealised += u;
        positions.push(dto);
    }
    let open_orders = open_order_count(&db, &row.id).await?;
    let transitions = strategies::transitions(&db, &row.id, 20)
        .await?
        .into_iter()
        .map(dto::Transition::from)
        .collect();
    Ok(web::Json(StrategyDetail {
        strategy: dto::Strategy::from(&row),
        positions,
        pnl: dto::pnl(realised, unrealised),
        open_orders,
        transitions,
    }))
}

/// Replace a strategy's configuration (only while it is not live or paused).
#[utoipa::path(tag = "trading", request_body = StrategyInput, params(("id" = String, Path)), responses((status = 200, description = "Updated", body = dto::Strategy), (status = 404, description = "No such strategy", body = crate::error::Problem), (status = 409, description = "Running, or name taken", body = crate::error::Problem)))]
#[put("/v1/trading/strategies/{id}")]
#[tracing::instrument(skip_all, fields(strategy = %id))]
pub async fn update_strategy(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<StrategyInput>,
) -> Result<web::Json<dto::Strategy>, ApiError> {
    let existing = load(&ctx, &id).await?;
    if existing
        .state()
        .map_err(|e| ApiError::Internal(e.into()))?
        .is_running()
    {
        return Err(ApiError::Conflict(format!(
            "the strategy is {}; stop it before changing its configuration",
            existing.state
        )));
    }
    let input = body.into_inner();
    validate(&ctx, &input)?;
    let row = row(existing.id.clone(), input, Some(&existing));
    match strategies::update_config(&ctx.db()?, &row).await {
        Err(e) if name_taken(&e) => {
            return Err(ApiError::Conflict(format!(
                "a strategy named `{}` exists",
                row.name
            )));
        }
        Ok(false) => {
            return Err(ApiError::Conflict(
                "the strategy changed state meanwhile; reload and retry".to_owned(),
            ));
        }
        other => {
            other?;
        }
    }
    ctx.audit(
        ctx.who(),
        "strategy.update",
        format!("strategy:{}", row.name),
        "success",
        None,
    );
    Ok(web::Json(dto::Strategy::from(&row)))
}

/// Delete a strategy that is not running. Its orders, fills and history stay.
#[utoipa::path(tag = "trading", params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such strategy", body = crate::error::Problem), (status = 409, description = "Running", body = crate::error::Problem)))]
#[delete("/v1/trading/strategies/{id}")]
#[tracing::instrument(skip_all, fields(strategy = %id))]
pub async fn delete_strategy(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let existing = load(&ctx, &id).await?;
    if !strategies::delete(&ctx.db()?, &existing.id).await? {
        return Err(ApiError::Conflict(format!(
            "the strategy is {}; stop it first",
            existing.state
        )));
    }
    ctx.audit(
        ctx.who(),
        "strategy.delete",
        format!("strategy:{}", existing.name),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

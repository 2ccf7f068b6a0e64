//! `/v1/financial/rules`: categorization rules, with a dry run.

use super::dto::{self, Transaction};
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::api::present::time;
use crate::error::{ApiError, FieldError};
use crate::finance::categories;
use crate::finance::money::from_e4;
use crate::finance::rules::{self, RuleRow};
use crate::finance::transactions::{self, Filter, Sort};
use actix_web::{HttpResponse, delete, get, post, put, web};
use actors::finance::categorize::{Condition, Rule, RuleActions, RuleSet, TxView};
use actors::finance::categorizer::ReloadRules;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Supermarkets", "position": 10, "match_all": false,
    "conditions": [{"type": "description_contains", "value": "mercadona"}, {"type": "counterparty_regex", "pattern": "^(lidl|aldi)"}],
    "actions": {"set_category": "<groceries category id>"}, "stop_processing": true
}))]
pub struct RuleInput {
    pub name: String,
    /// Lower runs first (ties by id). Default 100.
    #[serde(default = "hundred")]
    pub position: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `true` (default): every condition must hold; `false`: any one.
    #[serde(default = "yes")]
    pub match_all: bool,
    /// `description_contains {value}`, `description_regex {pattern}`, `counterparty_contains`,
    /// `counterparty_regex`, `amount_range {min, max}` (absolute amount), `account {account_id}`,
    /// `direction {direction: debit|credit}`. Text matching ignores case.
    #[serde(deserialize_with = "objects")]
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<Condition>,
    /// `set_category` (a category id), `set_counterparty`, `set_notes`.
    #[serde(deserialize_with = "object")]
    #[schema(value_type = Object)]
    pub actions: RuleActions,
    /// Stop evaluating later rules when this one matches.
    #[serde(default)]
    pub stop_processing: bool,
}

fn hundred() -> i64 {
    100
}

/// serde would also read a struct or a tagged enum from a JSON array (positional fields);
/// the spec says object, so anything else is refused (`[null, null]` was accepted).
fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    if !v.is_object() {
        return Err(serde::de::Error::custom("must be a JSON object"));
    }
    serde_json::from_value(v).map_err(serde::de::Error::custom)
}

fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let items = Vec::<serde_json::Value>::deserialize(d)?;
    items
        .into_iter()
        .map(|v| {
            if v.is_object() {
                serde_json::from_value(v).map_err(serde::de::Error::custom)
            } else {
                Err(serde::de::Error::custom(
                    "each condition must be a JSON object",
                ))
            }
        })
        .collect()
}
fn yes() -> bool {
    true
}

/// A stored rule: its id, the fields of [`RuleInput`] and its timestamps (its own schema:
/// the input's forbids unknown fields, so a flattened view broke its response schema).
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub enabled: bool,
    pub match_all: bool,
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<Condition>,
    #[schema(value_type = Object)]
    pub actions: RuleActions,
    pub stop_processing: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<RuleRow> for RuleView {
    type Error = ApiError;
    fn try_from(r: RuleRow) -> Result<Self, ApiError> {
        let rule = r
            .rule()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored rule {}: {e}", r.id)))?;
        Ok(Self {
            id: r.id,
            name: rule.name,
            position: rule.position,
            enabled: rule.enabled,
            match_all: rule.match_all,
            conditions: rule.conditions,
            actions: rule.actions,
            stop_processing: rule.stop_processing,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        })
    }
}

fn to_rule(id: &str, i: &RuleInput) -> Rule {
    Rule {
        id: id.to_owned(),
        name: i.name.clone(),
        position: i.position,
        enabled: i.enabled,
        match_all: i.match_all,
        conditions: i.conditions.clone(),
        actions: i.actions.clone(),
        stop_processing: i.stop_processing,
    }
}

async fn save(
    ctx: &Ctx,
    id: String,
    i: RuleInput,
    created_at: Option<i64>,
) -> Result<RuleView, ApiError> {
    let mut errors = Vec::new();
    dto::text("name", &i.name, 100, &mut errors);
    let rule = to_rule(&id, &i);
    errors.extend(
        RuleSet::check(&rule)
            .into_iter()
            .map(|(f, m)| FieldError::new(f, m)),
    );
    let db = ctx.db()?;
    if let Some(c) = &i.actions.set_category
        && categories::get(&db, c).await?.is_none()
    {
        errors.push(FieldError::new("actions.set_category", "no such category"));
    }
    dto::done(errors)?;
    let now = chrono::Utc::now().timestamp_millis();
    let row = RuleRow {
        id,
        name: i.name.trim().to_owned(),
        position: i.position,
        enabled: i.enabled,
        match_all: i.match_all,
        conditions: serde_json::to_string(&i.conditions).map_err(anyhow::Error::from)?,
        actions: serde_json::to_string(&i.actions).map_err(anyhow::Error::from)?,
        stop_processing: i.stop_processing,
        created_at: created_at.unwrap_or(now),
        updated_at: now,
    };
    rules::upsert(&db, &row).await?;
    reload(ctx).await;
    ctx.audit(
        ctx.who(),
        "rule.save",
        format!("rule:{}", row.name),
        "success",
        None,
    );
    row.try_into()
}

async fn reload(ctx: &Ctx) {
    if let Err(e) = ctx.state.finance.categorizer.send(ReloadRules).await {
        tracing::warn!(error = %e, "categorizer did not reload rules; it will at its next start");
    }
}

/// Categorization rules in evaluation order.
#[utoipa::path(tag = "financial", responses((status = 200, description = "Rules", body = [RuleView])))]
#[get("/v1/financial/rules")]
pub async fn list_rules(ctx: Ctx) -> Result<web::Json<Vec<RuleView>>, ApiError> {
    let rows = rules::list(&ctx.db()?).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(RuleView::try_from)
            .collect::<Result<_, _>>()?,
    ))
}

/// Create a rule.
#[utoipa::path(tag = "financial", request_body = RuleInput, responses((status = 201, description = "Created", body = RuleView), (status = 422, description = "Invalid", body = crate::error::Problem)))]
#[post("/v1/financial/rules")]
#[tracing::instrument(skip_all)]
pub async fn create_rule(ctx: Ctx, body: ApiJson<RuleInput>) -> Result<HttpResponse, ApiError> {
    let r = save(
        &ctx,
        uuid::Uuid::now_v7().to_string(),
        body.into_inner(),
        None,
    )
    .await?;
    Ok(HttpResponse::Created().json(r))
}

/// Replace a rule.
#[utoipa::path(tag = "financial", request_body = RuleInput, params(("id" = String, Path)), responses((status = 200, description = "Updated", body = RuleView), (status = 404, description = "No such rule", body = crate::error::Problem)))]
#[put("/v1/financial/rules/{id}")]
#[tracing::instrument(skip_all, fields(rule = %id))]
pub async fn update_rule(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<RuleInput>,
) -> Result<web::Json<RuleView>, ApiError> {
    let r = rules::get(&ctx.db()?, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no rule {id}")))?;
    Ok(web::Json(
        save(&ctx, r.id, body.into_inner(), Some(r.created_at)).await?,
    ))
}

/// Delete a rule (categories it set stay).
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such rule", body = crate::error::Problem)))]
#[delete("/v1/financial/rules/{id}")]
#[tracing::instrument(skip_all, fields(rule = %id))]
pub async fn delete_rule(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if !rules::delete(&ctx.db()?, &id).await? {
        return Err(ApiError::NotFound(format!("no rule {id}")));
    }
    reload(&ctx).await;
    ctx.audit(
        ctx.who(),
        "rule.delete",
        format!("rule:{id}"),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleTestInput {
    /// How many of the most recent transactions to try (1-5000, default 500).
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub account_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleTestResult {
    pub examined: usize,
    pub matched: usize,
    /// Matches whose category the rule would change (user-locked ones excluded: rules never
    /// touch them).
    pub would_change: usize,
    /// Matches that are user-locked (left alone).
    pub locked: usize,
    /// Up to 50 matching transactions.
    pub samples: Vec<Transaction>,
}

/// Dry run: which recent transactions this rule matches, changing nothing.
#[utoipa::path(tag = "financial", request_body = RuleTestInput, params(("id" = String, Path)), responses((status = 200, description = "What the rule would do", body = RuleTestResult), (status = 404, description = "No such rule", body = crate::error::Problem)))]
#[post("/v1/financial/rules/{id}/test")]
#[tracing::instrument(skip_all, fields(rule = %id))]
pub async fn test_rule(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<RuleTestInput>,
) -> Result<web::Json<RuleTestResult>, ApiError> {
    let input = body.into_inner();
    let db = ctx.db()?;
    let row = rules::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no rule {id}")))?;
    let rule = row.rule().map_err(anyhow::Error::from)?;
    let limit = input.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "limit",
            "between 1 and 5000",
        )]));
    }
    let filter = Filter {
        account_id: input.account_id,
        ..Filter::default()
    };
    let (rows, _) =
        transactions::list::<transactions::TxRow>(&db, &filter, Sort::DateDesc, None, limit)
            .await?;
    let mut out = RuleTestResult {
        examined: rows.len(),
        matched: 0,
        would_change: 0,
        locked: 0,
        samples: Vec::new(),
    };
    for t in rows {
        let view = TxView {
            account_id: &t.account_id,
            description: &t.description,
            counterparty: t.counterparty.as_deref(),
            amount: from_e4(t.amount_e4),
        };
        if !RuleSet::matches(&rule, &view) {
            continue;
        }
        out.matched += 1;
        let user_owned = t.category_locked || t.categorized_by.as_deref() == Some("user");
        if user_owned {
            out.locked += 1;
        } else if rule.actions.set_category.is_some() && rule.actions.set_category != t.category_id
        {
            out.would_change += 1;
        }
        if out.samples.len() < 50 {
            out.samples.push(t.into());
        }
    }
    Ok(web::Json(out))
}

//! `/v1/financial/csv-profiles`: saved CSV column mappings for imports.

use super::dto;
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::api::present::time;
use crate::error::{ApiError, FieldError};
use crate::finance::profiles;
use actix_web::{HttpResponse, delete, get, post, put, web};
use actors::finance::parse::CsvProfile;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Banco Ejemplo (CSV)",
    "profile": {"delimiter": ";", "encoding": "latin1", "decimal_separator": ",", "thousands_separator": ".",
                "date_format": "%d/%m/%Y", "skip_rows": 1,
                "columns": {"date": "Fecha", "description": "Concepto", "debit": "Cargo", "credit": "Abono"}}
}))]
pub struct ProfileInput {
    pub name: String,
    /// Column mapping and format: `delimiter`, `has_header`, `skip_rows`, `encoding`
    /// (`utf8`, `latin1`, `windows1252`), `decimal_separator`, `thousands_separator`,
    /// `date_format` (strftime), `invert_sign`, `columns` (`date`, `value_date`, `amount` or
    /// `debit`/`credit`, `description`, `counterparty`, `external_id`, `currency`; each a
    /// header name or a 0-based index).
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub id: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<profiles::ProfileRow> for Profile {
    fn from(r: profiles::ProfileRow) -> Self {
        Self {
            profile: serde_json::from_str(&r.profile).unwrap_or(serde_json::Value::Null),
            id: r.id,
            name: r.name,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}

async fn save_profile(
    ctx: &Ctx,
    id: String,
    i: ProfileInput,
    created_at: Option<i64>,
) -> Result<Profile, ApiError> {
    let mut errors = Vec::new();
    dto::text("name", &i.name, 100, &mut errors);
    match serde_json::from_value::<CsvProfile>(i.profile.clone()) {
        Ok(p) => errors.extend(
            p.validate()
                .into_iter()
                .map(|(f, m)| FieldError::new(format!("profile.{f}"), m)),
        ),
        Err(e) => errors.push(FieldError::new("profile", e.to_string())),
    }
    dto::done(errors)?;
    let now = chrono::Utc::now().timestamp_millis();
    let row = profiles::ProfileRow {
        id,
        name: i.name.trim().to_owned(),
        profile: i.profile.to_string(),
        created_at: created_at.unwrap_or(now),
        updated_at: now,
    };
    match profiles::upsert(&ctx.db()?, &row).await {
        Err(crate::db::DbError::Conflict { .. }) => {
            return Err(ApiError::Conflict(format!(
                "a profile named `{}` exists",
                row.name
            )));
        }
        other => other?,
    }
    ctx.audit(
        ctx.who(),
        "csv_profile.save",
        format!("csv_profile:{}", row.name),
        "success",
        None,
    );
    Ok(row.into())
}

/// Saved CSV column mappings.
#[utoipa::path(tag = "financial", responses((status = 200, description = "Profiles", body = [Profile])))]
#[get("/v1/financial/csv-profiles")]
pub async fn list_profiles(ctx: Ctx) -> Result<web::Json<Vec<Profile>>, ApiError> {
    Ok(web::Json(
        profiles::list(&ctx.db()?)
            .await?
            .into_iter()
            .map(Profile::from)
            .collect(),
    ))
}

/// Save a CSV column mapping.
#[utoipa::path(tag = "financial", request_body = ProfileInput, responses((status = 201, description = "Created", body = Profile), (status = 422, description = "Invalid", body = crate::error::Problem)))]
#[post("/v1/financial/csv-profiles")]
#[tracing::instrument(skip_all)]
pub async fn create_profile(
    ctx: Ctx,
    body: ApiJson<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let p = save_profile(
        &ctx,
        uuid::Uuid::now_v7().to_string(),
        body.into_inner(),
        None,
    )
    .await?;
    Ok(HttpResponse::Created().json(p))
}

/// Replace a CSV column mapping.
#[utoipa::path(tag = "financial", request_body = ProfileInput, params(("id" = String, Path)), responses((status = 200, description = "Updated", body = Profile), (status = 404, description = "No such profile", body = crate::error::Problem)))]
#[put("/v1/financial/csv-profiles/{id}")]
pub async fn update_profile(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<ProfileInput>,
) -> Result<web::Json<Profile>, ApiError> {
    let p = profiles::get(&ctx.db()?, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no CSV profile {id}")))?;
    Ok(web::Json(
        save_profile(&ctx, p.id, body.into_inner(), Some(p.created_at)).await?,
    ))
}

/// Delete a CSV column mapping.
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such profile", body = crate::error::Problem)))]
#[delete("/v1/financial/csv-profiles/{id}")]
pub async fn delete_profile(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if !profiles::delete(&ctx.db()?, &id).await? {
        return Err(ApiError::NotFound(format!("no CSV profile {id}")));
    }
    ctx.audit(
        ctx.who(),
        "csv_profile.delete",
        format!("csv_profile:{id}"),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

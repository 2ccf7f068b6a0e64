//! `/v1/users` and `/v1/api-keys`: administration of credentials.

use super::ctx::Ctx;
use super::json::ApiJson;
use crate::auth::Role;
use crate::auth::service::API_KEY_PREFIX;
use crate::auth::tokens::{digest, random_secret, short_id};
use crate::db::{api_keys, users};
use crate::error::{ApiError, FieldError};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<users::UserRow> for User {
    fn from(r: users::UserRow) -> Self {
        Self {
            role: Role::parse(&r.role).unwrap_or(Role::Viewer),
            id: r.id,
            username: r.username,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 3–64 characters: letters, digits, `.`, `_`, `-`.
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
    pub role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    #[schema(format = Password)]
    pub password: Option<String>,
}

pub fn validate_username(u: &str) -> Option<FieldError> {
    let ok = (3..=64).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    (!ok).then(|| {
        FieldError::new(
            "username",
            "3-64 characters: letters, digits, `.`, `_`, `-`",
        )
    })
}

pub fn validate_password(p: &str, min: usize) -> Option<FieldError> {
    (p.chars().count() < min || p.len() > 1024)
        .then(|| FieldError::new("password", format!("must be {min} to 1024 characters")))
}

/// Create a user.
#[utoipa::path(tag = "admin", request_body = CreateUser, responses(
    (status = 201, description = "Created", body = User),
    (status = 409, description = "Username taken"),
))]
#[post("/v1/users")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn create_user(ctx: Ctx, body: ApiJson<CreateUser>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let errors: Vec<_> = [
        validate_username(&body.username),
        validate_password(&body.password, ctx.state.auth.settings.min_password_length),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let db = ctx.db()?;
    let hash = ctx
        .state
        .auth
        .passwords
        .hash(SecretString::from(body.password))
        .await?;
    let row = match users::insert(&db, &body.username, &hash, body.role.as_str()).await {
        Err(crate::db::DbError::Conflict { .. }) => {
            return Err(ApiError::Conflict(format!(
                "username `{}` is taken",
                body.username
            )));
        }
        other => other?,
    };
    ctx.audit(
        ctx.who(),
        "user.create",
        format!("user:{}", row.username),
        "success",
        Some(format!("role {}", row.role)),
    );
    Ok(HttpResponse::Created().json(User::from(row)))
}

/// List users.
#[utoipa::path(tag = "admin", responses((status = 200, description = "Users", body = [User])))]
#[get("/v1/users")]
pub async fn list_users(ctx: Ctx) -> Result<web::Json<Vec<User>>, ApiError> {
    let db = ctx.db()?;
    Ok(web::Json(
        users::list(&db)
            .await?
            .into_iter()
            .map(User::from)
            .collect(),
    ))
}

/// Change a user's role, disable/enable it, or set a new password. Disabling or a new
/// password ends the user's sessions.
#[utoipa::path(tag = "admin", request_body = UpdateUser, params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "Updated", body = User), (status = 404, description = "No such user")))]
#[patch("/v1/users/{id}")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn update_user(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<UpdateUser>,
) -> Result<web::Json<User>, ApiError> {
    let body = body.into_inner();
    if let Some(e) = body
        .password
        .as_deref()
        .and_then(|p| validate_password(p, ctx.state.auth.settings.min_password_length))
    {
        return Err(ApiError::Validation(vec![e]));
    }
    let db = ctx.db()?;
    let hash = match body.password {
        Some(p) => Some(ctx.state.auth.passwords.hash(SecretString::from(p)).await?),
        None => None,
    };
    let Some(before) = users::by_id(&db, &id).await? else {
        return Err(ApiError::NotFound(format!("no user {id}")));
    };
    let demotes_admin = before.role == "admin"
        && (body.role.is_some_and(|r| r != Role::Admin) || body.disabled == Some(true));
    if demotes_admin && users::count_admins(&db).await? <= 1 {
        return Err(ApiError::Conflict(
            "this is the last enabled admin".to_owned(),
        ));
    }
    let row = users::update(
        &db,
        &id,
        body.role.map(Role::as_str),
        body.disabled,
        hash.as_deref(),
    )
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    // Disabled or a new password: every session ends, access tokens included, at once.
    ctx.state
        .auth
        .user_changed(&db, &row.id, body.disabled == Some(true) || hash.is_some())
        .await?;
    ctx.audit(
        ctx.who(),
        "user.update",
        format!("user:{}", row.username),
        "success",
        None,
    );
    Ok(web::Json(User::from(row)))
}

#[derive(Serialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// First characters of the key, enough to recognise it (`ais_k3x9abcd`).
    pub prefix: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key was last accepted, to within a minute (recorded in the background, so a
    /// use in the minute before a restart may be missing); null if never used.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<api_keys::ApiKeyRow> for ApiKey {
    fn from(r: api_keys::ApiKeyRow) -> Self {
        Self {
            role: Role::parse(&r.role).unwrap_or(Role::Viewer),
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret. Shown only in this response; store it now.
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for, e.g. `home-assistant`.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub role: Role,
    /// Days until the key stops working (1 to 3650); none = until revoked.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// Create an API key. The secret is in this response only.
#[utoipa::path(tag = "admin", request_body = CreateApiKey, responses((status = 201, description = "Created", body = CreatedApiKey)))]
#[post("/v1/api-keys")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn create_key(ctx: Ctx, body: ApiJson<CreateApiKey>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.name.trim().is_empty() || body.name.len() > 100 {
        return Err(ApiError::Validation(vec![FieldError::new(
            "name",
            "1-100 characters",
        )]));
    }
    // Bounded: a huge value overflowed the date arithmetic (the request's worker panicked and
    // dropped the connection; found by schemathesis with 2147483648).
    if body
        .expires_in_days
        .is_some_and(|d| !(1..=3650).contains(&d))
    {
        return Err(ApiError::Validation(vec![FieldError::new(
            "expires_in_days",
            "between 1 and 3650",
        )]));
    }
    let db = ctx.db()?;
    let prefix = format!("{API_KEY_PREFIX}{}", short_id());
    let secret: SecretString = {
        let tail = random_secret("");
        SecretString::from(format!("{prefix}_{}", tail.expose_secret()))
    };
    let row = api_keys::ApiKeyRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: body.name.trim().to_owned(),
        prefix,
        key_hash: digest(secret.expose_secret()),
        role: body.role.as_str().to_owned(),
        created_by: ctx.who(),
        created_at: Utc::now(),
        expires_at: body
            .expires_in_days
            .map(|d| Utc::now() + chrono::Duration::days(i64::from(d))),
        revoked_at: None,
        last_used_at: None,
    };
    api_keys::insert(&db, &row).await?;
    ctx.audit(
        ctx.who(),
        "api_key.create",
        format!("key:{}", row.prefix),
        "success",
        Some(format!("role {}", row.role)),
    );
    Ok(HttpResponse::Created().json(CreatedApiKey {
        key: row.into(),
        secret: secret.expose_secret().to_owned(),
    }))
}

/// List API keys (never their secrets).
#[utoipa::path(tag = "admin", responses((status = 200, description = "Keys", body = [ApiKey])))]
#[get("/v1/api-keys")]
pub async fn list_keys(ctx: Ctx) -> Result<web::Json<Vec<ApiKey>>, ApiError> {
    let db = ctx.db()?;
    Ok(web::Json(
        api_keys::list(&db)
            .await?
            .into_iter()
            .map(ApiKey::from)
            .collect(),
    ))
}

/// Revoke an API key. It stops working at once.
#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "Revoked", body = ApiKey), (status = 404, description = "No such key")))]
#[delete("/v1/api-keys/{id}")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn revoke_key(ctx: Ctx, id: web::Path<String>) -> Result<web::Json<ApiKey>, ApiError> {
    let db = ctx.db()?;
    let row = api_keys::revoke(&db, &ctx.state.read_model, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no API key {id}")))?;
    ctx.audit(
        ctx.who(),
        "api_key.revoke",
        format!("key:{}", row.prefix),
        "success",
        None,
    );
    Ok(web::Json(row.into()))
}

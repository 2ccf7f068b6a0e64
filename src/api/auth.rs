//! `/v1/auth`: login, refresh, logout, me.

use super::ctx::Ctx;
use super::json::ApiJson;
use crate::auth::password::PasswordError;
use crate::auth::service::Session;
use crate::auth::{AuthError, AuthFailure, Role, Subject};
use crate::error::{ApiError, FieldError};
use actix_web::{HttpResponse, get, post, web};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(min_length = 1)]
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// OAuth2-style token response.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    /// `user` or `api_key`.
    pub kind: String,
    pub id: String,
    /// Username, or the API key's prefix.
    pub name: String,
    pub role: Role,
}

/// How auth's errors answer over HTTP (the only place that decides it).
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Refused(why) => Self::Unauthorized(why.to_string()),
            AuthError::BadCredential(why) => Self::Unauthorized(why.to_owned()),
            AuthError::NoDatabase => {
                Self::Unavailable("the database is not reachable yet".to_owned())
            }
            AuthError::Password(e) => e.into(),
            AuthError::Db(e) => e.into(),
            e @ AuthError::Signing(_) => Self::Internal(anyhow::Error::new(e)),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy { retry_after_secs } => Self::Overloaded {
                detail: "too many password checks in progress; retry shortly".to_owned(),
                retry_after_secs,
            },
            PasswordError::Hashing(_) => {
                Self::Internal(anyhow::Error::new(e).context("password hashing"))
            }
        }
    }
}

/// The audit outcome of a refused login or refresh (the answer itself is the error's).
fn refused(ctx: &Ctx, action: &str, target: String, why: AuthFailure) -> ApiError {
    ctx.audit(
        "anonymous".to_owned(),
        action,
        target,
        "failure",
        Some(why.to_string()),
    );
    AuthError::Refused(why).into()
}

fn tokens(s: Session) -> TokenResponse {
    TokenResponse {
        access_token: s.access_token,
        refresh_token: s.refresh_token.expose_secret().to_owned(),
        token_type: "Bearer".to_owned(),
        expires_in: s.expires_in,
    }
}

/// Log in with username and password.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, description = "Tokens", body = TokenResponse),
    (status = 401, description = "Wrong username or password, or account disabled"),
    (status = 429, description = "Too many attempts; see Retry-After"),
    (status = 503, description = "Every password-hashing slot is busy (`overloaded`); see Retry-After"),
))]
#[post("/v1/auth/login")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn login(
    ctx: Ctx,
    body: ApiJson<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let body = body.into_inner();
    if body.username.trim().is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "username",
            "must not be empty",
        )]));
    }
    let db = ctx.db()?;
    let target = format!("user:{}", body.username);
    let session = match ctx
        .state
        .auth
        .login(&db, &body.username, SecretString::from(body.password))
        .await
    {
        Ok(session) => session,
        Err(AuthError::Refused(why)) => return Err(refused(&ctx, "auth.login", target, why)),
        Err(e) => return Err(e.into()),
    };
    ctx.audit(
        format!("user:{}", session.user.username),
        "auth.login",
        target,
        "success",
        None,
    );
    Ok(web::Json(tokens(session)))
}

/// Exchange a refresh token for new tokens. The old refresh token is used up; presenting it
/// again revokes every token of that login.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, description = "New tokens", body = TokenResponse),
    (status = 401, description = "Refresh token invalid, expired, revoked or reused"),
))]
#[post("/v1/auth/refresh")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn refresh(
    ctx: Ctx,
    body: ApiJson<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let db = ctx.db()?;
    let session = match ctx.state.auth.refresh(&db, &body.0.refresh_token).await {
        Ok(session) => session,
        Err(AuthError::Refused(why)) => {
            let action = if why == AuthFailure::Reuse {
                "auth.refresh_reuse"
            } else {
                "auth.refresh"
            };
            return Err(refused(&ctx, action, "refresh_token".to_owned(), why));
        }
        Err(e) => return Err(e.into()),
    };
    let who = format!("user:{}", session.user.username);
    ctx.audit(who.clone(), "auth.refresh", who, "success", None);
    Ok(web::Json(tokens(session)))
}

/// End the session: the refresh token's and the calling access token's. Both stop working at
/// once.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses((status = 204, description = "Logged out"), (status = 403, description = "Called with an API key: keys have no session", body = crate::error::Problem)))]
#[post("/v1/auth/logout")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn logout(ctx: Ctx, body: ApiJson<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let principal = ctx.principal()?.clone();
    let Some(user_id) = principal.user_id() else {
        // A valid request this credential may not make: 403, not 400.
        return Err(ApiError::Forbidden(
            "API keys have no session to end; revoke the key instead (DELETE /v1/api-keys/{id})"
                .to_owned(),
        ));
    };
    let db = ctx.db()?;
    ctx.state
        .auth
        .logout(
            &db,
            user_id,
            principal.session.as_deref().unwrap_or_default(),
            &body.0.refresh_token,
        )
        .await?;
    ctx.audit(
        principal.label(),
        "auth.logout",
        principal.label(),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

/// Who the presented credential belongs to.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The caller", body = Me)))]
#[get("/v1/auth/me")]
pub async fn me(ctx: Ctx) -> Result<web::Json<Me>, ApiError> {
    let p = ctx.principal()?;
    let (kind, id, name) = match &p.subject {
        Subject::User { id, username } => ("user", id.clone(), username.clone()),
        Subject::ApiKey { id, prefix } => ("api_key", id.clone(), prefix.clone()),
    };
    Ok(web::Json(Me {
        kind: kind.to_owned(),
        id,
        name,
        role: p.role,
    }))
}

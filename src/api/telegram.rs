//! `/v1/telegram`: the webhook Telegram calls, link codes and links (a Telegram *user* bound
//! to one of our users), and notification preferences.

use super::ctx::Ctx;
use super::json::ApiJson;
use crate::error::{ApiError, FieldError};
use crate::telegram::prefs::{Level, NotificationKind};
use crate::telegram::store;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// Link codes are valid this long, once.
const CODE_TTL_MINUTES: i64 = 10;

#[derive(Serialize, ToSchema)]
pub struct LinkCode {
    /// Send `/link CODE` to the bot within 10 minutes; it works once.
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct TelegramLink {
    pub telegram_user_id: i64,
    pub telegram_username: Option<String>,
    pub user_id: String,
    pub username: String,
    pub role: String,
    pub linked_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Preference {
    pub kind: NotificationKind,
    pub level: Level,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPreferences {
    /// The kinds to change; kinds not listed keep their level.
    pub preferences: Vec<Preference>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookAck {
    pub ok: bool,
}

fn code() -> String {
    // No 0/O/1/I: it is typed on a phone.
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Telegram pushes updates here in webhook mode. The `X-Telegram-Bot-Api-Secret-Token` header
/// must equal the secret given to `setWebhook` (compared in constant time); otherwise 401,
/// audited.
#[utoipa::path(tag = "telegram", security(()), request_body = serde_json::Value,
    responses((status = 200, description = "Update accepted", body = WebhookAck), (status = 401, description = "Missing or wrong secret token", body = crate::error::Problem)))]
#[post("/v1/telegram/webhook")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn webhook(
    ctx: Ctx,
    req: HttpRequest,
    body: ApiJson<serde_json::Value>,
) -> Result<web::Json<WebhookAck>, ApiError> {
    let expected = ctx.state.telegram.webhook_secret.as_bytes();
    let given = req
        .headers()
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(expected)) {
        ctx.audit(
            "anonymous".to_owned(),
            "telegram.webhook",
            "/v1/telegram/webhook".to_owned(),
            "refused",
            Some(
                if given.is_empty() {
                    "no secret token"
                } else {
                    "wrong secret token"
                }
                .to_owned(),
            ),
        );
        return Err(ApiError::Unauthorized(
            "missing or wrong X-Telegram-Bot-Api-Secret-Token".to_owned(),
        ));
    }
    let Some(update) = crate::adapters::telegram::parse_update(&body.0) else {
        return Err(ApiError::BadRequest("not a Telegram update".to_owned()));
    };
    let accepted = match &ctx.state.telegram.actor {
        Some(a) => a
            .send(actors::telegram::Incoming(update))
            .await
            .unwrap_or(false),
        None => false,
    };
    if !accepted {
        tracing::warn!("webhook update arrived while no bot session runs; dropped");
    }
    Ok(web::Json(WebhookAck { ok: true }))
}

/// A one-time code to link your Telegram account: send `/link CODE` to the bot within 10
/// minutes. Only for users (an API key has no person to link).
#[utoipa::path(tag = "telegram", responses((status = 201, description = "Code", body = LinkCode), (status = 403, description = "Not a user", body = crate::error::Problem)))]
#[post("/v1/telegram/link-codes")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn create_link_code(ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let user_id = ctx
        .principal()?
        .user_id()
        .ok_or_else(|| ApiError::Forbidden("link codes are for users, not API keys".to_owned()))?
        .to_owned();
    let db = ctx.db()?;
    let code = code();
    let expires_at = Utc::now() + chrono::Duration::minutes(CODE_TTL_MINUTES);
    store::insert_code(&db, &code, &user_id, expires_at).await?;
    ctx.audit(
        ctx.who(),
        "telegram.link_code.create",
        format!("user:{user_id}"),
        "success",
        None,
    );
    Ok(HttpResponse::Created().json(LinkCode { code, expires_at }))
}

fn link_view(l: store::LinkRow) -> TelegramLink {
    TelegramLink {
        telegram_user_id: l.telegram_user_id,
        telegram_username: l.telegram_username,
        user_id: l.user_id,
        username: l.username,
        role: l.role,
        linked_at: l.linked_at,
    }
}

/// Every linked Telegram user.
#[utoipa::path(tag = "telegram", responses((status = 200, description = "Links", body = [TelegramLink])))]
#[get("/v1/telegram/links")]
pub async fn list_links(ctx: Ctx) -> Result<web::Json<Vec<TelegramLink>>, ApiError> {
    let db = ctx.db()?;
    Ok(web::Json(
        store::links(&db)
            .await?
            .into_iter()
            .map(link_view)
            .collect(),
    ))
}

/// Unlink a Telegram user: admins any, users their own.
#[utoipa::path(tag = "telegram", params(("telegram_user_id" = i64, Path)),
    responses((status = 204, description = "Unlinked"), (status = 403, description = "Not yours", body = crate::error::Problem), (status = 404, description = "Not linked", body = crate::error::Problem)))]
#[delete("/v1/telegram/links/{telegram_user_id}")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn delete_link(ctx: Ctx, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tg = path.into_inner();
    let db = ctx.db()?;
    let principal = ctx.principal()?;
    let link = store::link_of(&db, tg)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Telegram user {tg} is not linked")))?;
    let is_admin = principal.role >= crate::auth::Role::Admin;
    if !is_admin && principal.user_id() != Some(link.user_id.as_str()) {
        return Err(ApiError::Forbidden(
            "you may only unlink your own Telegram account".to_owned(),
        ));
    }
    store::unlink(&db, tg).await?;
    ctx.audit(
        ctx.who(),
        "telegram.unlink",
        format!("tg:{tg}"),
        "success",
        Some(format!("was linked to user:{}", link.username)),
    );
    Ok(HttpResponse::NoContent().finish())
}

fn own_user(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.principal()?
        .user_id()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Forbidden("preferences are per user, not per API key".to_owned()))
}

/// Your notification preferences: every kind with its level.
#[utoipa::path(tag = "telegram", responses((status = 200, description = "Preferences", body = [Preference])))]
#[get("/v1/telegram/preferences")]
pub async fn get_preferences(ctx: Ctx) -> Result<web::Json<Vec<Preference>>, ApiError> {
    preferences_of(&ctx).await
}

async fn preferences_of(ctx: &Ctx) -> Result<web::Json<Vec<Preference>>, ApiError> {
    let user = own_user(ctx)?;
    let db = ctx.db()?;
    let stored = store::preferences(&db, &user).await?;
    Ok(web::Json(
        crate::telegram::prefs::effective(&stored)
            .into_iter()
            .map(|(kind, level)| Preference { kind, level })
            .collect(),
    ))
}

/// Set notification levels (`on`, `silent`: no sound, `off`) per kind.
#[utoipa::path(tag = "telegram", request_body = PutPreferences, responses((status = 200, description = "Preferences", body = [Preference])))]
#[put("/v1/telegram/preferences")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn put_preferences(
    ctx: Ctx,
    body: ApiJson<PutPreferences>,
) -> Result<web::Json<Vec<Preference>>, ApiError> {
    let user = own_user(&ctx)?;
    let body = body.into_inner();
    if body.preferences.is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "preferences",
            "at least one",
        )]));
    }
    let db = ctx.db()?;
    for p in &body.preferences {
        store::set_preference(&db, &user, p.kind.as_str(), p.level.as_str()).await?;
    }
    ctx.audit(
        ctx.who(),
        "telegram.preferences.put",
        format!("user:{user}"),
        "success",
        None,
    );
    preferences_of(&ctx).await
}

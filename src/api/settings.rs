//! `/v1/settings/integrations`: per environment and provider, a `sandbox|live` mode and named
//! secrets. Secrets are write-only through the API: responses show `set` and the last 4.

use super::ctx::Ctx;
use super::json::ApiJson;
use crate::db::integrations::{self, SecretRow, SecretWrite, SettingRow};
use crate::error::{ApiError, FieldError};
use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Mode {
    /// Paper trading, test banks, sandbox APIs.
    Sandbox,
    /// Real money.
    Live,
}

impl Mode {
    fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Serialize, ToSchema)]
pub struct SecretView {
    pub set: bool,
    /// Last 4 characters, only for secrets of 12+ characters.
    pub last4: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationSetting {
    pub environment: String,
    pub provider: String,
    pub mode: Mode,
    pub secrets: BTreeMap<String, SecretView>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutIntegrationSetting {
    pub mode: Mode,
    /// Secrets to set (string) or remove (null). Secrets not named are kept.
    #[serde(default)]
    pub secrets: BTreeMap<String, Option<String>>,
}

fn view(s: SettingRow, secrets: Vec<SecretRow>) -> IntegrationSetting {
    IntegrationSetting {
        mode: if s.mode == "live" {
            Mode::Live
        } else {
            Mode::Sandbox
        },
        secrets: secrets
            .into_iter()
            .map(|k| {
                (
                    k.name,
                    SecretView {
                        set: true,
                        last4: Some(k.last4).filter(|l| !l.is_empty()),
                        updated_at: k.updated_at,
                    },
                )
            })
            .collect(),
        environment: s.environment,
        provider: s.provider,
        updated_at: s.updated_at,
        updated_by: s.updated_by,
    }
}

fn slug(field: &str, v: &str) -> Option<FieldError> {
    let ok = (1..=40).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    (!ok).then(|| FieldError::new(field, "1-40 characters: a-z, 0-9, `_`, `-`"))
}

/// Associated data binding a ciphertext to its slot (same format as `integrations::secret`).
pub fn aad(environment: &str, provider: &str, name: &str) -> Vec<u8> {
    format!("{environment}/{provider}/{name}").into_bytes()
}

/// A trading venue's mode and keys apply before the response: a strategy created right after
/// switching to live sees the venue live.
async fn reload_venue(ctx: &Ctx, env: &str, provider: &str) {
    use crate::adapters::binance;
    if env == binance::ENVIRONMENT
        && provider == binance::PROVIDER
        && let Some(venue) = &ctx.state.trading.binance
    {
        venue.reload().await;
    }
    // Kraken too: without this its mode stayed what the last call had read (`unconfigured`
    // after a first PUT), so a live strategy was refused after switching Kraken to live.
    if env == crate::adapters::kraken::connector::ENVIRONMENT
        && provider == crate::adapters::kraken::connector::PROVIDER
    {
        ctx.state.trading.kraken.reload().await;
    }
}

/// List all integration settings.
#[utoipa::path(tag = "settings", responses((status = 200, description = "Settings", body = [IntegrationSetting])))]
#[get("/v1/settings/integrations")]
pub async fn list_settings(ctx: Ctx) -> Result<web::Json<Vec<IntegrationSetting>>, ApiError> {
    let db = ctx.db()?;
    let (settings, secrets) = integrations::list(&db).await?;
    let out = settings
        .into_iter()
        .map(|s| {
            let mine = secrets
                .iter()
                .filter(|k| k.environment == s.environment && k.provider == s.provider)
                .cloned()
                .collect();
            view(s, mine)
        })
        .collect();
    Ok(web::Json(out))
}

/// One integration's settings.
#[utoipa::path(tag = "settings", params(("environment" = String, Path), ("provider" = String, Path)),
    responses((status = 200, description = "Setting", body = IntegrationSetting), (status = 404, description = "Not set")))]
#[get("/v1/settings/integrations/{environment}/{provider}")]
pub async fn get_setting(
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> Result<web::Json<IntegrationSetting>, ApiError> {
    let (env, provider) = path.into_inner();
    let db = ctx.db()?;
    let (s, k) = integrations::get(&db, &env, &provider)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no settings for {env}/{provider}")))?;
    Ok(web::Json(view(s, k)))
}

/// Create or update an integration: its mode and (some of) its secrets. Audited; switching
/// to `live` is recorded as such.
#[utoipa::path(tag = "settings", request_body = PutIntegrationSetting, params(("environment" = String, Path), ("provider" = String, Path)),
    responses((status = 200, description = "Stored", body = IntegrationSetting)))]
#[put("/v1/settings/integrations/{environment}/{provider}")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn put_setting(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    body: ApiJson<PutIntegrationSetting>,
) -> Result<web::Json<IntegrationSetting>, ApiError> {
    let (env, provider) = path.into_inner();
    let body = body.into_inner();
    let mut errors: Vec<FieldError> = [slug("environment", &env), slug("provider", &provider)]
        .into_iter()
        .flatten()
        .collect();
    for (name, value) in &body.secrets {
        errors.extend(slug(&format!("secrets.{name}"), name));
        if value
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.len() > 8192)
        {
            errors.push(FieldError::new(
                format!("secrets.{name}"),
                "1-8192 characters, or null to remove",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let db = ctx.db()?;
    let before = integrations::get(&db, &env, &provider)
        .await?
        .map(|(s, _)| s.mode);
    let mut put = Vec::new();
    let mut remove = Vec::new();
    for (name, value) in body.secrets {
        match value {
            Some(v) => {
                let chars: Vec<char> = v.chars().collect();
                let last4 = if chars.len() >= 12 {
                    chars[chars.len() - 4..].iter().collect()
                } else {
                    String::new()
                };
                let ciphertext = ctx
                    .state
                    .cipher
                    .encrypt(v.as_bytes(), &aad(&env, &provider, &name))?;
                put.push(SecretWrite {
                    name,
                    ciphertext,
                    last4,
                });
            }
            None => remove.push(name),
        }
    }
    integrations::upsert(
        &db,
        &env,
        &provider,
        body.mode.as_str(),
        &ctx.who(),
        &put,
        &remove,
    )
    .await?;
    let changed: Vec<String> = put
        .iter()
        .map(|s| format!("set {}", s.name))
        .chain(remove.iter().map(|n| format!("removed {n}")))
        .collect();
    let detail = format!(
        "mode {} -> {}; {}",
        before.as_deref().unwrap_or("(new)"),
        body.mode.as_str(),
        if changed.is_empty() {
            "no secret changes".to_owned()
        } else {
            changed.join(", ")
        }
    );
    ctx.audit(
        ctx.who(),
        "settings.integration.put",
        format!("{env}/{provider}"),
        "success",
        Some(detail),
    );
    if provider == crate::adapters::telegram::PROVIDER {
        // A new token or mode applies now, without a restart.
        ctx.state.telegram.reload();
    }
    reload_venue(&ctx, &env, &provider).await;
    let (s, k) = integrations::get(&db, &env, &provider)
        .await?
        .ok_or_else(|| anyhow::anyhow!("setting vanished after write"))?;
    Ok(web::Json(view(s, k)))
}

/// Remove an integration and its secrets.
#[utoipa::path(tag = "settings", params(("environment" = String, Path), ("provider" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not set")))]
#[delete("/v1/settings/integrations/{environment}/{provider}")]
#[tracing::instrument(skip_all, fields(trace_id = %ctx.trace_id))]
pub async fn delete_setting(
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (env, provider) = path.into_inner();
    let db = ctx.db()?;
    if !integrations::delete(&db, &env, &provider).await? {
        return Err(ApiError::NotFound(format!(
            "no settings for {env}/{provider}"
        )));
    }
    if provider == crate::adapters::telegram::PROVIDER {
        ctx.state.telegram.reload();
    }
    reload_venue(&ctx, &env, &provider).await;
    ctx.audit(
        ctx.who(),
        "settings.integration.delete",
        format!("{env}/{provider}"),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}

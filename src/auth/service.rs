//! Login, refresh-token rotation with reuse detection, logout, and credential checks.

use super::tokens::{JwtKeys, digest, looks_like_jwt, random_secret};
use super::{Principal, Role, Subject, password};
use crate::config::AuthSettings;
use crate::db::{Db, api_keys, tokens, users};
use crate::error::ApiError;
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

pub const API_KEY_PREFIX: &str = "ais_";
pub const REFRESH_PREFIX: &str = "rt_";

pub struct AuthService {
    pub jwt: JwtKeys,
    pub settings: AuthSettings,
}

/// What login and refresh hand back.
pub struct Session {
    pub access_token: String,
    pub refresh_token: SecretString,
    pub expires_in: i64,
    pub user: users::UserRow,
}

/// Why a login or refresh failed (all map to 401; the audit log keeps the reason).
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error("invalid username or password")]
    BadCredentials,
    #[error("account disabled")]
    Disabled,
    #[error("refresh token unknown, expired or revoked")]
    BadRefresh,
    #[error("refresh token reused; its session family was revoked")]
    Reuse,
}

impl AuthService {
    pub fn new(jwt_secret: &SecretString, settings: AuthSettings) -> Self {
        Self {
            jwt: JwtKeys::new(jwt_secret, &settings.issuer, settings.access_ttl_secs),
            settings,
        }
    }

    async fn new_session(
        &self,
        db: &Db,
        user: users::UserRow,
        family: &str,
    ) -> Result<Session, ApiError> {
        let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
        let access_token = self.jwt.issue(&user.id, &user.username, role)?;
        let refresh = random_secret(REFRESH_PREFIX);
        let ttl = Duration::seconds(
            i64::try_from(self.settings.refresh_ttl_secs).unwrap_or(i64::MAX / 2),
        );
        tokens::insert(
            db,
            &user.id,
            family,
            &digest(refresh.expose_secret()),
            Utc::now() + ttl,
        )
        .await?;
        Ok(Session {
            access_token,
            refresh_token: refresh,
            expires_in: self.jwt.ttl_secs(),
            user,
        })
    }

    pub async fn login(
        &self,
        db: &Db,
        username: &str,
        pw: SecretString,
    ) -> Result<Result<Session, AuthFailure>, ApiError> {
        let user = users::by_username(db, username).await?;
        let ok = password::verify(pw, user.as_ref().map(|u| u.password_hash.clone())).await;
        let Some(user) = user.filter(|_| ok) else {
            return Ok(Err(AuthFailure::BadCredentials));
        };
        if user.disabled {
            return Ok(Err(AuthFailure::Disabled));
        }
        let family = uuid::Uuid::now_v7().to_string();
        Ok(Ok(self.new_session(db, user, &family).await?))
    }

    /// Rotates: the presented token is consumed and a new one in the same family issued.
    /// Presenting an already-used token revokes the whole family (it was stolen or replayed).
    pub async fn refresh(
        &self,
        db: &Db,
        token: &str,
    ) -> Result<Result<Session, AuthFailure>, ApiError> {
        let Some(row) = tokens::by_hash(db, &digest(token)).await? else {
            return Ok(Err(AuthFailure::BadRefresh));
        };
        if row.revoked_at.is_some() {
            return Ok(Err(AuthFailure::BadRefresh));
        }
        if row.used_at.is_some() || !tokens::consume(db, &row.id).await? {
            tokens::revoke_family(db, &row.family_id).await?;
            return Ok(Err(AuthFailure::Reuse));
        }
        if row.expires_at <= Utc::now() {
            return Ok(Err(AuthFailure::BadRefresh));
        }
        let Some(user) = users::by_id(db, &row.user_id).await? else {
            return Ok(Err(AuthFailure::BadRefresh));
        };
        if user.disabled {
            tokens::revoke_family(db, &row.family_id).await?;
            return Ok(Err(AuthFailure::Disabled));
        }
        Ok(Ok(self.new_session(db, user, &row.family_id).await?))
    }

    /// Revokes the refresh token's family if it belongs to `user_id`. Idempotent.
    pub async fn logout(&self, db: &Db, user_id: &str, token: &str) -> Result<(), ApiError> {
        if let Some(row) = tokens::by_hash(db, &digest(token)).await?
            && row.user_id == user_id
        {
            tokens::revoke_family(db, &row.family_id).await?;
        }
        Ok(())
    }

    /// A bearer JWT or an API key → the caller. `Err` carries a client-safe reason.
    pub async fn authenticate(
        &self,
        db: Option<&Db>,
        credential: &str,
    ) -> Result<Principal, ApiError> {
        let unauthorized = |m: &str| ApiError::Unauthorized(m.to_owned());
        if looks_like_jwt(credential) {
            let claims = self.jwt.verify(credential).map_err(|e| {
                tracing::debug!(error = %e, "access token rejected");
                unauthorized("access token invalid or expired")
            })?;
            return Ok(Principal {
                subject: Subject::User {
                    id: claims.sub,
                    username: claims.name,
                },
                role: claims.role,
            });
        }
        let Some(rest) = credential.strip_prefix(API_KEY_PREFIX) else {
            return Err(unauthorized("unrecognised credential"));
        };
        let Some((short, _)) = rest.split_once('_') else {
            return Err(unauthorized("malformed API key"));
        };
        let db = db
            .ok_or_else(|| ApiError::Unavailable("the database is not reachable yet".to_owned()))?;
        let prefix = format!("{API_KEY_PREFIX}{short}");
        let row = api_keys::by_prefix(db, &prefix)
            .await?
            .ok_or_else(|| unauthorized("API key invalid or revoked"))?;
        let matches: bool = row
            .key_hash
            .as_bytes()
            .ct_eq(digest(credential).as_bytes())
            .into();
        let live = row.revoked_at.is_none() && row.expires_at.is_none_or(|t| t > Utc::now());
        if !matches || !live {
            return Err(unauthorized("API key invalid or revoked"));
        }
        let role = Role::parse(&row.role).unwrap_or(Role::Viewer);
        Ok(Principal {
            subject: Subject::ApiKey {
                id: row.id,
                prefix: row.prefix,
            },
            role,
        })
    }
}

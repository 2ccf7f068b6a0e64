//! Login, refresh-token rotation with reuse detection, logout, and credential checks.

use super::error::{AuthError, AuthFailure};
use super::key_usage::KeyUsage;
use super::password::Passwords;
use super::sessions::{SessionCache, SessionState};
use super::tokens::{JwtKeys, digest, looks_like_jwt, random_secret};
use super::{Principal, Role, Subject};
use crate::config::AuthSettings;
use crate::db::{Db, tokens, users};
use crate::readmodel::ReadModel;
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const API_KEY_PREFIX: &str = "ais_";
pub const REFRESH_PREFIX: &str = "rt_";

pub struct AuthService {
    pub jwt: JwtKeys,
    pub settings: AuthSettings,
    /// The process's one bounded password hasher.
    pub passwords: Passwords,
    pub sessions: SessionCache,
    /// API keys are looked up here, per request, without a round trip.
    pub read_model: Arc<ReadModel>,
    /// When each key was last used, written in the background.
    key_usage: KeyUsage,
}

/// What login and refresh hand back.
pub struct Session {
    pub access_token: String,
    pub refresh_token: SecretString,
    pub expires_in: i64,
    pub user: users::UserRow,
}

impl AuthService {
    pub fn new(
        jwt_secret: &SecretString,
        settings: AuthSettings,
        read_model: Arc<ReadModel>,
    ) -> Self {
        Self {
            read_model,
            key_usage: KeyUsage::default(),
            jwt: JwtKeys::new(jwt_secret, &settings.issuer, settings.access_ttl_secs),
            passwords: Passwords::new(&settings),
            sessions: SessionCache::new(std::time::Duration::from_secs(
                settings.session_cache_ttl_secs,
            )),
            settings,
        }
    }

    async fn new_session(
        &self,
        db: &Db,
        user: users::UserRow,
        family: &str,
    ) -> Result<Session, AuthError> {
        let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
        let access_token = self.jwt.issue(&user.id, &user.username, role, family)?;
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
    ) -> Result<Session, AuthError> {
        let user = users::by_username(db, username).await?;
        let ok = self
            .passwords
            .verify(pw, user.as_ref().map(|u| u.password_hash.clone()))
            .await?;
        let Some(user) = user.filter(|_| ok) else {
            return Err(AuthFailure::BadCredentials.into());
        };
        if user.disabled {
            return Err(AuthFailure::Disabled.into());
        }
        let family = uuid::Uuid::now_v7().to_string();
        self.new_session(db, user, &family).await
    }

    /// Rotates: the presented token is consumed and a new one in the same family issued.
    /// Presenting an already-used token revokes the whole family (it was stolen or replayed).
    pub async fn refresh(&self, db: &Db, token: &str) -> Result<Session, AuthError> {
        let Some(row) = tokens::by_hash(db, &digest(token)).await? else {
            return Err(AuthFailure::BadRefresh.into());
        };
        if row.revoked_at.is_some() {
            return Err(AuthFailure::BadRefresh.into());
        }
        if row.used_at.is_some() || !tokens::consume(db, &row.id).await? {
            tokens::revoke_family(db, &row.family_id).await?;
            self.sessions.end_session(&row.family_id);
            return Err(AuthFailure::Reuse.into());
        }
        if row.expires_at <= Utc::now() {
            return Err(AuthFailure::BadRefresh.into());
        }
        let Some(user) = users::by_id(db, &row.user_id).await? else {
            return Err(AuthFailure::BadRefresh.into());
        };
        if user.disabled {
            tokens::revoke_family(db, &row.family_id).await?;
            self.sessions.end_session(&row.family_id);
            return Err(AuthFailure::Disabled.into());
        }
        self.new_session(db, user, &row.family_id).await
    }

    /// Ends the caller's session (`sid`, the family of the access token used) and the
    /// refresh token's family if it belongs to `user_id`: their refresh and access tokens stop
    /// working at once. Idempotent.
    pub async fn logout(
        &self,
        db: &Db,
        user_id: &str,
        sid: &str,
        token: &str,
    ) -> Result<(), AuthError> {
        let mut families = vec![sid.to_owned()];
        if let Some(row) = tokens::by_hash(db, &digest(token)).await?
            && row.user_id == user_id
        {
            families.push(row.family_id);
        }
        for family in &families {
            tokens::revoke_family(db, family).await?;
            self.sessions.end_session(family);
        }
        Ok(())
    }

    /// Ends every session of the user (disabled, new password) and forgets what the cache
    /// knew about them (a role change applies at once).
    pub async fn user_changed(
        &self,
        db: &Db,
        user_id: &str,
        end_sessions: bool,
    ) -> Result<(), AuthError> {
        if end_sessions {
            tokens::revoke_user(db, user_id).await?;
        }
        self.sessions.user_changed(user_id);
        Ok(())
    }

    /// A bearer JWT or an API key → the caller. [`AuthError::BadCredential`] carries a
    /// client-safe reason.
    pub async fn authenticate(
        &self,
        db: Option<&Db>,
        credential: &str,
    ) -> Result<Principal, AuthError> {
        if looks_like_jwt(credential) {
            let claims = self.jwt.verify(credential).map_err(|e| {
                tracing::debug!(error = %e, "access token rejected");
                AuthError::BadCredential("access token invalid or expired")
            })?;
            let db = db.ok_or(AuthError::NoDatabase)?;
            return match self.sessions.state(db, &claims.sub, &claims.sid).await? {
                SessionState::Live { username, role } => Ok(Principal {
                    subject: Subject::User {
                        id: claims.sub,
                        username,
                    },
                    session: Some(claims.sid),
                    role,
                }),
                SessionState::Ended => Err(AuthError::BadCredential(
                    "session ended (logged out, revoked or user disabled)",
                )),
            };
        }
        let Some(rest) = credential.strip_prefix(API_KEY_PREFIX) else {
            return Err(AuthError::BadCredential("unrecognised credential"));
        };
        let Some((short, _)) = rest.split_once('_') else {
            return Err(AuthError::BadCredential("malformed API key"));
        };
        let db = db.ok_or(AuthError::NoDatabase)?;
        let prefix = format!("{API_KEY_PREFIX}{short}");
        let revoked = AuthError::BadCredential("API key invalid or revoked");
        let Some(row) = self.read_model.api_key(db, &prefix).await? else {
            return Err(revoked);
        };
        let matches: bool = row
            .key_hash
            .as_bytes()
            .ct_eq(digest(credential).as_bytes())
            .into();
        let live = row.revoked_at.is_none() && row.expires_at.is_none_or(|t| t > Utc::now());
        if !matches || !live {
            return Err(revoked);
        }
        self.key_usage.used(db, &row.id);
        let role = Role::parse(&row.role).unwrap_or(Role::Viewer);
        Ok(Principal {
            subject: Subject::ApiKey {
                id: row.id,
                prefix: row.prefix,
            },
            session: None,
            role,
        })
    }
}

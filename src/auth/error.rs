//! What can go wrong in authentication, in the auth module's own terms. The HTTP edge
//! (`api::auth`) decides which status and problem each answers with, as zero2prod keeps
//! `AuthError` apart from its route errors.

use super::password::PasswordError;
use crate::db::DbError;

/// Why a login or refresh was refused (each answers 401; the audit log keeps the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
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

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The caller's login or refresh is refused.
    #[error(transparent)]
    Refused(#[from] AuthFailure),
    /// The presented credential authenticates nobody. The text is safe to show the caller.
    #[error("{0}")]
    BadCredential(&'static str),
    /// The credential can only be checked against the database, which is not reachable yet.
    #[error("the database is not reachable yet")]
    NoDatabase,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("signing an access token: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

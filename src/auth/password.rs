//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes), run on the blocking
//! pool so a login never stalls an async worker.

use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::LazyLock;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A real hash of a random password: verified against when the user does not exist, so
/// response time does not tell whether a username is taken.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).ok()?;
    argon2()
        .hash_password(&rand::random::<[u8; 16]>(), &salt)
        .ok()
        .map(|h| h.to_string())
});

pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        argon2()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing: {e}"))
    })
    .await
    .context("password hashing task")?
}

/// `stored = None` (no such user) still costs one verification.
pub async fn verify(password: SecretString, stored: Option<String>) -> bool {
    let found = stored.is_some();
    let Some(stored) = stored.or_else(|| DUMMY_HASH.clone()) else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        argon2()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
            && found
    })
    .await
    .unwrap_or(false)
}

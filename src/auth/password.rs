//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes), run on the blocking
//! pool so a login never stalls an async worker, and bounded: at most
//! `auth.max_concurrent_hashes` hashes run at once in the process.
//!
//! Why the bound: every hash or verification allocates 19 MiB. Unbounded, 32 concurrent failed
//! logins put 32 × 19 MiB on as many blocking threads; measured on the release build, 1000
//! failed logins at concurrency 32 peaked at 7.2 GB RSS and kept 6.0 GB afterwards. Callers
//! that find every permit taken wait up to `auth.hash_wait_timeout_ms`, then get
//! [`PasswordError::Busy`] (503 with `Retry-After`). The permit moves into the blocking task,
//! so a client that hangs up does not free its slot before its hash is done.
//!
//! Login, `POST /v1/users`, password changes and the CLI's `user create` all go through one
//! [`Passwords`].

use crate::config::AuthSettings;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A real hash of a random password: verified against when the user does not exist, so
/// response time does not tell whether a username is taken. Forced only inside a blocking
/// task holding a permit (computing it costs one hash too).
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).ok()?;
    argon2()
        .hash_password(&rand::random::<[u8; 16]>(), &salt)
        .ok()
        .map(|h| h.to_string())
});

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot stayed taken for the whole wait.
    #[error("too many password checks in progress; retry in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// The process's bounded password hasher. Cheap to clone (shares its permits).
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Passwords {
    pub fn new(settings: &AuthSettings) -> Self {
        Self::with_limits(
            settings.max_concurrent_hashes,
            Duration::from_millis(settings.hash_wait_timeout_ms),
        )
    }

    pub fn with_limits(max_concurrent: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            wait,
        }
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        let busy = || PasswordError::Busy {
            retry_after_secs: self.wait.as_secs().max(1),
        };
        if let Ok(p) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(p);
        }
        if self.wait.is_zero() {
            metrics::counter!(HASH_REFUSED_TOTAL).increment(1);
            return Err(busy());
        }
        match tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            // Timed out, or the semaphore was closed (never done; treat it alike).
            _ => {
                metrics::counter!(HASH_REFUSED_TOTAL).increment(1);
                Err(busy())
            }
        }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `password`.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let permit = self.permit().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
                .map_err(|e| PasswordError::Hashing(format!("salt: {e}")))?;
            argon2()
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| PasswordError::Hashing(e.to_string()))
        })
        .await
        .map_err(|e| PasswordError::Hashing(format!("hashing task: {e}")))?
    }

    /// `stored = None` (no such user) still costs one verification. `Ok(false)` = wrong
    /// password or no such user.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let permit = self.permit().await?;
        Ok(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let found = stored.is_some();
            let Some(stored) = stored.or_else(|| DUMMY_HASH.clone()) else {
                return false;
            };
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return false;
            };
            argon2()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
                && found
        })
        .await
        .unwrap_or(false))
    }
}

/// Password checks refused because every hashing slot stayed busy for the whole wait.
pub const HASH_REFUSED_TOTAL: &str = "password_hash_refused_total";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_finding_every_slot_taken_is_refused_after_the_wait() {
        let p = Passwords::with_limits(1, Duration::from_millis(20));
        let held = p.permit().await.expect("the only permit");
        let refused = p
            .verify(SecretString::from("x"), None)
            .await
            .expect_err("busy");
        assert!(matches!(
            refused,
            PasswordError::Busy {
                retry_after_secs: 1
            }
        ));
        assert!(matches!(
            p.hash(SecretString::from("x")).await,
            Err(PasswordError::Busy { .. })
        ));
        drop(held);
        let hash = p.hash(SecretString::from("pw")).await.expect("free again");
        assert!(
            p.verify(SecretString::from("pw"), Some(hash))
                .await
                .expect("runs")
        );
    }
}

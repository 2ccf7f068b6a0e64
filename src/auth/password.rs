//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes), run on the blocking
//! pool so a login never stalls an async worker, and bounded: at most
//! `auth.max_concurrent_hashes` hashes run at once in the process.
//!
//! Why the bound: every hash or verification needs 19 MiB. Unbounded, 32 concurrent failed
//! logins put 32 × 19 MiB on as many blocking threads; measured with bench/logins.sh (release),
//! 1000 failed logins at concurrency 32 peaked at 6.4 GB RSS and kept 6.3 GB afterwards. Callers
//! that find every permit taken wait up to `auth.hash_wait_timeout_ms`, then get
//! [`PasswordError::Busy`] (503 with `Retry-After`). The permit moves into the blocking task,
//! so a client that hangs up does not free its slot before its hash is done.
//!
//! Login, `POST /v1/users`, password changes and the CLI's `user create` all go through one
//! [`Passwords`].
//!
//! Why the memory comes back: the argon2 state lives in a buffer we allocate ourselves (see
//! [`BUFFER_RESERVE_BYTES`]), so glibc maps and unmaps it instead of keeping it in an arena.
//! Hashes are argon2's standard PHC strings; the argon2 crate verifies ours and we verify its.

use crate::config::AuthSettings;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// OWASP's argon2id parameters: 19 MiB, 2 passes, 1 lane.
fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// The 19 MiB of argon2 state are allocated with this much capacity: more than glibc's
/// largest dynamic mmap threshold (32 MiB on 64-bit). So each buffer is always its own `mmap`,
/// handed back to the kernel by `munmap` when dropped, and freeing it never raises the
/// threshold; only the 19 MiB argon2 writes ever become resident. With argon2's own
/// allocation (exactly 19 MiB) glibc raised its threshold after the first free and served
/// later buffers from arenas it rarely trims: measured with bench/logins.sh (release, 1000
/// failed logins at concurrency 32, 2 hashing slots), peak 1383 MB and 1383 MB still resident
/// 10 s later; with this buffer 72 MB and 34 MB (idle 33 MB; docs/decisions.md has all figures).
const BUFFER_RESERVE_BYTES: usize = 33 * 1024 * 1024;

fn memory(blocks: usize) -> Vec<Block> {
    let reserve = (BUFFER_RESERVE_BYTES / std::mem::size_of::<Block>()).max(blocks);
    let mut memory = Vec::with_capacity(reserve);
    memory.resize(blocks, Block::default());
    memory
}

/// One argon2 computation into a buffer of `out_len` bytes, on memory from [`memory`].
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out_len: usize,
) -> Result<Vec<u8>, argon2::Error> {
    let blocks = params.block_count();
    let mut out = vec![0u8; out_len];
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        memory(blocks),
    )?;
    Ok(out)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), as `argon2`'s own
/// `PasswordHasher` writes it.
fn hash_phc(password: &[u8]) -> Result<String, PasswordError> {
    let fail = |e: &dyn std::fmt::Display| PasswordError::Hashing(e.to_string());
    let p = params();
    let salt = rand::random::<[u8; 16]>();
    let out = compute(
        Algorithm::Argon2id,
        Version::V0x13,
        p.clone(),
        password,
        &salt,
        Params::DEFAULT_OUTPUT_LEN,
    )
    .map_err(|e| fail(&e))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| fail(&e))?;
    let out = Output::new(&out).map_err(|e| fail(&e))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${out}",
        p.m_cost(),
        p.t_cost(),
        p.p_cost(),
        salt.as_str()
    ))
}

/// Checks `password` against a PHC string with the parameters stored in it.
fn verify_phc(password: &[u8], stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    compute(algorithm, version, params, password, salt, expected.len())
        .is_ok_and(|out| out.ct_eq(expected.as_bytes()).into())
}

/// A real hash of a random password: verified against when the user does not exist, so
/// response time does not tell whether a username is taken. Forced only inside a blocking
/// task holding a permit (computing it costs one hash too).
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_phc(&rand::random::<[u8; 16]>()).ok());

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
            hash_phc(password.expose_secret().as_bytes())
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
            verify_phc(password.expose_secret().as_bytes(), &stored) && found
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

    #[test]
    fn phc_strings_match_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_phc(b"correct horse").expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).expect("PHC");
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        assert!(theirs.verify_password(b"correct horse", &parsed).is_ok());
        let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
        let stored = theirs
            .hash_password(b"correct horse", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_phc(b"correct horse", &stored));
        assert!(!verify_phc(b"wrong horse", &stored));
        assert!(!verify_phc(b"correct horse", "not a hash"));
    }

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

//! Access tokens (JWT, HS256, short-lived) and opaque secrets (refresh tokens, API keys).
//!
//! Opaque secrets carry 256 random bits, so a fast hash (SHA-256) is the right thing to
//! store: it cannot be brute-forced, and lookups by hash stay cheap.

use super::Role;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Username, for logs and `/v1/auth/me`.
    pub name: String,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// Session id: the refresh-token family of the login. Logout, a replayed refresh token,
    /// disabling the user or a new password end the session, and with it this token.
    pub sid: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// Validly signed, but issued in the future or for longer than the server's access-token
    /// lifetime (whatever its `exp` says).
    #[error("token lifetime exceeds the configured access-token lifetime")]
    Lifetime,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl_secs: i64,
    verified: Verified,
}

/// Tokens these keys verified, by their exact text, with their claims: a token seen again
/// skips the base64, the JSON (jsonwebtoken parses the claims twice) and the HMAC, never the
/// clock. Only tokens that passed every check are kept, so a forged token cannot take a
/// place, and a session that ended still ends the token (that check comes after, in
/// `AuthService::authenticate`).
///
/// Why: verification was ~10 % of the service's CPU on a small authenticated read (perf,
/// `/v1/jobs?limit=20`, 2026-12-04), for the same few tokens on every request.
struct Verified(std::sync::Mutex<std::collections::HashMap<Box<str>, Claims>>);

/// Verified tokens kept at most (~0.5 kB each). Past this, expired ones are dropped, and all
/// of them if none had expired: a re-verification is the only cost.
const VERIFIED_TOKENS: usize = 1024;

impl Verified {
    fn get(&self, token: &str) -> Option<Claims> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    fn keep(&self, token: &str, claims: &Claims, now: i64) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= VERIFIED_TOKENS {
            map.retain(|_, c| c.exp >= now);
            if map.len() >= VERIFIED_TOKENS {
                map.clear();
            }
        }
        map.insert(token.into(), claims.clone());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

impl JwtKeys {
    pub fn new(secret: &SecretString, issuer: &str, ttl_secs: u64) -> Self {
        super::jwt_crypto::install();
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256: a token claiming `none` or any other algorithm is rejected.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "iat"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer: issuer.to_owned(),
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(900),
            verified: Verified(std::sync::Mutex::default()),
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Signs claims as given (tests use this for expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    pub fn issue(
        &self,
        user_id: &str,
        username: &str,
        role: Role,
        session_id: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: user_id.to_owned(),
            name: username.to_owned(),
            role,
            iss: self.issuer.clone(),
            iat: now,
            exp: now + self.ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
            sid: session_id.to_owned(),
        })
    }

    /// Signature, issuer and expiry, then the server's cap on the lifetime: a token counts
    /// only for `access_ttl_secs` after its `iat`, however far away its `exp` is (a token
    /// signed under an older, longer setting, or with a leaked key, does not live on).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// [`Self::verify`] at `now` (seconds). The clock checks run here on every call, for a
    /// token seen before exactly as for a new one.
    fn verify_at(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            self.check_clock(&claims, now)?;
            return Ok(claims);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)?;
        self.check_clock(&claims, now)?;
        self.verified.keep(token, &claims, now);
        Ok(claims)
    }

    /// Expiry (with the leeway jsonwebtoken allows) and the server's cap on the lifetime.
    fn check_clock(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(0);
        if claims.exp < now - leeway {
            return Err(jsonwebtoken::errors::Error::from(
                jsonwebtoken::errors::ErrorKind::ExpiredSignature,
            )
            .into());
        }
        let too_long = claims.exp.saturating_sub(claims.iat) > self.ttl_secs;
        let from_future = claims.iat > now + leeway;
        let too_old = now.saturating_sub(claims.iat) > self.ttl_secs + leeway;
        if too_long || from_future || too_old {
            return Err(TokenError::Lifetime);
        }
        Ok(())
    }
}

/// Looks like a JWT (three base64url parts), as opposed to an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

/// `<prefix><43 chars of base64url(32 random bytes)>`.
pub fn random_secret(prefix: &str) -> SecretString {
    SecretString::from(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    ))
}

/// Hex SHA-256, what is stored for refresh tokens and API keys.
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Short random id for API key prefixes (8 lowercase alphanumerics).
pub fn short_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyz23456789";
    (0..8)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&SecretString::from("k".repeat(40)), "ai-service", 900)
    }

    #[test]
    fn round_trip_and_tamper() {
        let k = keys();
        let t = k.issue("u1", "alice", Role::Admin, "s1").expect("sign");
        assert!(looks_like_jwt(&t));
        assert_eq!(k.verify(&t).expect("valid").role, Role::Admin);
        let other = JwtKeys::new(&SecretString::from("x".repeat(40)), "ai-service", 900);
        assert!(other.verify(&t).is_err(), "wrong key");
    }

    #[test]
    fn alg_none_is_rejected() {
        let k = keys();
        let t = k.issue("u1", "alice", Role::Admin, "s1").expect("sign");
        let payload = t.split('.').nth(1).expect("payload");
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(k.verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn lifetime_is_capped_by_the_server_not_by_exp() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let ok = k.sign(&claims(now, now + 900)).expect("sign");
        assert!(k.verify(&ok).is_ok());
        for (what, iat, exp) in [
            ("exp ten years out", now, now + 10 * 365 * 86_400),
            ("issued in the future", now + 600, now + 1_200),
            ("older than the lifetime", now - 2_000, now + 60),
        ] {
            let t = k.sign(&claims(iat, exp)).expect("sign");
            assert!(
                matches!(k.verify(&t), Err(TokenError::Lifetime)),
                "{what} must be refused"
            );
        }
    }

    fn claims(iat: i64, exp: i64) -> Claims {
        Claims {
            sub: "u1".into(),
            name: "alice".into(),
            role: Role::Admin,
            iss: "ai-service".into(),
            iat,
            exp,
            jti: "j".into(),
            sid: "s1".into(),
        }
    }

    #[test]
    fn a_token_seen_before_meets_the_same_clock_as_a_new_one() {
        let now = chrono::Utc::now().timestamp();
        let signer = keys();
        // Valid now; expires in 10 s; the lifetime cap ends it at iat + 900 + leeway.
        let token = signer.sign(&claims(now - 890, now + 10)).expect("sign");
        let warm = keys();
        assert!(warm.verify_at(&token, now).is_ok());
        assert_eq!(warm.verified.len(), 1, "kept after a full verification");
        for later in [now, now + 10, now + 15, now + 16, now + 60, now - 300] {
            let cold = keys();
            let (a, b) = (warm.verify_at(&token, later), cold.verify_at(&token, later));
            assert_eq!(
                a.as_ref().map_err(ToString::to_string),
                b.as_ref().map_err(ToString::to_string),
                "at now{:+}: a token seen before and a new one answer alike",
                later - now
            );
        }
        assert!(
            warm.verify_at(&token, now + 16).is_err(),
            "expired past the leeway"
        );
    }

    #[test]
    fn only_verified_tokens_are_kept_and_only_by_their_exact_text() {
        let k = keys();
        let t = k.issue("u1", "alice", Role::Admin, "s1").expect("sign");
        assert!(k.verify(&t).is_ok());
        let other = JwtKeys::new(&SecretString::from("x".repeat(40)), "ai-service", 900);
        assert!(
            other.verify(&t).is_err(),
            "another key's tokens are not this key's"
        );
        let mut tampered = t.clone();
        tampered.push('A');
        assert!(k.verify(&tampered).is_err(), "a token with a cached prefix");
        let (head, _) = t.rsplit_once('.').expect("three parts");
        assert!(k.verify(&format!("{head}.")).is_err(), "no signature");
        assert_eq!(k.verified.len(), 1, "refused tokens are not kept");
    }

    #[test]
    fn the_kept_tokens_are_bounded() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        for i in 0..(VERIFIED_TOKENS + 10) {
            let mut c = claims(now, now + 900);
            c.jti = i.to_string();
            let t = k.sign(&c).expect("sign");
            assert!(k.verify_at(&t, now).is_ok());
            assert!(k.verified.len() <= VERIFIED_TOKENS);
        }
    }

    #[test]
    fn digests_are_stable_hex() {
        assert_eq!(digest("abc").len(), 64);
        assert_eq!(digest("abc"), digest("abc"));
    }
}

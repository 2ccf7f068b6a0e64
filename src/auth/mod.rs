//! Authentication and authorization, in-process. Knows nothing of HTTP: it answers with
//! [`AuthError`], and `api` (the guard middleware in `api/guard.rs`, the `/v1/auth` routes)
//! decides the status and problem each error is.
//!
//! Layout:
//! - `error.rs`: [`AuthError`] and [`AuthFailure`] (why a login or refresh was refused).
//! - `principal.rs`: [`Role`], [`Principal`] (who is calling) and its extractor.
//! - `keys.rs`: the JWT signing key and the settings master key; refusal to run with
//!   placeholders beyond loopback; generated keys for loopback-only development.
//! - `password.rs`: argon2id hashing off the async threads.
//! - `jwt_crypto.rs`: jsonwebtoken's HS256 signer and verifier (its only algorithm here).
//! - `tokens.rs`: access JWTs (HS256) and opaque refresh tokens / API keys (hashed at rest).
//! - `policy.rs`: the one table saying which role every operation needs.
//! - `ratelimit.rs`: per-IP, per-credential and login limits (GCRA via `governor`).
//! - `service.rs`: login, refresh rotation with reuse detection, logout, API keys.
//! - `key_usage.rs`: each API key's `last_used_at`, written in the background, throttled.
//! - `sessions.rs`: the cached per-request check that an access token's session still holds.

mod error;
mod jwt_crypto;
pub mod key_usage;
pub mod keys;
pub mod password;
pub mod policy;
mod principal;
pub mod ratelimit;
pub mod service;
pub mod sessions;
pub mod tokens;

pub use error::{AuthError, AuthFailure};
pub use principal::{Principal, Role, Subject};

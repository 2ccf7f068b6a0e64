//! Authentication and authorization, in-process.
//!
//! Layout:
//! - `principal.rs`: [`Role`], [`Principal`] (who is calling) and its extractor.
//! - `keys.rs`: the JWT signing key and the settings master key; refusal to run with
//!   placeholders beyond loopback; generated keys for loopback-only development.
//! - `password.rs`: argon2id hashing off the async threads.
//! - `tokens.rs`: access JWTs (HS256) and opaque refresh tokens / API keys (hashed at rest).
//! - `policy.rs`: the one table saying which role every operation needs.
//! - `ratelimit.rs`: per-IP, per-credential and login limits (GCRA via `governor`).
//! - `guard.rs`: the middleware that applies all of the above to each request.
//! - `service.rs`: login, refresh rotation with reuse detection, logout, API keys.
//! - `sessions.rs`: the cached per-request check that an access token's session still holds.

pub mod guard;
pub mod keys;
pub mod password;
pub mod policy;
mod principal;
pub mod ratelimit;
pub mod service;
pub mod sessions;
pub mod tokens;

pub use principal::{Principal, Role, Subject};

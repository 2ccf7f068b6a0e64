//! Binance Spot REST: the signed client and the operations the `Connector` port needs.
//! The connector itself (mode and keys from the integration setting `default/binance`) is
//! `crate::trading::binance`.
//!
//! Layout: `sign.rs` the HMAC signature; `limits.rs` clock offset, weight, 429 pause and 418
//! ban; `client.rs` the HTTP calls and error mapping; `wire.rs` the JSON shapes and their
//! mapping; `orders.rs` rules, depth, balances and orders.

pub mod client;
pub mod limits;
pub mod orders;
pub mod sign;
pub mod wire;

pub use client::{BinanceClient, BinanceError, ClientConfig, Credentials, VENUE};

pub const PROVIDER: &str = "binance";
pub const ENVIRONMENT: &str = "default";
pub const API_KEY_SECRET: &str = "api_key";
pub const API_SECRET_SECRET: &str = "api_secret";

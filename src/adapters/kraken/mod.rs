//! Kraken Spot REST (<https://docs.kraken.com/api/>).
//!
//! Layout:
//! - `errors.rs`: Kraken's errors (inside HTTP 200 bodies) and what each means for us.
//! - `pairs.rs`: our symbols ↔ Kraken's pair names and asset codes, from `AssetPairs`.
//! - `public.rs`: the answer envelope and the public calls (`AssetPairs`, `Depth`).
//! - `sign.rs`: `API-Sign` (HMAC-SHA512); `nonce.rs`: nonces increasing across restarts.
//! - `private.rs`: the signed calls (AddOrder, OpenOrders/ClosedOrders by `cl_ord_id`,
//!   CancelOrder, TradesHistory, Balance) with the nonce retry and the rate-limit pause.
//! - `connector.rs`: the `kraken` connector (keys and mode from `default/kraken`).

pub mod connector;
pub mod errors;
pub mod nonce;
pub mod pairs;
pub mod private;
pub mod public;
pub mod sign;

pub use errors::KrakenError;
pub use pairs::{KrakenPair, KrakenPairs};

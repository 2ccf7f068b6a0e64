//! Personal finance: statement parsers, transaction identity (dedupe keys), and
//! categorization (rules, then a local learned model, with a seam for an LLM).
//!
//! # Layout
//! - `types.rs`: statement lines, parse results and issues.
//! - `bank.rs`: the `BankProvider` port (SimpleFIN lives in the root crate).
//! - `bank_sync.rs`: `BankSyncActor` and its `SyncLedger` port.
//! - `parse/`: CSV (saved column-mapping profiles), OFX 1.x/2.x, CAMT.053, Norma 43.
//! - `identity.rs`: description normalisation and stable dedupe keys (twins kept apart).
//! - `matching.rs`: which incoming lines are new, known, or book a pending transaction.
//! - `categorize/`: rules (ordered, stop-processing), the naive Bayes model, the pipeline.
//! - `categorizer.rs`: `CategorizerActor` and its `CategoryStore` port.

pub mod bank;
pub mod bank_sync;
pub mod categorize;
pub mod categorizer;
pub mod identity;
pub mod matching;
pub mod parse;
pub mod types;

pub use types::*;

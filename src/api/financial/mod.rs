//! `/v1/financial`: accounts, categories, transactions, imports, CSV profiles, rules,
//! categorization, reports.
//!
//! Layout:
//! - `dto.rs`: bodies and field validation helpers (decimal strings, ISO dates).
//! - `accounts.rs`, `categories.rs`, `transactions.rs`, `imports.rs`: the books;
//!   `tx_json.rs`: the transactions page written straight from the database rows.
//! - `rules.rs`: categorization rules (with a dry run); `profiles.rs`: CSV profiles.
//! - `reports.rs`: reports; `charts.rs`: the spending report as a PNG;
//!   `categorization.rs`: categorization backfill and stats.

pub mod accounts;
pub mod categories;
pub mod categorization;
pub mod charts;
pub mod dto;
pub mod imports;
pub mod profiles;
pub mod reports;
pub mod rules;
pub mod transactions;
pub mod tx_json;

//! ai-service: personal finance and trading control plane in one process.
//!
//! Supervised actix actors (from the `actors` crate) do the work; an actix-web API in the
//! same process exposes it, documented by a generated OpenAPI spec.
//!
//! Layout:
//! - `cli.rs`, `startup.rs`: commands, and the one place everything is wired in order.
//! - `config/`: the typed configuration tree and its loader.
//! - `db/`: SQLite/Postgres pools, the query facade (`Sql`, `Record`, `Db`/`Tx` execute and
//!   fetch), write transactions (`Tx`), embedded migrations (forward-only; a schema this
//!   binary does not know stops it), backups and restores (`db/backup/`),
//!   users/tokens/keys/audit/settings queries.
//! - `maintenance.rs`: the `maintenance` queue (the scheduled `backup` job and retention).
//! - `adapters/`: outbound clients implementing ports (Redis, SimpleFIN, Binance Spot in
//!   `adapters/binance/`; `venue_metrics.rs` names the metrics every venue reports).
//! - `jobs/`: the SQL job store, the `JobQueue` facade, lease owners; `schedules.rs`: cron
//!   schedules; `events.rs`: the outbox (staging events in a transaction, the relay's store).
//! - `api/`: routes, OpenAPI, problem-details plumbing, and the guard middleware (rate limits,
//!   authentication, the access table) with the HTTP answers to auth's errors.
//! - `error.rs`: the stable error codes and problem details every route returns.
//! - `metrics.rs`, `telemetry.rs`: Prometheus metrics, logs and request ids.
//! - `auth/`: passwords, tokens, API keys, sessions, roles, the access table, rate limits;
//!   answers with its own `AuthError` and knows no HTTP.
//! - `audit.rs`: recording audit events through the `AuditWriter` actor.
//! - `crypto.rs`: AEAD for integration secrets at rest.
//! - `http.rs`: security headers, CORS, the request audit middleware.
//! - `trading/`: the trading runtime's SQL ports, venues (paper; `binance.rs` with its mode
//!   and keys from the integration setting) and strategy queries.
//! - `finance/`: accounts, transactions, imports, categorization and reports on the database.
//! - `ai/`: the AI core's prompts, `llm_calls`, read-only tools and the categorization tier;
//!   the provider adapters are `adapters/openai.rs` and `adapters/anthropic.rs`.
//! - `charts/`: PNG charts (spending by category, cumulative PnL) and their text tables; pure.

pub mod adapters;
pub mod ai;
pub mod api;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod events;
pub mod finance;
pub mod footprint;
pub mod http;
pub mod jobs;
pub mod maintenance;
pub mod metrics;
pub mod readmodel;
pub mod schedules;
pub mod startup;
pub mod telegram;
pub mod telemetry;
pub mod trading;

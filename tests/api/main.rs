//! The root crate's one integration test binary. Every test that touches storage runs on
//! SQLite and on Postgres (a fresh database each), against the real services.
//!
//! Postgres comes from `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! Redis from `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). A missing service fails
//! those tests with how to start it, unless `SKIP_SERVICES=1` (never set in CI).

mod helpers;
mod served;

mod access_log;
mod ai;
mod auth;
mod backup;
mod binance;
mod binance_fake;
mod binance_many;
mod binance_venue;
mod charts;
mod cli;
mod concurrency;
mod config;
mod crash;
mod errors;
mod events;
mod finance_api;
mod finance_ingest;
mod formats;
mod health;
mod import_states;
mod inline_reads;
mod jobs;
mod jobs_batch;
mod kraken;
mod kraken_fake;
mod kraken_venue;
mod market_data_fake;
mod metrics;
mod migrations;
mod monitoring;
mod openapi;
mod paper_real_feed;
mod readmodel;
mod redis;
mod security;
mod telegram;
mod telegram_fake;
mod trading_api;
mod trading_engine;
mod trading_runtime;
mod upgrade;
mod uploads;

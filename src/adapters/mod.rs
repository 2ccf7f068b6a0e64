//! Implementations of the `actors` crate's ports against real infrastructure.

pub mod anthropic;
pub mod binance;
pub mod http_client;
pub mod kraken;
pub mod llm_http;
pub mod market_data;
pub mod openai;
pub mod redis;
pub mod simplefin;
pub mod telegram;
pub mod venue_metrics;

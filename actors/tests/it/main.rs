//! The actors crate's one integration test binary, run on a real actix system with fake
//! ports (`actors::testkit`, turned on by the crate's dev-dependency on itself): supervision
//! and dependency monitoring, the trading engine and manager, the job dispatcher and the
//! categorizer, none of them needing a database.

mod categorizer;
mod dispatcher;
mod engine;
mod fixtures;
mod llm_replay;
mod monitor;
mod supervision;
mod trading_manager;

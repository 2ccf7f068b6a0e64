//! `/v1/trading`: strategies, lifecycle commands (as durable jobs), orders, connectors, PnL.
//!
//! Layout:
//! - `dto.rs`: request/response bodies (decimals as strings).
//! - `strategies.rs`: strategy CRUD and the detail view (state, positions, PnL).
//! - `commands.rs`: deploy/stop/pause/resume → 202 + job id.
//! - `reads.rs`: connectors, balances, orders, PnL report.
//! - `charts.rs`: cumulative realised PnL as a PNG.

pub mod charts;
pub mod commands;
pub mod dto;
pub mod reads;
pub mod strategies;

//! Typed configuration: `config.toml`, then environment (`APP__SECTION__KEY`, plus the plain
//! `DATABASE_URL`, `REDIS_URL`, `PORT`, `HOST` that container users expect).
//!
//! Every section has defaults (the same values `config.toml` documents; a test keeps the two
//! equal), unknown keys are rejected, and errors name the key and what is allowed.

mod ai;
mod backup;
mod binance;
mod finance;
mod load;
mod secret;
mod settings;
mod telegram;
mod trading;

pub use ai::{AiProvider, AiSettings, ModelPrice};
pub use backup::BackupSettings;
pub use binance::BinanceSettings;
pub use finance::FinanceSettings;
pub use load::{ConfigError, load};
pub use secret::{Secret, SecretUrl};
pub use settings::*;
pub use telegram::{TelegramMode, TelegramSettings};
pub use trading::{
    KrakenSettings, MarketDataSettings, PaperSettings, PriceSource, TradingSettings,
};

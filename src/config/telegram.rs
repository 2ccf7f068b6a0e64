//! `[telegram]`: the chat bot.

use super::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TelegramMode {
    /// `getUpdates` long polling: outbound HTTPS only (a NAS behind NAT).
    Polling,
    /// Telegram calls `POST {public_url}/v1/telegram/webhook`.
    Webhook,
}

// By hand: the `config` crate's enum errors do not list the allowed values.
impl<'de> Deserialize<'de> for TelegramMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        match value.to_ascii_lowercase().as_str() {
            "polling" => Ok(Self::Polling),
            "webhook" => Ok(Self::Webhook),
            _ => Err(serde::de::Error::custom(format!(
                "unknown value `{value}`, expected `polling` or `webhook`"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// Run the bot. Off by default: nothing talks to Telegram until you turn it on.
    pub enabled: bool,
    /// `polling` or `webhook` (then `public_url` is required).
    pub mode: TelegramMode,
    /// The Bot API server (tests point it at a local fake).
    pub api_base_url: String,
    /// `getUpdates` long-poll timeout (Telegram caps it at 50).
    pub poll_timeout_secs: u64,
    /// Updates older than this when they arrive are confirmed but never executed, so a
    /// restart never replays an old trading command.
    pub drop_pending_older_than_secs: u64,
    /// Webhook mode: the public HTTPS base URL Telegram can reach (ports 443, 80, 88, 8443).
    pub public_url: String,
    /// The bot token from BotFather. The settings API (`default/telegram`, secret
    /// `bot_token`) wins over this. Secret: set APP__TELEGRAM__BOT_TOKEN.
    pub bot_token: Secret,
    /// Newly imported/synced transactions of at least this absolute amount are announced
    /// with category buttons (decimal string).
    pub notify_min_amount: rust_decimal::Decimal,
    /// Minimum gap between two messages to one chat (after a burst of 3), in ms.
    pub per_chat_interval_ms: u64,
    /// Messages per second over all chats.
    pub global_per_second: u32,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: TelegramMode::Polling,
            api_base_url: "https://api.telegram.org".to_owned(),
            poll_timeout_secs: 50,
            drop_pending_older_than_secs: 120,
            public_url: String::new(),
            bot_token: Secret::default(),
            notify_min_amount: rust_decimal::Decimal::from(100),
            per_chat_interval_ms: 1000,
            global_per_second: 30,
        }
    }
}

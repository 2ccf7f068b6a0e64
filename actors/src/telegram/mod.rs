//! Telegram chat control: the pure parts (command parsing, name resolution, confirmation
//! tokens, message splitting and escaping, send pacing, the polling policy) and the
//! `TelegramActor`, which talks to Telegram only through the [`ports::TelegramApi`] port and
//! to the rest of the service through [`ports::ChatBackend`].
//!
//! Layout:
//! - `types.rs`: updates, messages and errors as the actor sees them.
//! - `ports.rs`: `TelegramApi`, `BotSource` (token + mode, re-read on `Reload`), `ChatBackend`.
//! - `command.rs`, `resolve.rs`, `tokens.rs`, `text.rs`, `pacing.rs`, `poll.rs`: pure parts.
//! - `session.rs`: one running bot: update handling, the send queue, the poll loop.
//! - `actor.rs`: the actor owning the session.

mod actor;
pub mod command;
pub mod pacing;
pub mod poll;
pub mod ports;
pub mod resolve;
mod session;
pub mod text;
pub mod tokens;
pub mod types;

pub use actor::{Incoming, Notify, Reload, TelegramActor};
pub use session::READINESS_NAME;

use std::time::Duration;

/// How the bot behaves (from `[telegram]` in the root crate's config).
#[derive(Debug, Clone, Copy)]
pub struct TelegramConfig {
    /// `getUpdates` long-poll timeout.
    pub poll_timeout: Duration,
    /// Updates older than this are confirmed but never acted on.
    pub drop_pending_older_than: Duration,
    pub poll: poll::PollConfig,
    pub pacing: pacing::PacingConfig,
    /// Largest statement file accepted from the chat.
    pub max_document_bytes: u64,
    /// An unlinked sender gets the "not linked" hint at most once per this long.
    pub unlinked_hint_every: Duration,
    /// Wait before reading the settings again when they could not be read.
    pub reload_retry: Duration,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            poll_timeout: Duration::from_secs(50),
            drop_pending_older_than: Duration::from_secs(120),
            poll: poll::PollConfig::default(),
            pacing: pacing::PacingConfig::default(),
            max_document_bytes: 10 * 1024 * 1024,
            unlinked_hint_every: Duration::from_secs(600),
            reload_retry: Duration::from_secs(5),
        }
    }
}

/// Metric names.
pub mod metrics_names {
    pub const UPDATES_TOTAL: &str = "telegram_updates_total";
    pub const UPDATES_DROPPED_TOTAL: &str = "telegram_updates_dropped_total";
    pub const COMMANDS_TOTAL: &str = "telegram_commands_total";
    pub const SEND_ERRORS_TOTAL: &str = "telegram_send_errors_total";
    pub const CONFLICTS_TOTAL: &str = "telegram_conflicts_total";
}

pub fn describe_metrics() {
    use metrics_names as m;
    metrics::describe_counter!(m::UPDATES_TOTAL, "Telegram updates received, by kind.");
    metrics::describe_counter!(
        m::UPDATES_DROPPED_TOTAL,
        "Telegram updates older than drop_pending_older_than_secs, confirmed but not acted on."
    );
    metrics::describe_counter!(
        m::COMMANDS_TOTAL,
        "Telegram commands and button presses handled, by command and outcome."
    );
    metrics::describe_counter!(
        m::SEND_ERRORS_TOTAL,
        "Bot API calls that failed, by error code (`network` when there was no answer)."
    );
    metrics::describe_counter!(
        m::CONFLICTS_TOTAL,
        "getUpdates answered 409: another poller or a webhook uses the same bot token."
    );
    metrics::counter!(m::CONFLICTS_TOTAL).increment(0);
}

//! The ports of the Telegram actor: the Bot API, where the bot's settings come from, and the
//! backend that knows users, links and what each command does.

use super::command::Invocation;
use super::types::{BotMode, Document, OutMessage, TelegramError, TgUser, Update};
use crate::TraceId;
use crate::ports::DependencyError;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// The Bot API calls the actor makes.
#[async_trait]
pub trait TelegramApi: Send + Sync + 'static {
    /// The bot's own user (its username tells `/cmd@thisbot` from `/cmd@otherbot`).
    async fn get_me(&self) -> Result<TgUser, TelegramError>;
    /// Long poll. `offset` confirms every update before it.
    async fn get_updates(
        &self,
        offset: Option<i64>,
        timeout: Duration,
        allowed_updates: &[&str],
    ) -> Result<Vec<Update>, TelegramError>;
    /// Returns the new message's id.
    async fn send_message(&self, message: &OutMessage) -> Result<i64, TelegramError>;
    async fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: &str,
    ) -> Result<(), TelegramError>;
    async fn answer_callback_query(
        &self,
        id: &str,
        text: Option<&str>,
    ) -> Result<(), TelegramError>;
    async fn send_photo(
        &self,
        chat_id: i64,
        png: Vec<u8>,
        caption: &str,
    ) -> Result<i64, TelegramError>;
    /// `(command, description)` pairs.
    async fn set_my_commands(&self, commands: &[(String, String)]) -> Result<(), TelegramError>;
    async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), TelegramError>;
    async fn delete_webhook(&self) -> Result<(), TelegramError>;
    /// Downloads a file the user sent (`getFile`, then the file path), refusing more than
    /// `max_bytes`.
    async fn download(&self, file_id: &str, max_bytes: u64) -> Result<Vec<u8>, TelegramError>;
}

/// A configured bot: a client holding the token, and how updates arrive.
#[derive(Clone)]
pub struct Bot {
    pub api: Arc<dyn TelegramApi>,
    pub mode: BotMode,
    /// Changes whenever the token or the mode changes (a hash, never the token).
    pub fingerprint: String,
}

/// Where the bot's token and mode come from (settings API or environment), read again on
/// `Reload`: a new token or mode applies without a restart.
#[async_trait]
pub trait BotSource: Send + Sync + 'static {
    /// `None`: no token configured (the bot stays off, readiness says so).
    async fn load(&self) -> Result<Option<Bot>, DependencyError>;
}

/// Our user a Telegram user is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedUser {
    pub user_id: String,
    pub username: String,
    /// `viewer`, `trader` or `admin`, read at each command (a role change applies at once).
    pub role: String,
}

/// What a command or a button press answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// HTML text (split if long).
    Text(String),
    /// Ask yes/no first; on yes the backend's [`ChatBackend::choose`] gets `action`.
    Confirm { text: String, action: String },
    /// A keyboard of options (label, action); one press runs its action.
    Choose {
        text: String,
        options: Vec<(String, String)>,
    },
    /// A chart with a caption, then text.
    Photo {
        png: Vec<u8>,
        caption: String,
        text: String,
    },
    /// Several messages in order (a list where each item has its own buttons).
    Many(Vec<Reply>),
}

/// A reply and how the command went (`ok`, `refused`, `not_found`, `invalid`, `error`,
/// `unavailable` for an AI question the service cannot answer now), for
/// `telegram_commands_total{outcome}` and the audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    pub reply: Reply,
    pub outcome: &'static str,
}

impl Handled {
    pub fn ok(reply: Reply) -> Self {
        Self {
            reply,
            outcome: "ok",
        }
    }

    pub fn text(outcome: &'static str, text: impl Into<String>) -> Self {
        Self {
            reply: Reply::Text(text.into()),
            outcome,
        }
    }
}

/// Why `/link CODE` did not link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefused {
    #[error("unknown code")]
    Unknown,
    #[error("this code has expired")]
    Expired,
    #[error("this code was already used")]
    Used,
    #[error("{0}")]
    Unavailable(String),
}

/// One audit row per command and per button press.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAudit {
    pub trace_id: TraceId,
    pub telegram_user: String,
    pub user: Option<String>,
    /// `telegram.command`, `telegram.callback`, `telegram.unlinked`, `telegram.link`.
    pub action: &'static str,
    /// The command or button (`/stop btc-grid`).
    pub target: String,
    pub outcome: String,
}

/// Users, links and what each command does (the root crate: storage, access table, jobs).
#[async_trait]
pub trait ChatBackend: Send + Sync + 'static {
    async fn linked_user(
        &self,
        telegram_user_id: i64,
    ) -> Result<Option<LinkedUser>, DependencyError>;
    /// `/link CODE`: binds the sender's Telegram user id to the code's owner.
    async fn link(
        &self,
        code: &str,
        from: &TgUser,
        chat_id: i64,
        trace_id: &TraceId,
    ) -> Result<LinkedUser, LinkRefused>;
    /// Runs a command for a linked user (authorizing it with the user's current role).
    async fn command(
        &self,
        user: &LinkedUser,
        invocation: &Invocation,
        trace_id: &TraceId,
    ) -> Handled;
    /// Runs an action a button stood for (after a confirmation or a choice).
    async fn choose(&self, user: &LinkedUser, action: &str, trace_id: &TraceId) -> Handled;
    /// A file sent to the bot (a statement to import), already downloaded.
    async fn document(
        &self,
        user: &LinkedUser,
        document: &Document,
        bytes: Vec<u8>,
        trace_id: &TraceId,
    ) -> Handled;
    fn audit(&self, entry: ChatAudit);
}

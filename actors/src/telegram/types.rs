//! What the Bot API sends and what we send back, as the actor sees it (the adapter maps the
//! wire JSON to these). Ids are i64: user ids exceed 32 bits, group chat ids are negative.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgUser {
    pub id: i64,
    pub is_bot: bool,
    pub first_name: String,
    pub username: Option<String>,
}

impl TgUser {
    /// How audit rows name a Telegram user: `tg:123456789` (`tg:123456789:@ana_k`).
    pub fn label(&self) -> String {
        match &self.username {
            Some(u) => format!("tg:{}:@{u}", self.id),
            None => format!("tg:{}", self.id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub file_id: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    pub message_id: i64,
    pub chat_id: i64,
    pub from: Option<TgUser>,
    /// Unix seconds.
    pub date: i64,
    pub text: Option<String>,
    pub document: Option<Document>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackQuery {
    pub id: String,
    pub from: TgUser,
    /// The message carrying the keyboard: `(chat_id, message_id)`; `None` when Telegram
    /// sends an inaccessible message.
    pub message: Option<(i64, i64)>,
    pub data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateKind {
    Message(IncomingMessage),
    Callback(CallbackQuery),
    /// Anything else (edited messages, reactions, …): confirmed and ignored.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub update_id: i64,
    pub kind: UpdateKind,
}

impl Update {
    /// `message`, `callback_query` or `other` (the `kind` label of `telegram_updates_total`).
    pub fn kind_label(&self) -> &'static str {
        match self.kind {
            UpdateKind::Message(_) => "message",
            UpdateKind::Callback(_) => "callback_query",
            UpdateKind::Other => "other",
        }
    }

    /// When it was sent, if the update says (callbacks do not).
    pub fn date(&self) -> Option<i64> {
        match &self.kind {
            UpdateKind::Message(m) => Some(m.date),
            _ => None,
        }
    }
}

/// A Bot API call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// No answer (connection refused, timeout, undecodable body).
    #[error("network: {0}")]
    Network(String),
    /// `{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}`.
    #[error("telegram {code}: {description}")]
    Api {
        code: i64,
        description: String,
        retry_after: Option<u64>,
    },
}

impl TelegramError {
    /// The `code` label of `telegram_send_errors_total`.
    pub fn code_label(&self) -> String {
        match self {
            Self::Network(_) => "network".to_owned(),
            Self::Api { code, .. } => code.to_string(),
        }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Api { code: 409, .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api {
                code: 429,
                retry_after,
                ..
            } => Some(Duration::from_secs(retry_after.unwrap_or(1))),
            _ => None,
        }
    }

    /// `editMessageText` with the same content: harmless.
    pub fn is_not_modified(&self) -> bool {
        matches!(self, Self::Api { code: 400, description, .. } if description.contains("message is not modified"))
    }
}

/// One inline keyboard button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub text: String,
    pub callback_data: String,
}

/// A text message to send (`parse_mode = HTML`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub chat_id: i64,
    pub text: String,
    pub keyboard: Vec<Vec<Button>>,
    /// `disable_notification`: delivered without a sound.
    pub silent: bool,
}

/// The bot's mode, as the settings say.
#[derive(Clone, PartialEq, Eq)]
pub enum BotMode {
    Polling,
    /// Telegram pushes updates to `url` with `secret` in `X-Telegram-Bot-Api-Secret-Token`.
    Webhook {
        url: String,
        secret: String,
    },
}

impl fmt::Debug for BotMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Polling => f.write_str("Polling"),
            Self::Webhook { url, .. } => write!(f, "Webhook({url})"),
        }
    }
}

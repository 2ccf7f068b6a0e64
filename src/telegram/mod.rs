//! Telegram on the service: storage, the `ChatBackend` (commands through the access table and
//! the durable jobs), where the token comes from, notifications from the event bus.
//!
//! Layout:
//! - `store.rs`: links, link codes (hashed), notification dedupe, preferences.
//! - `prefs.rs`: notification kinds and `on | silent | off`.
//! - `backend.rs`: `SqlChatBackend`, what each command does and who may run it.
//! - `ask.rs`: `/ask` and plain text, answered by the AI's tool loop.
//! - `finance.rs`: statement files from the chat, category taps, category suggestions.
//! - `source.rs`: the bot token and mode (settings API first, then config), re-read on reload.
//! - `notify.rs`: event subscribers fanning notifications out to linked users.
//! - `jobs.rs`: the `daily_summary` job (run it from a cron schedule).

pub mod ask;
pub mod backend;
pub mod finance;
pub mod jobs;
pub mod notify;
pub mod prefs;
pub mod source;
pub mod store;

use crate::config::TelegramSettings;
use crate::crypto::Cipher;
use crate::db::DbHandle;
use actors::supervise::{ActorRef, Supervisor};
use actors::telegram::{Reload, TelegramActor, TelegramConfig};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// What the API needs of the bot: its actor (absent when disabled) and the webhook secret.
#[derive(Clone)]
pub struct Telegram {
    pub actor: Option<ActorRef<TelegramActor>>,
    pub webhook_secret: Arc<str>,
}

impl Telegram {
    /// Re-reads token and mode (after a settings change): no restart needed.
    pub fn reload(&self) {
        if let Some(a) = &self.actor {
            let _ = a.try_tell(Reload);
        }
    }
}

/// 48 characters of `[A-Za-z0-9]` (Telegram allows 1-256 of `A-Za-z0-9_-`).
fn webhook_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..48)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn actor_config(s: &TelegramSettings) -> TelegramConfig {
    let mut c = TelegramConfig {
        poll_timeout: Duration::from_secs(s.poll_timeout_secs),
        drop_pending_older_than: Duration::from_secs(s.drop_pending_older_than_secs),
        ..TelegramConfig::default()
    };
    c.pacing.per_chat = Duration::from_millis(s.per_chat_interval_ms);
    c.pacing.global_per_sec = s.global_per_second;
    c
}

/// Starts the bot under `supervisor` when enabled. `state` is filled once the app state exists.
pub fn start(
    supervisor: &mut Supervisor,
    settings: &TelegramSettings,
    db: &DbHandle,
    cipher: Arc<Cipher>,
    state: backend::StateCell,
) -> Telegram {
    actors::telegram::describe_metrics();
    let secret = webhook_secret();
    if !settings.enabled {
        return Telegram {
            actor: None,
            webhook_secret: secret.into(),
        };
    }
    let source = Arc::new(source::SettingsBotSource {
        db: db.clone(),
        cipher,
        settings: settings.clone(),
        webhook_secret: secret.clone(),
    });
    let backend = Arc::new(backend::SqlChatBackend {
        state,
        transition_wait: Duration::from_secs(20),
        pending: Default::default(),
    });
    let config = actor_config(settings);
    let actor = supervisor.spawn("telegram", move |child| {
        TelegramActor::new(
            Arc::clone(&source) as Arc<dyn actors::telegram::ports::BotSource>,
            Arc::clone(&backend) as Arc<dyn actors::telegram::ports::ChatBackend>,
            config,
            &child,
        )
    });
    Telegram {
        actor: Some(actor),
        webhook_secret: secret.into(),
    }
}

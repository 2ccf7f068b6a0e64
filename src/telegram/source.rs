//! Where the bot's token and mode come from: the integration setting `default/telegram`
//! (secret `bot_token`, optional secret `public_url` = webhook mode), else `[telegram]` in the
//! configuration. Read again on every `Reload`, so the settings API applies without a restart.

use crate::adapters::telegram::{self as adapter, BotApi};
use crate::config::{TelegramMode, TelegramSettings};
use crate::crypto::Cipher;
use crate::db::DbHandle;
use actors::ports::DependencyError;
use actors::telegram::ports::{Bot, BotSource};
use actors::telegram::types::BotMode;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub struct SettingsBotSource {
    pub db: DbHandle,
    pub cipher: Arc<Cipher>,
    pub settings: TelegramSettings,
    /// The secret Telegram must echo to the webhook (generated per process).
    pub webhook_secret: String,
}

async fn secret(
    db: &crate::db::Db,
    cipher: &Cipher,
    name: &str,
) -> Result<Option<SecretString>, DependencyError> {
    crate::db::integrations::secret(db, cipher, adapter::ENVIRONMENT, adapter::PROVIDER, name)
        .await
        .map_err(|e| DependencyError(format!("telegram settings: {e}")))
}

#[async_trait]
impl BotSource for SettingsBotSource {
    async fn load(&self) -> Result<Option<Bot>, DependencyError> {
        let db = self.db.port()?;
        let token = match secret(&db, &self.cipher, adapter::TOKEN_SECRET).await? {
            Some(t) => t,
            None if self.settings.bot_token.is_set() => {
                SecretString::from(self.settings.bot_token.expose().to_owned())
            }
            None => return Ok(None),
        };
        let public_url = match secret(&db, &self.cipher, adapter::PUBLIC_URL_SECRET).await? {
            Some(u) => Some(u.expose_secret().to_owned()),
            None if self.settings.mode == TelegramMode::Webhook => {
                Some(self.settings.public_url.clone())
            }
            None => None,
        };
        let mode = match public_url {
            Some(base) => BotMode::Webhook {
                url: format!("{}/v1/telegram/webhook", base.trim_end_matches('/')),
                secret: self.webhook_secret.clone(),
            },
            None => BotMode::Polling,
        };
        let mut h = Sha256::new();
        h.update(token.expose_secret().as_bytes());
        h.update(format!("{mode:?}").as_bytes());
        let fingerprint = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let api = BotApi::new(&self.settings.api_base_url, token)
            .map_err(|e| DependencyError(e.to_string()))?;
        Ok(Some(Bot {
            api: Arc::new(api),
            mode,
            fingerprint,
        }))
    }
}

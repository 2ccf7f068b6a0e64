//! [`KrakenSetup`] from the integration setting `default/kraken`: its mode (`sandbox` |
//! `live`) and the secrets `api_key` and `api_secret`, decrypted only here, when the
//! connector (re)reads them.

use crate::adapters::kraken::connector::{ENVIRONMENT, KrakenAccess, KrakenSetup, PROVIDER};
use crate::crypto::Cipher;
use crate::db::{DbHandle, integrations};
use async_trait::async_trait;
use std::sync::Arc;

pub struct SqlKrakenSetup {
    pub db: DbHandle,
    pub cipher: Arc<Cipher>,
}

#[async_trait]
impl KrakenSetup for SqlKrakenSetup {
    #[tracing::instrument(skip_all)]
    async fn load(&self) -> Result<Option<KrakenAccess>, String> {
        let db = self.db.port().map_err(|e| e.to_string())?;
        let Some((setting, _)) = integrations::get(&db, ENVIRONMENT, PROVIDER)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let secret = |name: &'static str| {
            let db = db.clone();
            async move {
                integrations::secret(&db, &self.cipher, ENVIRONMENT, PROVIDER, name)
                    .await
                    .map_err(|e| format!("{e:#}"))?
                    .ok_or_else(|| {
                        format!("the setting {ENVIRONMENT}/{PROVIDER} has no secret `{name}`")
                    })
            }
        };
        Ok(Some(KrakenAccess {
            live: setting.mode == "live",
            api_key: secret("api_key").await?,
            api_secret: secret("api_secret").await?,
        }))
    }
}

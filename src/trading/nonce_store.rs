//! [`NonceStore`] on SQLite/Postgres (`venue_nonces`): Kraken's nonce reservation survives
//! restarts.

use crate::adapters::kraken::nonce::NonceStore;
use crate::db::{DbHandle, Sql};
use async_trait::async_trait;

pub struct SqlNonceStore(pub DbHandle);

#[async_trait]
impl NonceStore for SqlNonceStore {
    #[tracing::instrument(skip_all, fields(key))]
    async fn reserved(&self, key: &str) -> Result<Option<u64>, String> {
        let db = self.0.port().map_err(|e| e.to_string())?;
        let sql = Sql::new("SELECT reserved FROM venue_nonces WHERE nonce_key = $1").bind(key);
        let v: Option<i64> = db
            .fetch_scalar_optional(sql)
            .await
            .map_err(|e| e.to_string())?;
        Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
    }

    #[tracing::instrument(skip_all, fields(key))]
    async fn reserve(&self, key: &str, value: u64) -> Result<(), String> {
        let db = self.0.port().map_err(|e| e.to_string())?;
        let value = i64::try_from(value).map_err(|e| e.to_string())?;
        // Never lowers it: two instances racing on one key keep the higher reservation.
        let sql = Sql::new(
            "INSERT INTO venue_nonces (nonce_key, reserved) VALUES ($1, $2) \
             ON CONFLICT (nonce_key) DO UPDATE SET reserved = \
             CASE WHEN excluded.reserved > venue_nonces.reserved THEN excluded.reserved ELSE venue_nonces.reserved END",
        )
        .bind(key)
        .bind(value);
        db.execute(sql).await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

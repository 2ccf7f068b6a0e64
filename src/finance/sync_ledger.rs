//! [`SyncLedger`] for `BankSyncActor`: accounts, provider credentials (decrypted only here,
//! at the moment of use) and the shared ingest path.

use super::{accounts, ingest};
use crate::adapters::simplefin::{self, SimpleFin};
use crate::crypto::Cipher;
use crate::db::{Db, DbHandle};
use actors::TraceId;
use actors::finance::StatementLine;
use actors::finance::bank::{BankError, BankProvider};
use actors::finance::bank_sync::{SyncAccount, SyncError, SyncLedger, SyncSummary};
use actors::ports::DependencyError;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

pub struct SqlSyncLedger {
    pub db: DbHandle,
    pub cipher: Arc<Cipher>,
}

impl SqlSyncLedger {
    fn db(&self) -> Result<Db, DependencyError> {
        self.db.port()
    }
}

#[async_trait]
impl SyncLedger for SqlSyncLedger {
    async fn account(&self, id: &str) -> Result<Option<SyncAccount>, DependencyError> {
        let db = self.db()?;
        let Some(a) = accounts::get(&db, id)
            .await
            .map_err(|e| DependencyError(e.to_string()))?
        else {
            return Ok(None);
        };
        Ok(Some(SyncAccount {
            id: a.id,
            provider: simplefin::PROVIDER.to_owned(),
            external_ref: a.external_ref.unwrap_or_default(),
            last_synced_at: a.last_synced_at,
        }))
    }

    async fn provider(&self, name: &str) -> Result<Arc<dyn BankProvider>, SyncError> {
        if name != simplefin::PROVIDER {
            return Err(SyncError::Setup(format!("unknown bank provider `{name}`")));
        }
        let db = self.db()?;
        let secret = crate::db::integrations::secret(
            &db,
            &self.cipher,
            simplefin::ENVIRONMENT,
            simplefin::PROVIDER,
            simplefin::SECRET,
        )
        .await
        .map_err(|e| SyncError::Retry(format!("{e:#}")))?
        .ok_or_else(|| {
            SyncError::Setup(format!(
                "no SimpleFIN access URL: PUT /v1/settings/integrations/{}/{} with secret `{}`",
                simplefin::ENVIRONMENT,
                simplefin::PROVIDER,
                simplefin::SECRET
            ))
        })?;
        Ok(Arc::new(SimpleFin::new(&secret, Duration::from_secs(30))?))
    }

    async fn ingest(
        &self,
        account_id: &str,
        lines: &[StatementLine],
        trace_id: &TraceId,
    ) -> Result<SyncSummary, SyncError> {
        let db = self.db()?;
        let account = accounts::get(&db, account_id)
            .await
            .map_err(|e| SyncError::Retry(e.to_string()))?
            .ok_or_else(|| SyncError::NotFound(format!("no account {account_id}")))?;
        if account.external_ref.as_deref().is_none_or(str::is_empty) {
            return Err(SyncError::Setup(
                "the account is not linked: set its external_ref to the provider's account id"
                    .to_owned(),
            ));
        }
        let retry = |e: crate::db::DbError| SyncError::Retry(e.to_string());
        // The rows and their categorization job commit together, so the job is never lost.
        let mut tx = db.begin_write().await.map_err(retry)?;
        let out = ingest::ingest_in(
            &mut tx,
            &account,
            lines,
            &ingest::IngestOptions::default(),
            trace_id,
        )
        .await
        .map_err(|e| match e {
            ingest::IngestError::Currency { .. } | ingest::IngestError::Precision { .. } => {
                SyncError::Bank(BankError::Provider(e.to_string()))
            }
            other => SyncError::Retry(other.to_string()),
        })?;
        if out.inserted + out.updated > 0 {
            let (from, to) = lines
                .iter()
                .fold((lines[0].booked, lines[0].booked), |(a, b), l| {
                    (a.min(l.booked), b.max(l.booked))
                });
            let payload = super::jobs::CategorizePayload::Range {
                from: from.to_string(),
                to: to.to_string(),
                account_id: Some(account_id.to_owned()),
            };
            let spec = super::jobs::categorize_spec(&payload, None, trace_id);
            crate::jobs::store::enqueue_in(&mut tx, &spec)
                .await
                .map_err(retry)?;
        }
        tx.commit().await.map_err(retry)?;
        accounts::touch_synced(&db, account_id, chrono::Utc::now().timestamp_millis())
            .await
            .map_err(|e| SyncError::Retry(e.to_string()))?;
        Ok(SyncSummary {
            fetched: lines.len() as u64,
            inserted: out.inserted,
            updated: out.updated,
            duplicates: out.duplicates,
        })
    }
}

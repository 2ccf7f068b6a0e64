//! `BankSyncActor`: runs `sync_bank` for one account at a time: asks the provider for the
//! account's recent transactions and hands them to the ledger, which dedupes them (bank ids,
//! pending → booked) exactly as file imports are. Counted in `transactions_synced_total`.

use super::bank::{BankError, BankProvider};
use super::types::StatementLine;
use crate::TraceId;
use crate::ports::DependencyError;
use actix::prelude::*;
use async_trait::async_trait;
use chrono::NaiveDate;
use std::sync::Arc;

pub const TRANSACTIONS_SYNCED_TOTAL: &str = "transactions_synced_total";

/// The account as the sync needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAccount {
    pub id: String,
    pub provider: String,
    /// The provider's id of the account.
    pub external_ref: String,
    /// Last successful sync (Unix ms).
    pub last_synced_at: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncSummary {
    pub fetched: u64,
    pub inserted: u64,
    pub updated: u64,
    pub duplicates: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    NotFound(String),
    /// Configuration the user must fix (no credentials, account not linked, …).
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Bank(#[from] BankError),
    /// Storage trouble or a lock held by another import: retry later.
    #[error("{0}")]
    Retry(String),
}

impl From<DependencyError> for SyncError {
    fn from(e: DependencyError) -> Self {
        Self::Retry(e.0)
    }
}

/// What the sync needs from the rest of the service.
#[async_trait]
pub trait SyncLedger: Send + Sync + 'static {
    async fn account(&self, id: &str) -> Result<Option<SyncAccount>, DependencyError>;
    /// The provider client for `name`, with its stored credentials.
    async fn provider(&self, name: &str) -> Result<Arc<dyn BankProvider>, SyncError>;
    /// Stores the lines (deduplicated) and records the sync time.
    async fn ingest(
        &self,
        account_id: &str,
        lines: &[StatementLine],
        trace_id: &TraceId,
    ) -> Result<SyncSummary, SyncError>;
}

/// Days re-read before the last sync (pending transactions book late; banks backdate).
const OVERLAP_DAYS: i64 = 10;
/// Days read on the first sync.
const FIRST_SYNC_DAYS: i64 = 90;

// ---- messages ------------------------------------------------------------------------

#[derive(Message)]
#[rtype(result = "Result<SyncSummary, SyncError>")]
pub struct SyncNow {
    pub account_id: String,
    pub trace_id: TraceId,
}

// ---- state ---------------------------------------------------------------------------

pub struct BankSyncActor {
    ledger: Arc<dyn SyncLedger>,
    today: Arc<dyn Fn() -> NaiveDate + Send + Sync>,
}

impl BankSyncActor {
    pub fn new(
        ledger: Arc<dyn SyncLedger>,
        today: Arc<dyn Fn() -> NaiveDate + Send + Sync>,
    ) -> Self {
        describe_metrics();
        Self { ledger, today }
    }
}

pub fn describe_metrics() {
    metrics::describe_counter!(
        TRANSACTIONS_SYNCED_TOTAL,
        "Transactions added or booked by bank syncs."
    );
}

impl Actor for BankSyncActor {
    type Context = Context<Self>;
}

// ---- handlers ------------------------------------------------------------------------

impl Handler<SyncNow> for BankSyncActor {
    // One sync at a time: providers rate-limit, and the ledger locks per account anyway.
    type Result = AtomicResponse<Self, Result<SyncSummary, SyncError>>;

    fn handle(&mut self, msg: SyncNow, _: &mut Context<Self>) -> Self::Result {
        let (ledger, today) = (Arc::clone(&self.ledger), (self.today)());
        let span =
            tracing::info_span!("sync_bank", account = %msg.account_id, trace_id = %msg.trace_id);
        let fut = async move {
            let account = ledger
                .account(&msg.account_id)
                .await?
                .ok_or_else(|| SyncError::NotFound(format!("no account {}", msg.account_id)))?;
            let since = account.last_synced_at.map_or(
                today - chrono::Duration::days(FIRST_SYNC_DAYS),
                |ms| {
                    chrono::DateTime::from_timestamp_millis(ms).map_or(today, |t| t.date_naive())
                        - chrono::Duration::days(OVERLAP_DAYS)
                },
            );
            let provider = ledger.provider(&account.provider).await?;
            let accounts = provider.fetch(since).await?;
            let remote = accounts
                .into_iter()
                .find(|a| a.id == account.external_ref)
                .ok_or_else(|| {
                    SyncError::Setup(format!(
                        "the {} credentials do not include account `{}`",
                        provider.name(),
                        account.external_ref
                    ))
                })?;
            let mut summary = ledger
                .ingest(&account.id, &remote.transactions, &msg.trace_id)
                .await?;
            summary.fetched = remote.transactions.len() as u64;
            metrics::counter!(TRANSACTIONS_SYNCED_TOTAL, "provider" => provider.name())
                .increment(summary.inserted + summary.updated);
            tracing::info!(
                fetched = summary.fetched,
                inserted = summary.inserted,
                updated = summary.updated,
                "bank sync done"
            );
            Ok(summary)
        };
        use tracing::Instrument;
        AtomicResponse::new(Box::pin(fut.instrument(span).into_actor(self)))
    }
}

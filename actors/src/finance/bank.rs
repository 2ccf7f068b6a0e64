//! The `BankProvider` port: a source of accounts and transactions (SimpleFIN Bridge today;
//! GoCardless/Plaid-style aggregators later), implemented outside this crate.

use super::types::StatementLine;
use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// One account as the provider reports it, with the transactions asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    /// The provider's stable id for the account (stored as the account's external ref).
    pub id: String,
    pub name: String,
    pub institution: Option<String>,
    pub currency: String,
    pub balance: Option<Decimal>,
    /// Transactions with their provider ids as `external_id`; pending ones marked so.
    pub transactions: Vec<StatementLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// Credentials missing, revoked or wrong: retrying will not help until a human acts.
    #[error("bank credentials rejected: {0}")]
    Auth(String),
    /// The provider is down or answered garbage: worth retrying later.
    #[error("bank provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answered but reported a problem (shown to the user).
    #[error("bank provider error: {0}")]
    Provider(String),
}

#[async_trait]
pub trait BankProvider: Send + Sync + 'static {
    /// Provider name as stored in integration settings (`simplefin`).
    fn name(&self) -> &'static str;
    /// Accounts and their transactions posted on or after `since`. Providers return all
    /// accounts of the credentials; callers pick theirs by id.
    async fn fetch(&self, since: NaiveDate) -> Result<Vec<ProviderAccount>, BankError>;
}

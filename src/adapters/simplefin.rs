//! The SimpleFIN Bridge protocol (<https://www.simplefin.org/protocol.html>): an access URL
//! with embedded credentials (`https://user:pass@bridge/simplefin`), `GET /accounts?start-date=`
//! answering accounts with their transactions (amounts as decimal strings, times as Unix
//! seconds, `pending` flags). The access URL is stored encrypted in integration settings
//! (`default/simplefin`, secret `access_url`).

use actors::finance::bank::{BankError, BankProvider, ProviderAccount};
use actors::finance::{StatementLine, TxStatus};
use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::str::FromStr;
use std::time::Duration;

pub const PROVIDER: &str = "simplefin";
pub const ENVIRONMENT: &str = "default";
pub const SECRET: &str = "access_url";

pub struct SimpleFin {
    client: reqwest::Client,
    /// The access URL without credentials.
    base: url::Url,
    user: String,
    password: SecretString,
}

impl std::fmt::Debug for SimpleFin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleFin")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl SimpleFin {
    /// `access_url` as the bridge issued it (credentials included).
    pub fn new(access_url: &SecretString, timeout: Duration) -> Result<Self, BankError> {
        let mut url = url::Url::parse(access_url.expose_secret())
            .map_err(|e| BankError::Auth(format!("the SimpleFIN access URL is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(BankError::Auth(
                "the SimpleFIN access URL must be https".to_owned(),
            ));
        }
        let user = url.username().to_owned();
        let password = SecretString::from(url.password().unwrap_or_default().to_owned());
        if user.is_empty() {
            return Err(BankError::Auth(
                "the SimpleFIN access URL carries no credentials (https://user:pass@…)".to_owned(),
            ));
        }
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let client = crate::adapters::http_client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| BankError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            base: url,
            user,
            password,
        })
    }
}

#[derive(Debug, Deserialize)]
struct AccountSet {
    #[serde(default)]
    errors: Vec<String>,
    #[serde(default)]
    accounts: Vec<Account>,
}

#[derive(Debug, Deserialize)]
struct Org {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Account {
    id: String,
    name: String,
    currency: String,
    balance: String,
    #[serde(default)]
    org: Option<Org>,
    #[serde(default)]
    transactions: Vec<Transaction>,
}

#[derive(Debug, Deserialize)]
struct Transaction {
    id: String,
    /// Unix seconds; 0 for pending transactions at some banks.
    posted: i64,
    amount: String,
    description: String,
    #[serde(default)]
    payee: Option<String>,
    #[serde(default)]
    memo: Option<String>,
    #[serde(default)]
    transacted_at: Option<i64>,
    #[serde(default)]
    pending: Option<bool>,
}

fn date(secs: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.date_naive())
}

fn line(account: &Account, n: usize, t: &Transaction) -> Result<StatementLine, BankError> {
    let bad = |what: &str| {
        BankError::Provider(format!(
            "account {} transaction {}: {what}",
            account.id, t.id
        ))
    };
    let amount = Decimal::from_str(t.amount.trim()).map_err(|_| bad("amount is not a decimal"))?;
    let pending = t.pending.unwrap_or(false) || t.posted == 0;
    let booked = if t.posted > 0 {
        date(t.posted)
    } else {
        t.transacted_at.and_then(date)
    }
    .ok_or_else(|| bad("no usable date"))?;
    let description = match (&t.description, &t.memo) {
        (d, Some(m)) if !m.trim().is_empty() && !d.contains(m.trim()) => {
            format!("{} {}", d.trim(), m.trim())
        }
        (d, _) => d.trim().to_owned(),
    };
    Ok(StatementLine {
        source: format!("accounts[{}].transactions[{n}]", account.id),
        booked,
        value_date: t.transacted_at.and_then(date),
        amount,
        currency: None,
        description,
        counterparty: t.payee.clone().filter(|p| !p.trim().is_empty()),
        external_id: Some(t.id.clone()),
        status: if pending {
            TxStatus::Pending
        } else {
            TxStatus::Booked
        },
    })
}

#[async_trait]
impl BankProvider for SimpleFin {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn fetch(&self, since: NaiveDate) -> Result<Vec<ProviderAccount>, BankError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| BankError::Auth("the SimpleFIN access URL cannot be a base".to_owned()))?
            .pop_if_empty()
            .push("accounts");
        let start = since
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp());
        url.query_pairs_mut()
            .append_pair("start-date", &start.to_string())
            .append_pair("pending", "1");
        let res = self
            .client
            .get(url)
            .basic_auth(&self.user, Some(self.password.expose_secret()))
            .send()
            .await
            .map_err(|e| {
                BankError::Unavailable(format!("SimpleFIN bridge: {}", e.without_url()))
            })?;
        let status = res.status();
        if status == reqwest::StatusCode::FORBIDDEN || status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(BankError::Auth(
                "the SimpleFIN bridge refused the access URL (revoked or wrong); claim a new one"
                    .to_owned(),
            ));
        }
        if status == reqwest::StatusCode::PAYMENT_REQUIRED {
            return Err(BankError::Provider(
                "the SimpleFIN subscription needs payment".to_owned(),
            ));
        }
        if !status.is_success() {
            return Err(BankError::Unavailable(format!(
                "SimpleFIN bridge answered {status}"
            )));
        }
        let set: AccountSet = res.json().await.map_err(|e| {
            BankError::Unavailable(format!("SimpleFIN answer unreadable: {}", e.without_url()))
        })?;
        for e in &set.errors {
            tracing::warn!(error = %e, "SimpleFIN bridge reported a problem");
        }
        if set.accounts.is_empty() && !set.errors.is_empty() {
            return Err(BankError::Provider(set.errors.join("; ")));
        }
        set.accounts
            .iter()
            .map(|a| {
                Ok(ProviderAccount {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    institution: a
                        .org
                        .as_ref()
                        .and_then(|o| o.name.clone().or_else(|| o.domain.clone())),
                    currency: a.currency.to_uppercase(),
                    balance: Decimal::from_str(a.balance.trim()).ok(),
                    transactions: a
                        .transactions
                        .iter()
                        .enumerate()
                        .map(|(n, t)| line(a, n, t))
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect()
    }
}

//! What a statement file or a bank provider yields, before it is stored. Amounts are signed
//! decimals in the account's currency (negative = money out): never a float.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TxStatus {
    Pending,
    Booked,
}

impl TxStatus {
    /// The stored and wire form (derived, so it cannot drift from `parse`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Strict: anything but a known form is `None` (a stored unknown value is an error).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// One transaction as read from a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// Where it came from, for error messages and skipped-row lists: a 1-based line number
    /// (CSV, Norma 43, OFX 1.x) or an element position such as `Ntry[3]` (XML).
    pub source: String,
    pub booked: NaiveDate,
    pub value_date: Option<NaiveDate>,
    /// Signed: negative = debit (money out).
    pub amount: Decimal,
    /// ISO 4217 when the source says it.
    pub currency: Option<String>,
    pub description: String,
    pub counterparty: Option<String>,
    /// The bank's own id (OFX FITID, CAMT AcctSvcrRef/NtryRef, provider id), when given.
    pub external_id: Option<String>,
    pub status: TxStatus,
}

/// A parsed statement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// The account as the file names it (IBAN, account number), when it does.
    pub account_ref: Option<String>,
    pub currency: Option<String>,
    pub opening_balance: Option<Decimal>,
    pub closing_balance: Option<Decimal>,
    pub lines: Vec<StatementLine>,
}

/// A row or element that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct ParseIssue {
    /// `line 12`, `Ntry[3]/Amt`, `header`, …
    pub location: String,
    pub reason: String,
}

impl ParseIssue {
    pub fn new(location: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            reason: reason.into(),
        }
    }
}

/// The result of parsing a whole file: the good lines, and the bad rows that were skipped
/// over. Callers import nothing when `bad` is non-empty unless the user asked to skip them.
/// A file that is not of the format at all (or whose header is unreadable) is an `Err`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub statement: Statement,
    pub bad: Vec<ParseIssue>,
    /// What was read but not used, and why: an unreadable statement balance, for one. Not
    /// rows, so they never block an import; balances are informational (nothing stores them).
    pub warnings: Vec<ParseIssue>,
}

//! Saved CSV column-mapping profiles: how one bank's CSV export is laid out. Stored as JSON,
//! so unknown fields are rejected (a typo must not silently fall back to a default) and every
//! optional setting has a serde default.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvProfile {
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// Lines before the header (a bank preamble), skipped unread.
    #[serde(default)]
    pub skip_rows: usize,
    #[serde(default)]
    pub encoding: CsvEncoding,
    #[serde(default = "default_decimal")]
    pub decimal_separator: char,
    #[serde(default)]
    pub thousands_separator: Option<char>,
    /// chrono strftime; may include time fields (the date part is kept).
    #[serde(default = "default_date_format")]
    pub date_format: String,
    #[serde(default)]
    pub invert_sign: bool,
    pub columns: CsvColumns,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvColumns {
    pub date: Column,
    #[serde(default)]
    pub value_date: Option<Column>,
    /// Signed amount (negative = money out).
    #[serde(default)]
    pub amount: Option<Column>,
    /// Money out, written positive.
    #[serde(default)]
    pub debit: Option<Column>,
    /// Money in.
    #[serde(default)]
    pub credit: Option<Column>,
    pub description: Column,
    #[serde(default)]
    pub counterparty: Option<Column>,
    #[serde(default)]
    pub external_id: Option<Column>,
    #[serde(default)]
    pub currency: Option<Column>,
}

/// A column by 0-based index, or by header name (case-insensitive, trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    Index(usize),
    Name(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsvEncoding {
    /// A byte-order mark is stripped.
    #[default]
    Utf8,
    Latin1,
    Windows1252,
}

fn default_delimiter() -> char {
    ','
}

fn default_true() -> bool {
    true
}

fn default_decimal() -> char {
    '.'
}

fn default_date_format() -> String {
    "%Y-%m-%d".to_owned()
}

impl CsvProfile {
    /// Field errors as (field path like "columns.amount", message): amount XOR (debit and/or
    /// credit) required; names need has_header; date_format must format/parse a date (tested
    /// with a sample); delimiter not equal to decimal separator; etc.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut error = |field: &str, message: &str| {
            errors.push((field.to_owned(), message.to_owned()));
        };
        let d = self.delimiter;
        if !d.is_ascii() || matches!(d, '"' | '\n' | '\r') || d.is_ascii_alphanumeric() {
            error(
                "delimiter",
                "must be a single ASCII punctuation or whitespace character",
            );
        }
        let dec = self.decimal_separator;
        if dec.is_ascii_digit() || matches!(dec, '-' | '+') || dec.is_whitespace() {
            error(
                "decimal_separator",
                "must be a separator such as '.' or ','",
            );
        } else if dec == d {
            error("decimal_separator", "must differ from the delimiter");
        }
        if let Some(t) = self.thousands_separator {
            if t == dec {
                error(
                    "thousands_separator",
                    "must differ from the decimal separator",
                );
            } else if t.is_ascii_digit() || matches!(t, '-' | '+') {
                error(
                    "thousands_separator",
                    "must be a separator such as '.', ',' or ' '",
                );
            }
        }
        if let Err(message) = check_date_format(&self.date_format) {
            error("date_format", &message);
        }

        let c = &self.columns;
        let split = c.debit.is_some() || c.credit.is_some();
        if c.amount.is_some() && split {
            error(
                "columns.amount",
                "give either an amount column or debit/credit columns, not both",
            );
        } else if c.amount.is_none() && !split {
            error(
                "columns.amount",
                "an amount column, or debit and/or credit columns, is required",
            );
        }
        for (field, column) in self.named_columns() {
            match column {
                Column::Name(name) if name.trim().is_empty() => {
                    error(field, "column name is empty");
                }
                Column::Name(_) if !self.has_header => {
                    error(
                        field,
                        "a column name needs has_header; use a 0-based index instead",
                    );
                }
                _ => {}
            }
        }
        errors
    }

    /// Every mapped column with its field path.
    pub(super) fn named_columns(&self) -> Vec<(&'static str, &Column)> {
        let c = &self.columns;
        let optional = [
            ("columns.value_date", &c.value_date),
            ("columns.amount", &c.amount),
            ("columns.debit", &c.debit),
            ("columns.credit", &c.credit),
            ("columns.counterparty", &c.counterparty),
            ("columns.external_id", &c.external_id),
            ("columns.currency", &c.currency),
        ];
        let mut all = vec![
            ("columns.date", &c.date),
            ("columns.description", &c.description),
        ];
        all.extend(
            optional
                .into_iter()
                .filter_map(|(f, col)| Some((f, col.as_ref()?))),
        );
        all
    }
}

/// Formats a sample date-time with the format and reads it back: catches invalid specifiers,
/// zone fields chrono cannot format, and formats that lose the day, month or year.
fn check_date_format(format: &str) -> Result<(), String> {
    let sample = NaiveDate::from_ymd_opt(2024, 12, 31)
        .and_then(|d| d.and_hms_opt(13, 45, 56))
        .ok_or("internal: bad sample date")?;
    let mut written = String::new();
    if write!(written, "{}", sample.format(format)).is_err() {
        return Err(format!("{format:?} is not a valid date format"));
    }
    match NaiveDate::parse_from_str(&written, format) {
        Ok(date) if date == sample.date() => Ok(()),
        Ok(date) => Err(format!("{format:?} reads {written:?} back as {date}")),
        Err(e) => Err(format!("{format:?} cannot read its own dates back ({e})")),
    }
}

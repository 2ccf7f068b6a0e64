//! CSV statements, read through a saved [`CsvProfile`] (a bank's column layout, separators,
//! date format and encoding): CSV itself cannot say which column is what.
//!
//! - The profile is validated first; its first error is an `Err` at `profile.<field>`. A named
//!   column missing from the header is an `Err` at `header`.
//! - `skip_rows` drops physical lines before the header unread (a preamble need not be CSV);
//!   line numbers in locations still count them.
//! - Blank rows (empty, or only delimiters) are skipped. A row with a different number of
//!   cells than the header (or, without a header, the first row) is a bad row.
//! - Debit/credit columns: empty cells are zero and signs written in them are ignored (some
//!   banks print debits as negative): amount = |credit| − |debit|. A row with neither, or with
//!   both non-zero, is a bad row.
//! - A `utf8` profile and bytes that are not UTF-8 refuse the whole file, naming the lines
//!   (the encoding is a property of the file: a partial import would be wrong too).
//! - Every line is `Booked`; external id, counterparty and currency only from mapped columns.

mod profile;

pub use profile::{Column, CsvColumns, CsvEncoding, CsvProfile};

use super::text::{
    LineCounter, collapse_ws, decode_latin1, decode_utf8_strict, non_empty, parse_amount,
};
use crate::finance::{ParseIssue, Parsed, StatementLine, TxStatus};
use ::csv::{ReaderBuilder, StringRecord};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Resolved 0-based column indices.
struct Columns {
    date: usize,
    value_date: Option<usize>,
    amount: Option<usize>,
    debit: Option<usize>,
    credit: Option<usize>,
    description: usize,
    counterparty: Option<usize>,
    external_id: Option<usize>,
    currency: Option<usize>,
}

pub(crate) fn parse(bytes: &[u8], profile: &CsvProfile) -> Result<Parsed, ParseIssue> {
    if let Some((field, message)) = profile.validate().into_iter().next() {
        return Err(ParseIssue::new(format!("profile.{field}"), message));
    }
    let text = match profile.encoding {
        // Strict: a wrong `encoding` refuses the file instead of storing U+FFFD.
        CsvEncoding::Utf8 => decode_utf8_strict(
            bytes,
            "if the bank exports Latin-1 or Windows-1252, set the CSV profile's \
             `encoding` to latin1 or windows1252 and import again",
        )?,
        CsvEncoding::Latin1 => decode_latin1(bytes),
        CsvEncoding::Windows1252 => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    };
    let mut body = text.as_str();
    for _ in 0..profile.skip_rows {
        body = body.split_once('\n').map_or("", |(_, rest)| rest);
    }
    let delimiter = u8::try_from(profile.delimiter)
        .map_err(|_| ParseIssue::new("profile.delimiter", "must be an ASCII character"))?;
    let mut records = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(body.as_bytes())
        .into_records();
    // The csv crate's own line count skips blank lines, so lines are counted from the byte
    // offset instead (past any blank lines the reader skipped before the record).
    let mut lines = LineCounter::new(body);
    let mut line_of = |position: Option<&::csv::Position>| {
        let bytes = body.as_bytes();
        let mut start = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        while bytes.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        let line = lines.line_at(u64::try_from(start).unwrap_or(u64::MAX));
        format!("line {}", line.saturating_add(profile.skip_rows))
    };

    let header = if profile.has_header {
        let header = loop {
            match records.next() {
                None => {
                    let line = profile.skip_rows + 1;
                    return Err(ParseIssue::new(format!("line {line}"), "no header row"));
                }
                Some(Err(e)) => return Err(ParseIssue::new(line_of(e.position()), e.to_string())),
                Some(Ok(r)) if is_blank(&r) => {}
                Some(Ok(r)) => break r,
            }
        };
        Some(
            header
                .iter()
                .map(|h| h.trim().to_lowercase())
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let columns = resolve_all(profile, header.as_deref())?;

    let mut parsed = Parsed::default();
    let mut width = header.as_ref().map(Vec::len);
    for result in records {
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                parsed
                    .bad
                    .push(ParseIssue::new(line_of(e.position()), e.to_string()));
                continue;
            }
        };
        if is_blank(&record) {
            continue;
        }
        let location = line_of(record.position());
        let expected = *width.get_or_insert(record.len());
        if record.len() != expected {
            let reason = format!("expected {expected} columns, found {}", record.len());
            parsed.bad.push(ParseIssue::new(location, reason));
            continue;
        }
        match row(&record, &columns, profile, &location) {
            Ok(line) => parsed.statement.lines.push(line),
            Err(reason) => parsed.bad.push(ParseIssue::new(location, reason)),
        }
    }
    Ok(parsed)
}

fn is_blank(record: &StringRecord) -> bool {
    record.iter().all(|cell| cell.trim().is_empty())
}

fn resolve_all(profile: &CsvProfile, header: Option<&[String]>) -> Result<Columns, ParseIssue> {
    let resolve = |field: &str, column: &Column| -> Result<usize, ParseIssue> {
        match column {
            Column::Index(i) => match header {
                Some(h) if *i >= h.len() => Err(ParseIssue::new(
                    format!("profile.{field}"),
                    format!(
                        "column {i} (0-based) but the header has {} columns",
                        h.len()
                    ),
                )),
                _ => Ok(*i),
            },
            Column::Name(name) => {
                let wanted = name.trim().to_lowercase();
                header
                    .and_then(|h| h.iter().position(|x| *x == wanted))
                    .ok_or_else(|| {
                        ParseIssue::new("header", format!("no column named {name:?} ({field})"))
                    })
            }
        }
    };
    let optional = |field: &str, column: &Option<Column>| {
        column.as_ref().map(|c| resolve(field, c)).transpose()
    };
    let c = &profile.columns;
    Ok(Columns {
        date: resolve("columns.date", &c.date)?,
        value_date: optional("columns.value_date", &c.value_date)?,
        amount: optional("columns.amount", &c.amount)?,
        debit: optional("columns.debit", &c.debit)?,
        credit: optional("columns.credit", &c.credit)?,
        description: resolve("columns.description", &c.description)?,
        counterparty: optional("columns.counterparty", &c.counterparty)?,
        external_id: optional("columns.external_id", &c.external_id)?,
        currency: optional("columns.currency", &c.currency)?,
    })
}

fn row(
    record: &StringRecord,
    columns: &Columns,
    profile: &CsvProfile,
    location: &str,
) -> Result<StatementLine, String> {
    let cell = |i: usize| {
        record
            .get(i)
            .map(str::trim)
            .ok_or_else(|| format!("no column {i} (0-based)"))
    };
    let optional = |i: Option<usize>| -> Result<Option<&str>, String> {
        Ok(i.map(cell).transpose()?.filter(|v| !v.is_empty()))
    };
    let format = profile.date_format.as_str();
    let date = |raw: &str, what: &str| {
        NaiveDate::parse_from_str(raw, format)
            .map_err(|_| format!("bad {what} {raw:?} (expected format {format:?})"))
    };
    let amount_of =
        |raw: &str| parse_amount(raw, profile.decimal_separator, profile.thousands_separator);

    let booked = match cell(columns.date)? {
        "" => return Err("missing date".into()),
        raw => date(raw, "date")?,
    };
    let value_date = optional(columns.value_date)?
        .map(|raw| date(raw, "value date"))
        .transpose()?;
    let mut amount = match columns.amount {
        Some(i) => match cell(i)? {
            "" => return Err("missing amount".into()),
            raw => amount_of(raw)?,
        },
        None => {
            let side = |i: Option<usize>| -> Result<Option<Decimal>, String> {
                optional(i)?
                    .map(|raw| amount_of(raw).map(|v| v.abs()))
                    .transpose()
            };
            match (side(columns.debit)?, side(columns.credit)?) {
                (None, None) => return Err("no amount in the debit or credit column".into()),
                (Some(d), Some(c)) if !d.is_zero() && !c.is_zero() => {
                    return Err("amounts in both the debit and the credit column".into());
                }
                (d, c) => c
                    .unwrap_or_default()
                    .checked_sub(d.unwrap_or_default())
                    .ok_or("amount out of range")?,
            }
        }
    };
    if profile.invert_sign {
        amount = -amount;
    }
    if amount.is_zero() {
        amount = amount.abs(); // no "-0.00"
    }
    Ok(StatementLine {
        source: location.to_owned(),
        booked,
        value_date,
        amount,
        currency: optional(columns.currency)?.map(|c| c.to_uppercase()),
        description: collapse_ws(cell(columns.description)?),
        counterparty: optional(columns.counterparty)?.and_then(non_empty),
        external_id: optional(columns.external_id)?.and_then(non_empty),
        status: TxStatus::Booked,
    })
}

#[cfg(test)]
mod tests;

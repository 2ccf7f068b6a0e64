//! OFX / QFX statements: 1.x (SGML, `OFXHEADER:100` header) and 2.x (XML, `<?OFX …?>`),
//! bank (`STMTRS`) and credit-card (`CCSTMTRS`) alike, read by the tolerant tokenizer in
//! `sgml.rs`.
//!
//! - Encoding: 1.x honours `ENCODING`/`CHARSET` (`USASCII` + `1252` → windows-1252), 2.x the
//!   XML declaration (UTF-8 by default). A file declared single-byte that is valid UTF-8 is
//!   read as UTF-8, and one declared UTF-8 that is not valid UTF-8 as windows-1252: exporters
//!   mislabel their output often enough.
//! - Every `STMTTRN` of every statement is taken; account, currency and closing balance
//!   (`LEDGERBAL`) come from the first statement. OFX lists posted transactions only, so all
//!   lines are `Booked`.
//! - description = `MEMO`, else `NAME`; counterparty = `NAME` (or `PAYEE/NAME`); external id =
//!   `FITID`. Dates keep the calendar date written, whatever the `[-5:EST]` zone tail.
//! - Amounts (`TRNAMT`, `BALAMT`) are plain numbers with `.` or `,` as decimal separator;
//!   anything else (`$120`, `1 006,60`) is refused with a message, never read loosely.
//!   An unreadable `LEDGERBAL` is a warning: balances are not rows.
//! - Locations: `line N` (the `<STMTTRN>` tag) for 1.x, `STMTTRN[n]` (1-based, whole file)
//!   for 2.x.

use super::sgml::parse_sgml;
use super::text::{
    decode_declared, parse_ofx_amount, shown, strip_utf8_bom, xml_declared_encoding,
};
use super::tree::Node;
use crate::finance::{ParseIssue, Parsed, StatementLine, TxStatus};
use chrono::NaiveDate;
use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseIssue> {
    let bytes = strip_utf8_bom(bytes);
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]);
    let xml = head.trim_start().starts_with("<?xml") || head.contains("<?OFX");
    let mut encoding = if xml {
        xml_declared_encoding(bytes).unwrap_or(UTF_8)
    } else {
        sgml_header_encoding(&head)
    };
    if encoding == UTF_8 && std::str::from_utf8(bytes).is_err() {
        encoding = WINDOWS_1252;
    }
    // Declared UTF-8 that is not valid UTF-8 was switched to windows-1252 above, so this
    // cannot fail; `?` keeps it honest should that ever change.
    let root = parse_sgml(&decode_declared(
        bytes,
        encoding,
        "fix the file's ENCODING header",
    )?);
    let ofx = root
        .descendants("OFX")
        .into_iter()
        .next()
        .ok_or_else(|| ParseIssue::new("header", "not an OFX file: no <OFX> element"))?;
    let statements = ofx.descendants_in(&["STMTRS", "CCSTMTRS"]);
    let Some(first) = statements.first() else {
        return Err(ParseIssue::new(
            "OFX",
            "no bank or credit-card statement (STMTRS/CCSTMTRS) in the file",
        ));
    };

    let mut parsed = Parsed::default();
    let st = &mut parsed.statement;
    st.account_ref = first
        .text_at(&["BANKACCTFROM", "ACCTID"])
        .or_else(|| first.text_at(&["CCACCTFROM", "ACCTID"]));
    st.currency = first.text_at(&["CURDEF"]).map(|c| c.to_ascii_uppercase());
    if let Some(balance) = first.at(&["LEDGERBAL", "BALAMT"]) {
        match parse_ofx_amount("BALAMT", &balance.value()) {
            Ok(amount) => st.closing_balance = Some(amount),
            Err(e) => {
                let location = if xml {
                    "LEDGERBAL".to_owned()
                } else {
                    format!("line {}", balance.line)
                };
                // A balance is not a transaction: it is left out, not counted as a bad row.
                parsed.warnings.push(ParseIssue::new(
                    location,
                    format!("closing balance ignored: {e}"),
                ));
            }
        }
    }

    let mut n = 0;
    for statement in &statements {
        let currency = statement
            .text_at(&["CURDEF"])
            .map(|c| c.to_ascii_uppercase());
        for trn in statement.descendants("STMTTRN") {
            n += 1;
            let source = if xml {
                format!("STMTTRN[{n}]")
            } else {
                format!("line {}", trn.line)
            };
            match transaction(trn, currency.as_deref(), &source) {
                Ok(line) => parsed.statement.lines.push(line),
                Err(reason) => parsed.bad.push(ParseIssue::new(source, reason)),
            }
        }
    }
    Ok(parsed)
}

/// The 1.x header's `ENCODING`/`CHARSET` (lines before the first tag).
fn sgml_header_encoding(head: &str) -> &'static Encoding {
    let (mut encoding, mut charset) = (String::new(), String::new());
    for line in head.lines().take_while(|l| !l.contains('<')) {
        if let Some((key, value)) = line.split_once(':') {
            match key.trim().to_ascii_uppercase().as_str() {
                "ENCODING" => encoding = value.trim().to_ascii_uppercase(),
                "CHARSET" => charset = value.trim().to_ascii_uppercase(),
                _ => {}
            }
        }
    }
    if encoding == "UTF-8" || encoding == "UNICODE" {
        return UTF_8;
    }
    // `1252`, `NONE` and no charset at all: windows-1252 is a superset of US-ASCII.
    Encoding::for_label(charset.as_bytes())
        .or_else(|| Encoding::for_label(format!("windows-{charset}").as_bytes()))
        .or_else(|| Encoding::for_label(format!("iso-{charset}").as_bytes()))
        .unwrap_or(WINDOWS_1252)
}

fn transaction(trn: &Node, currency: Option<&str>, source: &str) -> Result<StatementLine, String> {
    let posted = trn.text_at(&["DTPOSTED"]).ok_or("missing DTPOSTED")?;
    let bad_date = |field: &str, raw: &str| {
        format!(
            "{field} {} is not a date: OFX dates start with YYYYMMDD, such as 20240131",
            shown(raw)
        )
    };
    let booked = ofx_date(&posted).ok_or_else(|| bad_date("DTPOSTED", &posted))?;
    let value_date = match trn.text_at(&["DTUSER"]) {
        Some(user) => Some(ofx_date(&user).ok_or_else(|| bad_date("DTUSER", &user))?),
        None => None,
    };
    let amount = trn.text_at(&["TRNAMT"]).ok_or("missing TRNAMT")?;
    let amount = parse_ofx_amount("TRNAMT", &amount)?;
    let name = trn
        .text_at(&["NAME"])
        .or_else(|| trn.text_at(&["PAYEE", "NAME"]));
    let description = trn
        .text_at(&["MEMO"])
        .or_else(|| name.clone())
        .or_else(|| trn.text_at(&["TRNTYPE"]))
        .unwrap_or_default();
    // A transaction in another currency carries its own `CURRENCY/CURSYM`.
    let currency = trn
        .text_at(&["CURRENCY", "CURSYM"])
        .map(|c| c.to_ascii_uppercase())
        .or_else(|| currency.map(str::to_owned));
    Ok(StatementLine {
        source: source.to_owned(),
        booked,
        value_date,
        amount,
        currency,
        description,
        counterparty: name,
        external_id: trn.text_at(&["FITID"]),
        status: TxStatus::Booked,
    })
}

/// `YYYYMMDD`, optionally followed by `HHMMSS`, `.XXX` and a `[-5:EST]` zone.
fn ofx_date(s: &str) -> Option<NaiveDate> {
    let ymd = s
        .get(..8)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
    let tail_ok = s[8..]
        .chars()
        .next()
        .is_none_or(|c| c.is_ascii_digit() || c == '.' || c == '[');
    if !tail_ok {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ymd.get(r).and_then(|v| v.parse::<u32>().ok());
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(4..6)?, num(6..8)?)
}

#[cfg(test)]
mod tests;

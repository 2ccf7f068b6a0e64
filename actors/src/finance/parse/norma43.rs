//! Norma 43 (AEB / CSB cuaderno 43), the fixed-width statement of Spanish banks: 80-character
//! records, usually Latin-1 (UTF-8 is accepted when the bytes are valid UTF-8). Trailing
//! spaces may have been trimmed and line ends may be CRLF; records are padded back to 80.
//! A file with no line breaks at all is cut into 80-character records; bare-CR line ends
//! are accepted.
//!
//! Records: `11` account header, `22` movement, `23` up to five complementary concepts of the
//! movement before, `24` currency equivalence (ignored), `33` account totals, `88` end of
//! file. Decisions:
//! - description = the `23` concepts joined (they carry the merchant text), else reference 2,
//!   else reference 1 (unless all zeros), else the name of the common concept code.
//! - counterparty = None: what the `23` concepts hold is bank-specific (often "TRANSF. DE:
//!   …", a card number or the operation kind), and a wrong counterparty is worse than none.
//! - external_id = None: Norma 43 has no bank transaction ids.
//! - The `33` totals are checked against the movements read: counts and sums per side and
//!   the final balance (opening + credits − debits). A mismatch means a truncated or corrupt
//!   file, where every subset of lines would silently be wrong, so it is an `Err`, not a bad
//!   row. When some `22` records were bad only the movement count is checked (their amounts
//!   are unknown). An account without its `33` is likewise an `Err`; a missing `88` is
//!   tolerated, but its record count (records before it) must match when present.
//! - Several accounts in one file: all movements are taken; account, currency and balances
//!   come from the first.

use super::text::{collapse_ws, decode_latin1, non_empty, strip_utf8_bom};
use crate::finance::{ParseIssue, Parsed, StatementLine, TxStatus};
use chrono::NaiveDate;
use codes::{concept_name, currency};
use rust_decimal::Decimal;

const RECORD_LEN: usize = 80;

/// Non-empty records as (1-based line, text without trailing whitespace).
fn records(bytes: &[u8]) -> Vec<(usize, String)> {
    let bytes = strip_utf8_bom(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(utf8) => utf8.to_owned(),
        Err(_) => decode_latin1(bytes),
    };
    // Old Mac-style files end records with a bare CR.
    let separator = if text.contains('\n') { '\n' } else { '\r' };
    let chars: Vec<char> = text.trim_end().chars().collect();
    if !text.contains(separator) && chars.len() > RECORD_LEN {
        let chunks = chars
            .chunks(RECORD_LEN)
            .map(|c| c.iter().collect::<String>());
        return chunks
            .enumerate()
            .map(|(i, r)| (i + 1, r.trim_end().to_owned()))
            .collect();
    }
    text.split(separator)
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end().to_owned()))
        .filter(|(_, l)| !l.is_empty())
        .collect()
}

/// The first record is an `11` header with digits where its dates and balance go, and the
/// records seen are at most 80 characters and start with a two-digit code.
pub(crate) fn looks_like(bytes: &[u8]) -> bool {
    let recs = records(bytes);
    let Some((_, first)) = recs.first() else {
        return false;
    };
    let header_digits = first
        .chars()
        .skip(20)
        .take(27)
        .filter(char::is_ascii_digit)
        .count();
    first.starts_with("11")
        && header_digits == 27
        && recs.iter().take(50).all(|(_, r)| {
            r.chars().count() <= RECORD_LEN && r.chars().take(2).all(|c| c.is_ascii_digit())
        })
}

/// A record padded to 80 characters, sliced by character (not byte) positions.
struct Rec(Vec<char>);

impl Rec {
    fn field(&self, from: usize, to: usize) -> String {
        self.0[from..to].iter().collect()
    }
}

struct Account {
    opening: Decimal,
    currency: Option<String>,
    movements: usize,
    bad: usize,
    debits: (usize, Decimal),
    credits: (usize, Decimal),
}

struct Movement {
    line: StatementLine,
    concepts: Vec<String>,
    fallback: String,
}

enum Last {
    None,
    Good(usize),
    Bad,
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseIssue> {
    let recs = records(bytes);
    match recs.first() {
        None => {
            return Err(ParseIssue::new(
                "line 1",
                "empty file, not a Norma 43 statement",
            ));
        }
        Some((line, r)) if !r.starts_with("11") => {
            return Err(ParseIssue::new(
                format!("line {line}"),
                "not a Norma 43 file: the first record must be an 11 account header",
            ));
        }
        Some(_) => {}
    }
    let mut parsed = Parsed::default();
    let mut movements: Vec<Movement> = Vec::new();
    let (mut account, mut accounts, mut last) = (None::<Account>, 0, Last::None);
    let mut last_line = 0;
    for (n, (line, raw)) in recs.iter().enumerate() {
        let location = format!("line {line}");
        let err = |reason: String| ParseIssue::new(location.clone(), reason);
        last_line = *line;
        let mut chars: Vec<char> = raw.chars().collect();
        if chars.len() > RECORD_LEN {
            parsed.bad.push(err(format!(
                "record of {} characters, expected 80",
                chars.len()
            )));
            last = Last::Bad;
            continue;
        }
        chars.resize(RECORD_LEN, ' ');
        let rec = Rec(chars);
        match rec.field(0, 2).as_str() {
            "11" => {
                if account.is_some() {
                    return Err(err(
                        "account header before the previous account's 33 record".into(),
                    ));
                }
                let acc = header(&rec).map_err(err)?;
                if accounts == 0 {
                    let st = &mut parsed.statement;
                    st.account_ref = Some(rec.field(2, 20).trim().to_owned());
                    st.currency.clone_from(&acc.currency);
                    st.opening_balance = Some(acc.opening);
                }
                accounts += 1;
                account = Some(acc);
                last = Last::None;
            }
            "22" => {
                let Some(acc) = account.as_mut() else {
                    parsed
                        .bad
                        .push(err("movement outside an account (no open 11 header)".into()));
                    last = Last::Bad;
                    continue;
                };
                acc.movements += 1;
                match movement(&rec, &location, acc.currency.as_deref()) {
                    Ok(m) => {
                        let side = if m.line.amount < Decimal::ZERO {
                            &mut acc.debits
                        } else {
                            &mut acc.credits
                        };
                        *side = (side.0 + 1, side.1.saturating_add(m.line.amount.abs()));
                        movements.push(m);
                        last = Last::Good(movements.len() - 1);
                    }
                    Err(reason) => {
                        acc.bad += 1;
                        parsed.bad.push(err(reason));
                        last = Last::Bad;
                    }
                }
            }
            "23" => match last {
                Last::Good(i) => movements[i].concepts.extend(
                    [rec.field(4, 42), rec.field(42, 80)]
                        .iter()
                        .filter_map(|c| non_empty(c)),
                ),
                // The movement itself is already reported.
                Last::Bad => {}
                Last::None => parsed.bad.push(err(
                    "complementary concept (23) without a movement before it".into(),
                )),
            },
            "24" => {}
            "33" => {
                let acc = account.take().ok_or_else(|| {
                    err("account totals (33) without an account header (11)".into())
                })?;
                let closing = check_totals(&rec, &acc).map_err(err)?;
                if accounts == 1 {
                    parsed.statement.closing_balance = Some(closing);
                }
                last = Last::None;
            }
            "88" => {
                let declared = rec.field(20, 26);
                if declared.trim().parse::<usize>().ok() != Some(n) {
                    return Err(err(format!(
                        "end-of-file record counts {declared:?} records, the file has {n} before it"
                    )));
                }
                if recs.len() > n + 1 {
                    parsed
                        .bad
                        .push(err("data after the end-of-file (88) record ignored".into()));
                }
                break;
            }
            code => {
                parsed
                    .bad
                    .push(err(format!("unknown record type {code:?}")));
                last = Last::None;
            }
        }
    }
    if account.is_some() {
        return Err(ParseIssue::new(
            format!("line {last_line}"),
            "account not closed by a 33 record: file truncated?",
        ));
    }
    parsed.statement.lines = movements
        .into_iter()
        .map(|m| StatementLine {
            description: if m.concepts.is_empty() {
                m.fallback
            } else {
                collapse_ws(&m.concepts.join(" "))
            },
            ..m.line
        })
        .collect();
    Ok(parsed)
}

fn header(rec: &Rec) -> Result<Account, String> {
    yymmdd(&rec.field(20, 26)).ok_or("bad start date in account header")?;
    yymmdd(&rec.field(26, 32)).ok_or("bad end date in account header")?;
    let opening = signed(&rec.field(32, 33), &rec.field(33, 47))
        .map_err(|e| format!("initial balance: {e}"))?;
    Ok(Account {
        opening,
        currency: currency(&rec.field(47, 50)),
        movements: 0,
        bad: 0,
        debits: (0, Decimal::ZERO),
        credits: (0, Decimal::ZERO),
    })
}

fn movement(rec: &Rec, source: &str, currency: Option<&str>) -> Result<Movement, String> {
    let booked = yymmdd(&rec.field(10, 16)).ok_or("bad operation date")?;
    let value = rec.field(16, 22);
    let value_date = match value.as_str() {
        "000000" | "      " => None,
        v => Some(yymmdd(v).ok_or("bad value date")?),
    };
    let amount = signed(&rec.field(27, 28), &rec.field(28, 42))?;
    let (ref1, ref2) = (rec.field(52, 64), rec.field(64, 80));
    let fallback = non_empty(&ref2)
        .or_else(|| non_empty(&ref1).filter(|r| r.chars().any(|c| c != '0')))
        .unwrap_or_else(|| concept_name(&rec.field(22, 24)));
    Ok(Movement {
        line: StatementLine {
            source: source.to_owned(),
            booked,
            value_date,
            amount,
            currency: currency.map(str::to_owned),
            description: String::new(),
            counterparty: None,
            external_id: None,
            status: TxStatus::Booked,
        },
        concepts: Vec::new(),
        fallback,
    })
}

/// Checks the `33` record against the account's movements; returns the final balance.
fn check_totals(rec: &Rec, acc: &Account) -> Result<Decimal, String> {
    let count = |s: String| {
        s.parse::<usize>()
            .map_err(|_| format!("bad count {s:?} in 33 record"))
    };
    let (n_debits, debits) = (count(rec.field(20, 25))?, cents(&rec.field(25, 39))?);
    let (n_credits, credits) = (count(rec.field(39, 44))?, cents(&rec.field(44, 58))?);
    let closing = signed(&rec.field(58, 59), &rec.field(59, 73))
        .map_err(|e| format!("final balance: {e}"))?;
    if acc.bad > 0 {
        if n_debits + n_credits != acc.movements {
            return Err(format!(
                "33 record counts {} movements, the file has {}: truncated or corrupt",
                n_debits + n_credits,
                acc.movements
            ));
        }
        return Ok(closing);
    }
    for (side, said, found) in [
        ("debits", (n_debits, debits), acc.debits),
        ("credits", (n_credits, credits), acc.credits),
    ] {
        if said != found {
            return Err(format!(
                "33 record says {} {side} totalling {}, the file has {} totalling {}: truncated or corrupt",
                said.0, said.1, found.0, found.1
            ));
        }
    }
    let expected = acc.opening.saturating_add(credits).saturating_sub(debits);
    if expected != closing {
        return Err(format!(
            "final balance {closing} is not opening {} + credits {credits} − debits {debits}",
            acc.opening
        ));
    }
    Ok(closing)
}

/// `1` = debit (negative), `2` = credit, then 14 digits with 2 implied decimals.
fn signed(sign: &str, digits: &str) -> Result<Decimal, String> {
    let value = cents(digits)?;
    match sign {
        "1" => Ok(-value),
        "2" => Ok(value),
        s => Err(format!("bad debit/credit code {s:?}")),
    }
}

fn cents(digits: &str) -> Result<Decimal, String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad amount {digits:?}"));
    }
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("bad amount {digits:?}"))?;
    Ok(Decimal::new(n, 2))
}

/// `YYMMDD`; years 00–69 are 20YY, 70–99 19YY.
fn yymmdd(s: &str) -> Option<NaiveDate> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|v| v.parse::<u32>().ok());
    let yy = i32::try_from(num(0..2)?).ok()?;
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    NaiveDate::from_ymd_opt(year, num(2..4)?, num(4..6)?)
}

mod codes;

#[cfg(test)]
mod tests;

//! ISO 20022 CAMT.053 bank-to-customer statements, versions .001.02 through .001.08 and
//! later. Elements are matched by local name, so the namespace (which changes with every
//! version) and any prefix do not matter.
//!
//! - Account: `Acct/Id/IBAN` or `Acct/Id/Othr/Id`, currency `Acct/Ccy`; opening balance from
//!   `OPBD` (else `PRCD`), closing from `CLBD`, signed by `CdtDbtInd`. All from the first
//!   `Stmt`; entries of every `Stmt` are taken.
//! - Entry status: `<Sts>BOOK</Sts>` (≤ v7) or `<Sts><Cd>BOOK</Cd></Sts>` (v8+). `PDNG` and
//!   `FUTR` are pending; `INFO` entries are advice only and skipped (not reported as bad).
//! - Booking date: `BookgDt/Dt` or the date part of `BookgDt/DtTm`; a pending entry may have
//!   no booking date, then the value date stands in.
//! - external id: `AcctSvcrRef`, else `NtryRef`, else the first `TxDtls/Refs/AcctSvcrRef`.
//! - description: every `RmtInf/Ustrd` of every `TxDtls`, else `AddtlNtryInf`, else
//!   `AddtlTxInf`, else the counterparty. Counterparty: the creditor of a debit, the debtor of
//!   a credit (`RltdPties/Cdtr/Nm` or, v8, `RltdPties/Cdtr/Pty/Nm`).
//! - A reversal (`RvslInd`) is taken as written: its `CdtDbtInd` already gives the direction.
//!
//! - An unreadable `OPBD`/`PRCD`/`CLBD` balance is a warning: balances are not rows.
//! - A file declared (or defaulting to) UTF-8 that is not valid UTF-8 is an `Err` naming
//!   its lines: no replacement characters are ever stored.
//!
//! Malformed XML is an `Err` at its line; a bad entry goes to `bad` as `Ntry[n]` (1-based,
//! across the file).

use super::text::{decode_declared, parse_plain_decimal, shown, xml_declared_encoding};
use super::tree::{Node, parse_xml};
use crate::finance::{ParseIssue, Parsed, StatementLine, TxStatus};
use chrono::NaiveDate;
use rust_decimal::Decimal;

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseIssue> {
    let encoding = xml_declared_encoding(bytes).unwrap_or(encoding_rs::UTF_8);
    let text = decode_declared(
        bytes,
        encoding,
        "the XML declaration says UTF-8 (or nothing, which means UTF-8); if the bank wrote \
         another encoding, the file must declare it",
    )?;
    let root = parse_xml(&text)?;
    let Some(report) = root.descendants("BkToCstmrStmt").into_iter().next() else {
        let other = root.descendants_in(&["BkToCstmrAcctRpt", "BkToCstmrDbtCdtNtfctn"]);
        let reason = if other.is_empty() {
            "not a CAMT.053 statement: no BkToCstmrStmt"
        } else {
            "a camt.052/camt.054 report, not a camt.053 statement"
        };
        return Err(ParseIssue::new("Document", reason));
    };
    let statements: Vec<&Node> = report.children("Stmt").collect();
    let Some(first) = statements.first() else {
        return Err(ParseIssue::new("BkToCstmrStmt", "no Stmt in the file"));
    };

    let mut parsed = Parsed::default();
    parsed.statement.account_ref = first
        .text_at(&["Acct", "Id", "IBAN"])
        .or_else(|| first.text_at(&["Acct", "Id", "Othr", "Id"]));
    parsed.statement.currency = first.text_at(&["Acct", "Ccy"]);
    balances(first, &mut parsed);

    let mut n = 0;
    for statement in &statements {
        let currency = statement.text_at(&["Acct", "Ccy"]);
        for ntry in statement.children("Ntry") {
            n += 1;
            let source = format!("Ntry[{n}]");
            match entry(ntry, currency.as_deref(), &source) {
                Ok(Some(line)) => parsed.statement.lines.push(line),
                Ok(None) => {}
                Err(reason) => parsed.bad.push(ParseIssue::new(source, reason)),
            }
        }
    }
    Ok(parsed)
}

fn balances(statement: &Node, parsed: &mut Parsed) {
    let (mut opening, mut previous_closing) = (None, None);
    for (k, bal) in statement.children("Bal").enumerate() {
        let code = bal.text_at(&["Tp", "CdOrPrtry", "Cd"]).unwrap_or_default();
        if !matches!(code.as_str(), "OPBD" | "PRCD" | "CLBD") {
            continue;
        }
        let amount = match signed_amount(bal) {
            Ok(signed) => signed.amount,
            Err(reason) => {
                // A balance is not a transaction: left out and reported, never a bad row.
                let location = format!("Stmt[1]/Bal[{}]", k + 1);
                let reason = format!("{code} balance ignored: {reason}");
                parsed.warnings.push(ParseIssue::new(location, reason));
                continue;
            }
        };
        let slot = match code.as_str() {
            "OPBD" => &mut opening,
            "PRCD" => &mut previous_closing,
            _ => &mut parsed.statement.closing_balance,
        };
        slot.get_or_insert(amount);
    }
    parsed.statement.opening_balance = opening.or(previous_closing);
}

struct Signed {
    amount: Decimal,
    currency: Option<String>,
    debit: bool,
}

/// `Amt` (with its `Ccy`) signed by the sibling `CdtDbtInd`.
fn signed_amount(node: &Node) -> Result<Signed, String> {
    let amt = node.at(&["Amt"]).ok_or("missing Amt")?;
    let amount = parse_plain_decimal(&amt.value()).map_err(|e| format!("Amt: {e}"))?;
    let debit = match node.text_at(&["CdtDbtInd"]).as_deref() {
        Some("CRDT") => false,
        Some("DBIT") => true,
        None => return Err("missing CdtDbtInd (CRDT for money in, DBIT for money out)".into()),
        Some(other) => {
            return Err(format!(
                "CdtDbtInd {} is neither CRDT (money in) nor DBIT (money out)",
                shown(other)
            ));
        }
    };
    Ok(Signed {
        amount: if debit { -amount } else { amount },
        currency: amt.attr("Ccy").map(|c| c.trim().to_ascii_uppercase()),
        debit,
    })
}

fn entry(
    ntry: &Node,
    account_currency: Option<&str>,
    source: &str,
) -> Result<Option<StatementLine>, String> {
    let status = ntry
        .text_at(&["Sts", "Cd"])
        .or_else(|| ntry.text_at(&["Sts"]));
    let status = match status.as_deref() {
        Some("BOOK") => TxStatus::Booked,
        Some("PDNG" | "FUTR") => TxStatus::Pending,
        Some("INFO") => return Ok(None),
        None => return Err("missing Sts (the entry status: BOOK, PDNG, FUTR or INFO)".into()),
        Some(other) => {
            return Err(format!(
                "Sts {} is not an entry status (BOOK, PDNG, FUTR or INFO)",
                shown(other)
            ));
        }
    };
    let signed = signed_amount(ntry)?;
    let value_date = ntry
        .at(&["ValDt"])
        .map(|d| date_of(d).map_err(|e| format!("ValDt: {e}")))
        .transpose()?;
    let booked = match ntry.at(&["BookgDt"]) {
        Some(d) => date_of(d).map_err(|e| format!("BookgDt: {e}"))?,
        None => value_date.ok_or("missing BookgDt and ValDt")?,
    };

    let details = ntry.descendants("TxDtls");
    let external_id = ntry
        .text_at(&["AcctSvcrRef"])
        .or_else(|| ntry.text_at(&["NtryRef"]))
        .or_else(|| {
            details
                .iter()
                .find_map(|t| t.text_at(&["Refs", "AcctSvcrRef"]))
        });
    let party = if signed.debit { "Cdtr" } else { "Dbtr" };
    let counterparty = details.iter().find_map(|t| {
        t.text_at(&["RltdPties", party, "Nm"])
            .or_else(|| t.text_at(&["RltdPties", party, "Pty", "Nm"]))
    });
    let unstructured: Vec<String> = details
        .iter()
        .flat_map(|t| t.children("RmtInf"))
        .flat_map(|r| r.children("Ustrd"))
        .map(Node::value)
        .filter(|u| !u.is_empty())
        .collect();
    let description = if unstructured.is_empty() {
        ntry.text_at(&["AddtlNtryInf"])
            .or_else(|| details.iter().find_map(|t| t.text_at(&["AddtlTxInf"])))
            .or_else(|| counterparty.clone())
            .unwrap_or_default()
    } else {
        unstructured.join(" ")
    };
    Ok(Some(StatementLine {
        source: source.to_owned(),
        booked,
        value_date,
        amount: signed.amount,
        currency: signed
            .currency
            .or_else(|| account_currency.map(str::to_owned)),
        description,
        counterparty,
        external_id,
        status,
    }))
}

/// `Dt`, or the date part of `DtTm` (also tolerating a zone after a bare date).
fn date_of(node: &Node) -> Result<NaiveDate, String> {
    let raw = node
        .text_at(&["Dt"])
        .or_else(|| node.text_at(&["DtTm"]))
        .ok_or("missing Dt/DtTm")?;
    raw.get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| format!("{} is not a date (YYYY-MM-DD)", shown(&raw)))
}

#[cfg(test)]
mod tests;

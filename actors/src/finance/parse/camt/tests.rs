//! CAMT.053 parser tests against a .001.02 and a .001.08 sample.

use super::*;
use crate::finance::parse::fuzz::mutations;
use rust_decimal::dec;

const V2: &[u8] = include_bytes!("../../../../tests/fixtures/statements/camt053.xml");
const V8: &[u8] = include_bytes!("../../../../tests/fixtures/statements/camt053_v8.xml");

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

#[test]
fn reads_version_02_with_text_status() {
    let parsed = parse(V2).expect("camt v2 parses");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let st = &parsed.statement;
    assert_eq!(st.account_ref.as_deref(), Some("DE89370400440532013000"));
    assert_eq!(st.currency.as_deref(), Some("EUR"));
    assert_eq!(st.opening_balance, Some(dec!(1000.00)));
    assert_eq!(st.closing_balance, Some(dec!(1234.56)));
    // The INFO entry is advice only: skipped, not bad.
    let [a, b] = st.lines.as_slice() else {
        panic!("two lines expected, got {:?}", st.lines);
    };
    assert_eq!(a.source, "Ntry[1]");
    assert_eq!(
        (a.booked, a.value_date),
        (date(2024, 2, 1), Some(date(2024, 2, 1)))
    );
    assert_eq!(
        (a.amount, a.currency.as_deref()),
        (dec!(250.00), Some("EUR"))
    );
    assert_eq!(a.description, "Invoice 4711 Thank you");
    assert_eq!(a.counterparty.as_deref(), Some("Max Mustermann"));
    assert_eq!(a.external_id.as_deref(), Some("2024020100001"));
    assert_eq!(a.status, TxStatus::Booked);

    assert_eq!(b.source, "Ntry[2]");
    assert_eq!(
        (b.booked, b.value_date),
        (date(2024, 2, 2), Some(date(2024, 2, 3)))
    );
    assert_eq!(b.amount, dec!(-15.44));
    assert_eq!(b.description, "LASTSCHRIFT STADTWERKE");
    assert_eq!(b.counterparty.as_deref(), Some("Stadtwerke München"));
    assert_eq!(b.external_id.as_deref(), Some("NREF-2"));
    assert_eq!(
        st.opening_balance.map(|o| o + a.amount + b.amount),
        st.closing_balance
    );
}

#[test]
fn reads_version_08_with_prefixes_code_status_and_pending() {
    let parsed = parse(V8).expect("camt v8 parses");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let st = &parsed.statement;
    assert_eq!(st.account_ref.as_deref(), Some("12345678"));
    assert_eq!(st.currency.as_deref(), Some("CHF"));
    assert_eq!(
        (st.opening_balance, st.closing_balance),
        (Some(dec!(-500.00)), Some(dec!(-620.00)))
    );
    let [a, b] = st.lines.as_slice() else {
        panic!("two lines expected, got {:?}", st.lines);
    };
    assert_eq!(
        (a.amount, a.booked, a.status),
        (dec!(-120.00), date(2024, 3, 12), TxStatus::Booked)
    );
    assert_eq!(a.external_id.as_deref(), Some("TX-REF-1"));
    assert_eq!(a.counterparty.as_deref(), Some("Migros AG"));
    assert_eq!(a.description, "Einkauf Filiale 12");

    assert_eq!((b.amount, b.status), (dec!(80.00), TxStatus::Pending));
    assert_eq!(
        (b.booked, b.value_date),
        (date(2024, 4, 2), Some(date(2024, 4, 2)))
    );
    assert_eq!(b.external_id.as_deref(), Some("PEND-0042"));
    assert_eq!(b.counterparty.as_deref(), Some("Anna Beispiel"));
    assert_eq!(b.description, "Rückzahlung Ferienwohnung");
    assert_eq!(b.currency.as_deref(), Some("CHF"));
}

#[test]
fn bad_entries_are_located_and_skipped() {
    let text = String::from_utf8_lossy(V2)
        .replace(
            "<Amt Ccy=\"EUR\">15.44</Amt>",
            "<Amt Ccy=\"EUR\">15,44</Amt>",
        )
        .replace(
            "<Sts>BOOK</Sts>\n        <BookgDt><Dt>2024-02-01",
            "<Sts>BOOK</Sts>\n        <BookgDt><Dt>2024-02-31",
        );
    let parsed = parse(text.as_bytes()).expect("still CAMT");
    assert!(parsed.statement.lines.is_empty());
    let locations: Vec<&str> = parsed.bad.iter().map(|b| b.location.as_str()).collect();
    assert_eq!(locations, ["Ntry[1]", "Ntry[2]"]);
    assert!(
        parsed.bad[0].reason.contains("BookgDt"),
        "{}",
        parsed.bad[0]
    );
    assert!(parsed.bad[1].reason.contains("Amt"), "{}", parsed.bad[1]);

    let text =
        String::from_utf8_lossy(V8).replace("<ns2:Cd>PDNG</ns2:Cd>", "<ns2:Cd>XXXX</ns2:Cd>");
    let parsed = parse(text.as_bytes()).expect("still CAMT");
    assert_eq!(parsed.bad[0].location, "Ntry[2]");
}

#[test]
fn malformed_or_foreign_xml_is_an_error() {
    let truncated = &V2[..V2.len() / 2];
    let err = parse(truncated).expect_err("truncated");
    assert!(err.location.starts_with("line "), "{err}");
    let text = String::from_utf8_lossy(V2).replace("</Ustrd>\n", "</Ustr>\n");
    let err = parse(text.as_bytes()).expect_err("mismatched tags");
    assert_eq!(err.location, "line 45");
    assert!(parse(b"<Document><BkToCstmrAcctRpt/></Document>").is_err());
    assert!(parse(b"not xml at all").is_err());
}

#[test]
fn mutated_samples_never_panic() {
    for sample in [V2, V8] {
        for input in mutations(sample) {
            let _ = parse(&input);
            let _ = crate::finance::parse::detect(&input);
        }
    }
}

#[test]
fn messages_name_the_element_in_plain_words() {
    let text =
        String::from_utf8_lossy(V2).replacen("<Sts>BOOK</Sts>", "<Sts>{{r.status}}</Sts>", 1);
    let parsed = parse(text.as_bytes()).expect("still CAMT");
    assert_eq!(
        parsed.bad[0].reason,
        "Sts \"{{r.status}}\" is not an entry status (BOOK, PDNG, FUTR or INFO)"
    );
    let text = String::from_utf8_lossy(V2).replacen("<CdtDbtInd>DBIT</CdtDbtInd>", "", 1);
    let parsed = parse(text.as_bytes()).expect("still CAMT");
    assert_eq!(
        parsed.bad[0].reason,
        "missing CdtDbtInd (CRDT for money in, DBIT for money out)"
    );
    for issue in parsed.bad.iter().chain(&parsed.warnings) {
        assert!(
            !issue.reason.contains("Some(") && !issue.reason.contains("None"),
            "{issue}"
        );
    }
}

#[test]
fn an_unreadable_balance_is_a_warning_not_a_bad_row() {
    let text = String::from_utf8_lossy(V2).replace(
        "<Amt Ccy=\"EUR\">1234.56</Amt>",
        "<Amt Ccy=\"EUR\">1.234,56</Amt>",
    );
    let parsed = parse(text.as_bytes()).expect("still CAMT");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    assert_eq!(parsed.statement.lines.len(), 2);
    assert_eq!(parsed.statement.closing_balance, None);
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert_eq!(parsed.warnings[0].location, "Stmt[1]/Bal[2]");
    assert!(
        parsed.warnings[0]
            .reason
            .starts_with("CLBD balance ignored"),
        "{}",
        parsed.warnings[0]
    );
}

#[test]
fn invalid_utf8_in_a_utf8_document_is_refused() {
    let text = String::from_utf8_lossy(V2).replace("Invoice 4711", "Invoice \u{1}");
    let mut bytes = text.into_bytes();
    let at = bytes.iter().position(|&b| b == 1).expect("marker");
    bytes[at] = 0xE9;
    let err = parse(&bytes).expect_err("not UTF-8");
    assert!(err.location.starts_with("line "), "{err}");
    assert!(err.reason.contains("not valid UTF-8"), "{err}");
}

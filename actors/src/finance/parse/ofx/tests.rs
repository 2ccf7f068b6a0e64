//! OFX parser tests against the 1.x SGML and 2.x XML samples.

use super::*;
use crate::finance::parse::fuzz::mutations;
use rust_decimal::dec;

const OFX1: &[u8] = include_bytes!("../../../../tests/fixtures/statements/ofx1.ofx");
const OFX2: &[u8] = include_bytes!("../../../../tests/fixtures/statements/ofx2.qfx");

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

#[test]
fn reads_ofx1_sgml_in_windows_1252() {
    let parsed = parse(OFX1).expect("ofx1 parses");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let st = &parsed.statement;
    assert_eq!(st.account_ref.as_deref(), Some("000123456789"));
    assert_eq!(st.currency.as_deref(), Some("EUR"));
    assert_eq!(
        (st.opening_balance, st.closing_balance),
        (None, Some(dec!(1441.51)))
    );
    assert_eq!(st.lines.len(), 3);

    let l = &st.lines[0];
    assert_eq!(l.source, "line 39");
    assert_eq!(
        (l.booked, l.value_date),
        (date(2024, 1, 5), Some(date(2024, 1, 4)))
    );
    assert_eq!(l.amount, dec!(-12.50));
    assert_eq!(l.description, "CARD PURCHASE PARIS");
    assert_eq!(l.counterparty.as_deref(), Some("Café de Flore"));
    assert_eq!(l.external_id.as_deref(), Some("20240105001"));
    assert_eq!(
        (l.currency.as_deref(), l.status),
        (Some("EUR"), TxStatus::Booked)
    );

    // Decimal comma in TRNAMT; no MEMO → description from NAME.
    let l = &st.lines[1];
    assert_eq!(
        (l.amount, l.booked, l.value_date),
        (dec!(1500.00), date(2024, 1, 10), None)
    );
    assert_eq!(l.description, "ACME PAYROLL");
    assert_eq!(l.counterparty.as_deref(), Some("ACME PAYROLL"));

    // PAYEE aggregate; entity and a windows-1252 € (0x80) in MEMO.
    let l = &st.lines[2];
    assert_eq!((l.amount, l.booked), (dec!(-45.99), date(2024, 1, 15)));
    assert_eq!(l.description, "Bill & fees €");
    assert_eq!(l.counterparty.as_deref(), Some("Electric Co"));
    assert_eq!(l.external_id.as_deref(), Some("20240115003"));
}

#[test]
fn reads_ofx2_xml_credit_card() {
    let parsed = parse(OFX2).expect("ofx2 parses");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let st = &parsed.statement;
    assert_eq!(st.account_ref.as_deref(), Some("4111000011112222"));
    assert_eq!(st.currency.as_deref(), Some("USD"));
    assert_eq!(st.closing_balance, Some(dec!(-250.35)));
    let [a, b] = st.lines.as_slice() else {
        panic!("two lines expected, got {:?}", st.lines);
    };
    assert_eq!(a.source, "STMTTRN[1]");
    assert_eq!(
        (a.booked, a.value_date),
        (date(2024, 2, 3), Some(date(2024, 2, 2)))
    );
    assert_eq!(a.amount, dec!(-84.20));
    assert_eq!(a.description, "Müller & Söhne");
    assert_eq!(a.external_id.as_deref(), Some("2024020324692160"));
    assert_eq!(b.source, "STMTTRN[2]");
    assert_eq!((b.amount, b.booked), (dec!(25.00), date(2024, 2, 15)));
    assert_eq!(b.description, "Refund order 1234");
    assert_eq!(b.counterparty.as_deref(), Some("ONLINE STORE"));
}

#[test]
fn bad_transactions_are_located_and_skipped() {
    let text = String::from_utf8_lossy(OFX1)
        .replace("<TRNAMT>1500,00", "<TRNAMT>lots")
        .replace("<DTPOSTED>20240115000000", "<DTPOSTED>2024-01-15");
    let parsed = parse(text.as_bytes()).expect("still OFX");
    assert_eq!(parsed.statement.lines.len(), 1);
    assert_eq!(parsed.bad.len(), 2);
    assert_eq!(parsed.bad[0].location, "line 48");
    assert!(parsed.bad[0].reason.contains("TRNAMT"), "{}", parsed.bad[0]);
    assert_eq!(parsed.bad[1].location, "line 55");
    assert!(
        parsed.bad[1].reason.contains("DTPOSTED"),
        "{}",
        parsed.bad[1]
    );

    let text = String::from_utf8_lossy(OFX2).replace("<FITID>2024021599999001</FITID>", "");
    let text = text.replace("<TRNAMT>25.00</TRNAMT>", "");
    let parsed = parse(text.as_bytes()).expect("still OFX");
    assert_eq!(parsed.bad[0].location, "STMTTRN[2]");
    assert_eq!(parsed.bad[0].reason, "missing TRNAMT");
}

#[test]
fn not_ofx_is_an_error() {
    assert_eq!(
        parse(b"Date,Amount\n2024-01-01,5\n")
            .expect_err("csv")
            .location,
        "header"
    );
    let no_statement = b"OFXHEADER:100\n\n<OFX><SIGNONMSGSRSV1></SIGNONMSGSRSV1></OFX>";
    assert!(parse(no_statement).is_err());
}

#[test]
fn header_encodings_and_dates() {
    assert_eq!(
        sgml_header_encoding("ENCODING:UTF-8\nCHARSET:NONE\n"),
        UTF_8
    );
    assert_eq!(sgml_header_encoding("CHARSET:1252\n<OFX>"), WINDOWS_1252);
    assert_eq!(
        ofx_date("20240105120000.000[-5:EST]"),
        Some(date(2024, 1, 5))
    );
    assert_eq!(ofx_date("20240230"), None);
    assert_eq!(ofx_date("2024010"), None);
    assert_eq!(ofx_date("20240101x"), None);
}

#[test]
fn mutated_samples_never_panic() {
    for sample in [OFX1, OFX2] {
        for input in mutations(sample) {
            let _ = parse(&input);
            let _ = crate::finance::parse::detect(&input);
        }
    }
}

#[test]
fn amounts_are_plain_numbers_and_balances_are_not_rows() {
    let text = String::from_utf8_lossy(OFX1)
        .replace("<TRNAMT>-12.50", "<TRNAMT>$120")
        .replace("<TRNAMT>1500,00", "<TRNAMT>+1 006,60")
        .replace("<BALAMT>1441.51", "<BALAMT>EUR 1441.51");
    let parsed = parse(text.as_bytes()).expect("still OFX");
    let bad: Vec<(&str, &str)> = parsed
        .bad
        .iter()
        .map(|b| (b.location.as_str(), b.reason.as_str()))
        .collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert_eq!(bad[0].0, "line 39");
    assert!(
        bad[0]
            .1
            .starts_with("TRNAMT \"$120\" is not a plain number"),
        "{bad:?}"
    );
    assert_eq!(bad[1].0, "line 48");
    assert!(
        bad[1]
            .1
            .starts_with("TRNAMT \"+1 006,60\" is not a plain number"),
        "{bad:?}"
    );
    // The balance is left out with a warning; it is not a bad row.
    assert_eq!(parsed.statement.closing_balance, None);
    assert_eq!(parsed.warnings.len(), 1);
    assert!(
        parsed.warnings[0].reason.contains("BALAMT"),
        "{:?}",
        parsed.warnings
    );
}

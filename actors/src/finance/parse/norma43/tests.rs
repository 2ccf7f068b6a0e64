//! Norma 43 parser tests against a Latin-1 sample with `23` concepts and correct totals.

use super::*;
use crate::finance::parse::fuzz::mutations;
use rust_decimal::dec;

const SAMPLE: &[u8] = include_bytes!("../../../../tests/fixtures/statements/norma43.n43");

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// The sample as text, one record per element (Latin-1 decoded).
fn sample_records() -> Vec<String> {
    decode_latin1(SAMPLE).lines().map(str::to_owned).collect()
}

fn join(records: &[String]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|r| r.chars().map(|c| c as u8).chain(*b"\r\n"))
        .collect()
}

#[test]
fn reads_the_latin1_sample() {
    let parsed = parse(SAMPLE).expect("sample parses");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let st = &parsed.statement;
    assert_eq!(st.account_ref.as_deref(), Some("210004180200051332"));
    assert_eq!(st.currency.as_deref(), Some("EUR"));
    assert_eq!(st.opening_balance, Some(dec!(1500.00)));
    assert_eq!(st.closing_balance, Some(dec!(2652.50)));
    let [a, b, c] = st.lines.as_slice() else {
        panic!("three lines expected, got {:?}", st.lines);
    };
    assert_eq!(a.source, "line 2");
    assert_eq!(
        (a.booked, a.value_date),
        (date(2024, 1, 5), Some(date(2024, 1, 5)))
    );
    assert_eq!(a.amount, dec!(-45.50));
    assert_eq!(a.description, "MERCADONA AV. DIAGONAL BARCELONA");
    assert_eq!(
        (a.counterparty.as_deref(), a.external_id.as_deref()),
        (None, None)
    );
    assert_eq!(
        (a.currency.as_deref(), a.status),
        (Some("EUR"), TxStatus::Booked)
    );

    assert_eq!(b.source, "line 4");
    assert_eq!(
        (b.booked, b.value_date),
        (date(2024, 1, 10), Some(date(2024, 1, 11)))
    );
    assert_eq!(b.amount, dec!(1200.00));
    assert_eq!(
        b.description,
        "TRANSF. DE: ACME ESPAÑA S.L. NÓMINA ENERO CONCEPTO: SALARIO"
    );

    // No 23 records: reference 2.
    assert_eq!((c.amount, c.booked), (dec!(-2.00), date(2024, 1, 31)));
    assert_eq!(c.description, "COMISION MANTEN.");
}

#[test]
fn utf8_trimmed_and_unbroken_variants_read_the_same() {
    let expected = parse(SAMPLE).expect("sample").statement;
    let utf8: String = sample_records()
        .iter()
        .map(|r| format!("{}\n", r.trim_end()))
        .collect();
    assert_eq!(parse(utf8.as_bytes()).expect("utf-8").statement, expected);
    let unbroken: Vec<u8> = sample_records()
        .iter()
        .flat_map(|r| r.chars().map(|c| c as u8).collect::<Vec<_>>())
        .collect();
    let parsed = parse(&unbroken).expect("no line breaks");
    assert_eq!(parsed.statement.lines.len(), 3);
    assert_eq!(parsed.statement.lines[2].description, "COMISION MANTEN.");
}

#[test]
fn bad_movements_are_located_and_skipped() {
    let mut recs = sample_records();
    recs[3].replace_range(10..16, "241340"); // month 13
    recs[6].replace_range(30..35, "0000X");
    recs.insert(7, format!("{:<80}", "77 junk"));
    let mut end = recs[9].clone();
    end.replace_range(20..26, "000009");
    recs[9] = end;
    let parsed = parse(&join(&recs)).expect("totals still count the movements");
    let bad: Vec<&str> = parsed.bad.iter().map(|b| b.location.as_str()).collect();
    assert_eq!(bad, ["line 4", "line 7", "line 8"]);
    assert!(
        parsed.bad[0].reason.contains("operation date"),
        "{}",
        parsed.bad[0]
    );
    assert!(parsed.bad[1].reason.contains("amount"), "{}", parsed.bad[1]);
    assert!(
        parsed.bad[2].reason.contains("unknown record"),
        "{}",
        parsed.bad[2]
    );
    assert_eq!(parsed.statement.lines.len(), 1);
}

#[test]
fn inconsistent_or_truncated_files_are_errors() {
    let mut recs = sample_records();
    recs[7].replace_range(25..39, "00000000004751");
    let err = parse(&join(&recs)).expect_err("debit total off by a cent");
    assert_eq!(err.location, "line 8");
    assert!(err.reason.contains("debits"), "{err}");

    let recs = sample_records();
    let err = parse(&join(&recs[..6])).expect_err("no 33");
    assert!(err.reason.contains("truncated"), "{err}");

    let mut recs = sample_records();
    recs.remove(2);
    let err = parse(&join(&recs)).expect_err("88 count");
    assert_eq!(err.location, "line 8");

    assert!(parse(b"Date,Amount\n2024-01-01,5\n").is_err());
    assert!(parse(b"").is_err());
    assert!(!looks_like(b"11 hello"));
}

#[test]
fn dates_and_codes() {
    assert_eq!(yymmdd("691231"), Some(date(2069, 12, 31)));
    assert_eq!(yymmdd("700101"), Some(date(1970, 1, 1)));
    assert_eq!(yymmdd("240230"), None);
    assert_eq!(currency("999").as_deref(), Some("999"));
    assert_eq!(concept_name("11"), "Cajero automático");
}

#[test]
fn mutated_samples_never_panic() {
    for input in mutations(SAMPLE) {
        let _ = parse(&input);
        let _ = crate::finance::parse::detect(&input);
    }
}

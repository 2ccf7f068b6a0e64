//! CSV parser and profile tests against a UTF-8 and a Latin-1 sample.

use super::*;
use crate::finance::parse::fuzz::mutations;
use rust_decimal::dec;

const CHECKING: &[u8] = include_bytes!("../../../../tests/fixtures/statements/checking.csv");
const LATIN1: &[u8] = include_bytes!("../../../../tests/fixtures/statements/latin1_semicolon.csv");

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// The checking.csv profile, as a user would save it (JSON, names, defaults elsewhere).
fn checking_profile() -> CsvProfile {
    serde_json::from_str(
        r#"{"thousands_separator": ",", "columns": {
            "date": "Date", "value_date": " value date ", "description": "Description",
            "counterparty": "Counterparty", "amount": "AMOUNT", "currency": "Currency",
            "external_id": "Reference"}}"#,
    )
    .expect("profile json")
}

fn latin1_profile() -> CsvProfile {
    serde_json::from_str(
        r#"{"delimiter": ";", "skip_rows": 1, "encoding": "latin1", "decimal_separator": ",",
            "thousands_separator": ".", "date_format": "%d/%m/%Y",
            "columns": {"date": 0, "description": 1, "debit": 2, "credit": 3}}"#,
    )
    .expect("profile json")
}

#[test]
fn reads_utf8_signed_amounts_with_twins() {
    let parsed = parse(CHECKING, &checking_profile()).expect("parses");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let lines = &parsed.statement.lines;
    assert_eq!(lines.len(), 5);
    let l = &lines[0];
    assert_eq!(
        (l.source.as_str(), l.booked, l.value_date),
        ("line 2", date(2024, 3, 1), Some(date(2024, 3, 1)))
    );
    assert_eq!(
        (l.amount, l.description.as_str()),
        (dec!(2500.00), "SALARY MARCH 2024")
    );
    assert_eq!(l.counterparty.as_deref(), Some("ACME Corp"));
    assert_eq!(
        (l.external_id.as_deref(), l.currency.as_deref()),
        (Some("TX-1001"), Some("EUR"))
    );
    assert_eq!(l.status, TxStatus::Booked);

    // Twins: both identical purchases are kept, told apart only by their line.
    let (a, b) = (&lines[1], &lines[2]);
    assert_eq!((a.source.as_str(), b.source.as_str()), ("line 3", "line 4"));
    assert_eq!(
        (a.amount, a.booked, a.value_date),
        (dec!(-3.50), date(2024, 3, 2), None)
    );
    assert_eq!(a.external_id, None);
    assert_eq!(
        StatementLine {
            source: String::new(),
            ..a.clone()
        },
        StatementLine {
            source: String::new(),
            ..b.clone()
        }
    );

    // After the blank line 5.
    assert_eq!(lines[3].source, "line 6");
    assert_eq!(
        (lines[3].amount, lines[3].description.as_str()),
        (dec!(-1200.00), "Rent, April")
    );
    assert_eq!(lines[4].amount, dec!(19.99));
}

#[test]
fn reads_latin1_debit_credit_with_preamble() {
    let parsed = parse(LATIN1, &latin1_profile()).expect("parses");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let lines = &parsed.statement.lines;
    let got: Vec<(&str, NaiveDate, Decimal, &str)> = lines
        .iter()
        .map(|l| {
            (
                l.source.as_str(),
                l.booked,
                l.amount,
                l.description.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("line 3", date(2024, 1, 2), dec!(-4.50), "Café Ñandú S.L."),
            (
                "line 4",
                date(2024, 1, 3),
                dec!(1250.00),
                "Transferencia de Peña"
            ),
            (
                "line 5",
                date(2024, 1, 5),
                dec!(-85.20),
                "Recibo luz Iberdrola"
            ),
        ]
    );
    assert_eq!(lines[0].currency, None);

    let mut inverted = latin1_profile();
    inverted.invert_sign = true;
    let parsed = parse(LATIN1, &inverted).expect("parses");
    assert_eq!(parsed.statement.lines[0].amount, dec!(4.50));
}

#[test]
fn bad_rows_are_located_and_parsing_continues() {
    let csv = "Date,Description,Amount\n2024-01-01,ok,1.00\n2024-13-01,bad date,2.00\n\
               2024-01-03,bad amount,12x\n2024-01-04,too,many,cells\n;;\n\
               2024-01-05,,\n2024-01-06,last,-6.00\n";
    let profile: CsvProfile =
        serde_json::from_str(r#"{"columns": {"date": 0, "description": 1, "amount": 2}}"#)
            .expect("profile");
    let parsed = parse(csv.as_bytes(), &profile).expect("parses");
    let bad: Vec<&str> = parsed.bad.iter().map(|b| b.location.as_str()).collect();
    assert_eq!(bad, ["line 3", "line 4", "line 5", "line 6", "line 7"]);
    assert!(
        parsed.bad[0].reason.contains("bad date"),
        "{}",
        parsed.bad[0]
    );
    assert!(
        parsed.bad[2].reason.contains("expected 3 columns"),
        "{}",
        parsed.bad[2]
    );
    assert_eq!(parsed.bad[4].reason, "missing amount");
    let amounts: Vec<Decimal> = parsed.statement.lines.iter().map(|l| l.amount).collect();
    assert_eq!(amounts, [dec!(1.00), dec!(-6.00)]);
}

#[test]
fn header_and_profile_problems_are_errors() {
    let mut profile = checking_profile();
    profile.columns.counterparty = Some(Column::Name("Payee".into()));
    let err = parse(CHECKING, &profile).expect_err("missing column");
    assert_eq!(err.location, "header");
    assert!(err.reason.contains("Payee"), "{err}");

    let mut profile = checking_profile();
    profile.columns.debit = Some(Column::Index(3));
    let err = parse(CHECKING, &profile).expect_err("amount and debit");
    assert_eq!(err.location, "profile.columns.amount");

    let mut profile = latin1_profile();
    profile.columns.credit = Some(Column::Index(9));
    assert_eq!(
        parse(LATIN1, &profile).expect_err("index").location,
        "profile.columns.credit"
    );
    assert_eq!(
        parse(b"", &latin1_profile()).expect_err("empty").location,
        "line 2"
    );
}

#[test]
fn profile_validation() {
    assert!(checking_profile().validate().is_empty());
    assert!(latin1_profile().validate().is_empty());
    let mut p = latin1_profile();
    p.has_header = false;
    p.delimiter = ',';
    p.date_format = "%d/%m".into();
    p.columns.amount = None;
    p.columns.debit = None;
    p.columns.credit = None;
    p.columns.description = Column::Name("Concepto".into());
    let fields: Vec<String> = p.validate().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "decimal_separator",
            "date_format",
            "columns.amount",
            "columns.description"
        ]
    );
    for bad_format in ["%Q", "%Y-%m-%d %z", ""] {
        p.date_format = bad_format.into();
        assert!(
            p.validate().iter().any(|(f, _)| f == "date_format"),
            "{bad_format}"
        );
    }
    p.date_format = "%d/%m/%Y %H:%M".into();
    assert!(!p.validate().iter().any(|(f, _)| f == "date_format"));

    let unknown = serde_json::from_str::<CsvProfile>(
        r#"{"columns": {"date": 0, "description": 1, "amount": 2}, "delimeter": ";"}"#,
    );
    assert!(unknown.is_err(), "typo'd field must be rejected");
    let json = serde_json::to_string(&latin1_profile()).expect("serialize");
    assert_eq!(
        serde_json::from_str::<CsvProfile>(&json).expect("round trip"),
        latin1_profile()
    );
}

#[test]
fn mutated_samples_never_panic() {
    for (sample, profile) in [(CHECKING, checking_profile()), (LATIN1, latin1_profile())] {
        for input in mutations(sample) {
            let _ = parse(&input, &profile);
            let _ = crate::finance::parse::detect(&input);
        }
    }
}

#[test]
fn a_latin1_file_read_as_utf8_is_refused_naming_its_rows() {
    // The Latin-1 sample through a profile that (wrongly) says UTF-8.
    let mut profile = latin1_profile();
    profile.encoding = CsvEncoding::Utf8;
    let err = parse(LATIN1, &profile).expect_err("not UTF-8");
    assert!(err.location.starts_with("line"), "{err}");
    assert!(err.reason.contains("not valid UTF-8"), "{err}");
    assert!(err.reason.contains("`encoding`"), "{err}");
    assert!(!err.to_string().contains('\u{FFFD}'), "{err}");
    // With the right encoding the same bytes read cleanly.
    let parsed = parse(LATIN1, &latin1_profile()).expect("latin1");
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);

    let csv = b"Date,Description,Amount\n2024-01-01,ok,1.00\n2024-01-02,Caf\xe9,2.00\n";
    let err = parse(csv, &checking_like()).expect_err("not UTF-8");
    assert_eq!(err.location, "line 3");
    assert!(err.reason.contains("\"2024-01-02,Café,2.00\""), "{err}");
}

fn checking_like() -> CsvProfile {
    serde_json::from_str(
        r#"{"columns": {"date": "Date", "description": "Description", "amount": "Amount"}}"#,
    )
    .expect("profile json")
}

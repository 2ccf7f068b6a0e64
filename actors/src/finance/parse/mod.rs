//! Bank-statement file parsers: CSV (with saved column-mapping profiles), OFX/QFX 1.x and
//! 2.x, CAMT.053 and Norma 43 (AEB/CSB 43).
//!
//! Every parser follows one contract: a file that is not of the format at all, or whose
//! header cannot be read, is an `Err(ParseIssue)`; a bad row or entry goes into
//! [`Parsed::bad`] with its location and reason and parsing goes on, so the caller can choose
//! between all-or-nothing and skipping. No input makes a parser panic (the `fuzz` tests
//! mutate every sample to hold them to that).
//!
//! # Layout
//! - `csv.rs` (+ `csv/profile.rs`): profile-driven CSV.
//! - `ofx.rs` on top of `sgml.rs`, a tolerant OFX tokenizer; `camt.rs` on top of `tree.rs`
//!   (quick-xml into a small element tree); `norma43.rs`.
//! - `text.rs`: decoding, whitespace and amount helpers.

mod camt;
mod csv;
mod norma43;
mod ofx;
mod sgml;
mod text;
mod tree;

#[cfg(test)]
mod fuzz;

pub use self::csv::{Column, CsvColumns, CsvEncoding, CsvProfile};

use super::{ParseIssue, Parsed};
use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Format {
    Csv,
    Ofx,
    Camt053,
    Norma43,
}

impl Format {
    /// The stored and wire form (derived, so it cannot drift from `parse`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Strict: anything but a known form is `None` (a stored unknown value is an error).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// Sniffs the content: OFX header/`<OFX>`, CAMT `BkToCstmrStmt`, Norma 43 (first record
/// starts with "11" and lines are 80 chars), else None (CSV can't be sniffed reliably → caller
/// passes Csv with a profile).
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let bytes = text::strip_utf8_bom(bytes);
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let upper = head.to_ascii_uppercase();
    if upper.trim_start().starts_with("OFXHEADER") || upper.contains("<OFX>") {
        return Some(Format::Ofx);
    }
    if head.trim_start().starts_with('<') && head.contains("BkToCstmrStmt") {
        return Some(Format::Camt053);
    }
    norma43::looks_like(bytes).then_some(Format::Norma43)
}

/// `profile` is required for Csv (Err(ParseIssue) naming "profile" if None), ignored otherwise.
pub fn parse(
    format: Format,
    bytes: &[u8],
    profile: Option<&CsvProfile>,
) -> Result<Parsed, ParseIssue> {
    match format {
        Format::Csv => {
            let profile = profile.ok_or_else(|| {
                ParseIssue::new("profile", "a CSV file needs a column-mapping profile")
            })?;
            csv::parse(bytes, profile)
        }
        Format::Ofx => ofx::parse(bytes),
        Format::Camt053 => camt::parse(bytes),
        Format::Norma43 => norma43::parse(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: [(&[u8], Option<Format>); 8] = [
        (
            include_bytes!("../../../tests/fixtures/statements/checking.csv"),
            None,
        ),
        (
            include_bytes!("../../../tests/fixtures/statements/latin1_semicolon.csv"),
            None,
        ),
        (
            include_bytes!("../../../tests/fixtures/statements/ofx1.ofx"),
            Some(Format::Ofx),
        ),
        (
            include_bytes!("../../../tests/fixtures/statements/ofx2.qfx"),
            Some(Format::Ofx),
        ),
        (
            include_bytes!("../../../tests/fixtures/statements/camt053.xml"),
            Some(Format::Camt053),
        ),
        (
            include_bytes!("../../../tests/fixtures/statements/camt053_v8.xml"),
            Some(Format::Camt053),
        ),
        (
            include_bytes!("../../../tests/fixtures/statements/norma43.n43"),
            Some(Format::Norma43),
        ),
        (b"", None),
    ];

    #[test]
    fn detects_each_sample() {
        for (i, (bytes, expected)) in FIXTURES.iter().enumerate() {
            assert_eq!(detect(bytes), *expected, "fixture {i}");
        }
        assert_eq!(detect(b"<html><body>hi</body></html>"), None);
        assert_eq!(detect(b"11 not a norma 43 file"), None);
    }

    #[test]
    fn format_names_round_trip() {
        for f in [Format::Csv, Format::Ofx, Format::Camt053, Format::Norma43] {
            assert_eq!(Format::parse(f.as_str()), Some(f));
            let json = serde_json::to_string(&f).expect("serialize");
            assert_eq!(json, format!("\"{}\"", f.as_str()));
        }
        assert_eq!(Format::parse("qif"), None);
    }

    #[test]
    fn csv_needs_a_profile() {
        let err = parse(Format::Csv, b"a,b\n", None).expect_err("no profile");
        assert_eq!(err.location, "profile");
    }

    #[test]
    fn sniffed_samples_parse_without_bad_rows() {
        for (bytes, format) in FIXTURES {
            if let Some(format) = format {
                let parsed = parse(format, bytes, None).expect("sample parses");
                assert!(parsed.bad.is_empty(), "{format:?}: {:?}", parsed.bad);
                assert!(!parsed.statement.lines.is_empty());
            }
        }
    }
}

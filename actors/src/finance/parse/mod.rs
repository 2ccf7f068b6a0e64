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
    if unsupported_kind(bytes).is_some() {
        return None;
    }
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

/// What a file that cannot be a statement looks like, from its signature: archives,
/// documents and images are common wrong uploads (a bank's ZIP download, the PDF statement),
/// and "malformed XML at line 1" would not tell the user what happened.
pub fn unsupported_kind(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 12] = [
        (
            b"PK\x03\x04",
            "a ZIP archive (also .xlsx/.ods); unpack it and upload the statement inside",
        ),
        (b"PK\x05\x06", "an empty ZIP archive"),
        (
            b"\x1f\x8b",
            "a gzip archive; unpack it and upload the statement inside",
        ),
        (
            b"7z\xbc\xaf\x27\x1c",
            "a 7-Zip archive; unpack it and upload the statement inside",
        ),
        (
            b"Rar!\x1a\x07",
            "a RAR archive; unpack it and upload the statement inside",
        ),
        (
            b"%PDF-",
            "a PDF document; download the statement as CSV, OFX, CAMT.053 or Norma 43",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "an old Excel/Word document; export it as CSV",
        ),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\xff\xfe", "UTF-16 text; save it as UTF-8"),
        (b"\xfe\xff", "UTF-16 text; save it as UTF-8"),
    ];
    if let Some((_, kind)) = SIGNATURES.iter().find(|(sig, _)| bytes.starts_with(sig)) {
        return Some(kind);
    }
    // No text format here has NUL bytes; UTF-16 without a BOM has them everywhere.
    bytes[..bytes.len().min(8 * 1024)]
        .contains(&0)
        .then_some("binary data, not text")
}

/// The message for a file whose format could not be sniffed (see [`detect`]).
pub fn undetected_reason(bytes: &[u8]) -> String {
    match unsupported_kind(bytes) {
        Some(kind) => unsupported_message(kind),
        None => "could not tell the file's format; name it (csv needs a profile)".to_owned(),
    }
}

fn unsupported_message(kind: &str) -> String {
    format!("not a supported statement format (looks like {kind})")
}

/// `profile` is required for Csv (Err(ParseIssue) naming "profile" if None), ignored otherwise.
/// Archives, documents and other binary files are refused first, whatever `format` says.
pub fn parse(
    format: Format,
    bytes: &[u8],
    profile: Option<&CsvProfile>,
) -> Result<Parsed, ParseIssue> {
    if let Some(kind) = unsupported_kind(bytes) {
        return Err(ParseIssue::new("file", unsupported_message(kind)));
    }
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
    fn archives_and_binaries_are_named_not_parsed() {
        // A ZIP holding a CAMT file still shows the XML inside (stored, not deflated).
        let mut zip = b"PK\x03\x04\x14\x00\x00\x00statement.xml".to_vec();
        zip.extend_from_slice(include_bytes!(
            "../../../tests/fixtures/statements/camt053.xml"
        ));
        assert_eq!(detect(&zip), None);
        assert!(undetected_reason(&zip).contains("looks like a ZIP archive"));
        for format in [Format::Csv, Format::Ofx, Format::Camt053, Format::Norma43] {
            let err = parse(format, &zip, None).expect_err("zip");
            assert_eq!(err.location, "file");
            assert!(
                err.reason
                    .starts_with("not a supported statement format (looks like a ZIP archive"),
                "{err}"
            );
        }
        let err = parse(Format::Ofx, b"%PDF-1.7\n...", None).expect_err("pdf");
        assert!(err.reason.contains("a PDF document"), "{err}");
        let utf16: Vec<u8> = "date,amount\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let err = parse(Format::Norma43, &utf16, None).expect_err("utf-16");
        assert!(err.reason.contains("binary data"), "{err}");
        assert_eq!(
            undetected_reason(b"date,amount\n"),
            "could not tell the file's format; name it (csv needs a profile)"
        );
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

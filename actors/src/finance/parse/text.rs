//! Small text helpers shared by the parsers: byte decoding, whitespace clean-up and amount
//! parsing. Amounts are built from their digits into a `Decimal`; a float never takes part.

use crate::finance::ParseIssue;
use encoding_rs::Encoding;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Trims and collapses inner whitespace runs to one space, the form every description and
/// name is stored in (so identical rows compare equal whatever the bank's padding).
pub(crate) fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `collapse_ws`, or `None` when nothing is left.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let c = collapse_ws(s);
    (!c.is_empty()).then_some(c)
}

pub(crate) fn strip_utf8_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// ISO-8859-1: every byte is the code point of the same value. (encoding_rs maps the
/// "latin1" label to windows-1252, which differs in 0x80..0x9F, so it is done by hand.)
pub(crate) fn decode_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Decodes with a declared encoding, except that a declared single-byte file that is valid
/// UTF-8 with non-ASCII bytes is read as UTF-8: exporters often mislabel UTF-8 output, and
/// real single-byte text with accented letters is practically never valid UTF-8. A file
/// declared UTF-8 must be valid UTF-8 (see [`decode_utf8_strict`]).
pub(crate) fn decode_declared(
    bytes: &[u8],
    declared: &'static Encoding,
    hint: &str,
) -> Result<String, ParseIssue> {
    let bytes = strip_utf8_bom(bytes);
    if declared == encoding_rs::UTF_8 {
        return decode_utf8_strict(bytes, hint);
    }
    if !bytes.is_ascii()
        && let Ok(utf8) = std::str::from_utf8(bytes)
    {
        return Ok(utf8.to_owned());
    }
    Ok(declared.decode_without_bom_handling(bytes).0.into_owned())
}

/// How many lines with invalid bytes an error names before it says "and N more".
const NAMED_LINES: usize = 10;

/// UTF-8 or an error naming the lines with invalid bytes. Never a lossy decode: U+FFFD in
/// place of a letter would be stored silently, and the same file re-imported with the right
/// encoding would then not match its own rows (new dedupe keys, so duplicates).
/// `hint` says what to change (the CSV profile's `encoding`, the XML declaration, …).
pub(crate) fn decode_utf8_strict(bytes: &[u8], hint: &str) -> Result<String, ParseIssue> {
    let bytes = strip_utf8_bom(bytes);
    let first_error = match std::str::from_utf8(bytes) {
        Ok(text) => return Ok(text.to_owned()),
        Err(e) => e,
    };
    // Every invalid sequence, as byte offsets: walk past each one.
    let mut bad_offsets = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match std::str::from_utf8(&bytes[at..]) {
            Ok(_) => break,
            Err(e) => {
                let offset = at + e.valid_up_to();
                bad_offsets.push(offset);
                at = offset + e.error_len().unwrap_or(bytes.len() - offset);
            }
        }
    }
    let mut lines: Vec<usize> = Vec::new();
    let mut counter = LineCounter::from_bytes(bytes);
    for offset in bad_offsets {
        let line = counter.line_at(offset as u64);
        if lines.last() != Some(&line) {
            lines.push(line);
        }
    }
    let named: Vec<String> = lines
        .iter()
        .take(NAMED_LINES)
        .map(usize::to_string)
        .collect();
    let mut location = format!(
        "{} {}",
        if lines.len() == 1 { "line" } else { "lines" },
        named.join(", ")
    );
    if lines.len() > NAMED_LINES {
        location.push_str(&format!(" and {} more", lines.len() - NAMED_LINES));
    }
    // Show the first bad line as windows-1252 would read it: usually that is the answer.
    let offset = first_error.valid_up_to();
    let start = bytes[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = bytes[offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| offset + i);
    let as_1252 = encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(&bytes[start..end])
        .0;
    let reason = format!(
        "not valid UTF-8 (byte 0x{:02X}); in Windows-1252/Latin-1 line {} would read {}. \
         Nothing was guessed: {hint}",
        bytes[offset],
        lines.first().copied().unwrap_or(1),
        shown(as_1252.trim()),
    );
    Err(ParseIssue::new(location, reason))
}

/// A value from the file, quoted for a message: control characters escaped, long values cut.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::from("\"");
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `encoding="…"` of an XML declaration at the start of `bytes`, if any.
pub(crate) fn xml_declared_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    let bytes = strip_utf8_bom(bytes);
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let rest = &decl[decl.find("encoding")? + "encoding".len()..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Encoding::for_label(value[..value.find(quote)?].trim().as_bytes())
}

/// Parses a human-formatted amount with known separators: `1.234,56`, `-3.50`, `12,00-`,
/// `(45.00)`, `€ 12`, `12.50 EUR`, `+19.99`. Currency codes and symbols may only surround the
/// number; anything unexpected inside it is an error rather than silently dropped.
pub(crate) fn parse_amount(
    raw: &str,
    decimal: char,
    thousands: Option<char>,
) -> Result<Decimal, String> {
    let s = raw.trim();
    let (Some(first), Some(last)) = (
        s.find(|c: char| c.is_ascii_digit()),
        s.rfind(|c: char| c.is_ascii_digit()),
    ) else {
        return Err(if s.is_empty() {
            "empty amount".into()
        } else {
            format!("no digits in amount {s:?}")
        });
    };
    // `last` indexes an ASCII digit, so `last + 1` is a char boundary.
    let (mut prefix, middle, suffix) = (&s[..first], &s[first..=last], &s[last + 1..]);
    let mut number = String::with_capacity(middle.len() + 1);
    let mut seen_decimal = false;
    if let Some(p) = prefix.strip_suffix(decimal) {
        // ",50" / ".5": the separator sits before the first digit.
        prefix = p;
        number.push_str("0.");
        seen_decimal = true;
    }
    let (mut minus, mut open, mut close) = (0usize, false, false);
    for c in prefix.chars().chain(suffix.chars()) {
        match c {
            '-' | '\u{2212}' => minus += 1,
            '(' => open = true,
            ')' => close = true,
            '+' | '$' => {}
            c if c.is_whitespace() || c.is_alphabetic() => {}
            // Non-ASCII symbols: €, £, ¥, ₹, …
            c if !c.is_ascii() && !c.is_numeric() => {}
            c => return Err(format!("unexpected {c:?} in amount {s:?}")),
        }
    }
    // Letters around the number are a currency code or abbreviation ("EUR", "kr"); a lone
    // letter is more likely a typo ("12x") than a currency.
    let lone_letter = [prefix, suffix]
        .iter()
        .flat_map(|part| part.split(|c: char| !c.is_alphabetic()))
        .any(|run| run.chars().count() == 1);
    if lone_letter {
        return Err(format!("unexpected letter in amount {s:?}"));
    }
    if open != close {
        return Err(format!("unbalanced parenthesis in amount {s:?}"));
    }
    let negatives = minus + usize::from(open);
    if negatives > 1 {
        return Err(format!("conflicting signs in amount {s:?}"));
    }
    let grouping_ws = thousands.is_some_and(char::is_whitespace);
    for c in middle.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else if c == decimal {
            if seen_decimal {
                return Err(format!("more than one decimal separator in {s:?}"));
            }
            seen_decimal = true;
            number.push('.');
        } else if Some(c) == thousands || (grouping_ws && c.is_whitespace()) {
            if seen_decimal {
                return Err(format!("thousands separator after the decimals in {s:?}"));
            }
        } else {
            return Err(format!("unexpected {c:?} in amount {s:?}"));
        }
    }
    let value = Decimal::from_str(&number).map_err(|e| format!("amount {s:?}: {e}"))?;
    Ok(if negatives == 1 && !value.is_zero() {
        -value
    } else {
        value
    })
}

/// An OFX amount: a plain number, optionally signed, with `.` or `,` as the decimal separator
/// (the spec allows both) and nothing else: no currency symbol, no space, no thousands
/// separator. Being strict here is what keeps `$120` and `+1 006,60` from being read
/// differently; the message says what an amount must look like.
pub(crate) fn parse_ofx_amount(field: &str, raw: &str) -> Result<Decimal, String> {
    let s = raw.trim();
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = match unsigned.split_once(['.', ',']) {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let valid = digits(int)
        && frac.is_none_or(digits)
        && !(int.is_empty() && frac.is_none_or(str::is_empty));
    if !valid {
        return Err(format!(
            "{field} {} is not a plain number: OFX amounts are digits with an optional sign \
             and decimal point, such as -1006.60 (no currency symbols, spaces or thousands \
             separators)",
            shown(s)
        ));
    }
    let plain = s.replacen(',', ".", 1);
    Decimal::from_str(&plain).map_err(|_| format!("{field} {} is out of range", shown(s)))
}

/// A strict XML-schema style decimal (`123.45`, `-0.5`): what CAMT writes.
pub(crate) fn parse_plain_decimal(raw: &str) -> Result<Decimal, String> {
    let s = raw.trim();
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let valid = !digits.is_empty()
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !valid {
        return Err(format!(
            "{} is not a decimal number such as 123.45",
            shown(s)
        ));
    }
    Decimal::from_str(s).map_err(|_| format!("{} is out of range", shown(s)))
}

/// Maps byte offsets to 1-based line numbers, counting incrementally so that asking for
/// ever-later offsets (as a reader does) stays linear in the file size.
pub(crate) struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub fn new(text: &'a str) -> Self {
        Self::from_bytes(text.as_bytes())
    }

    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    pub fn line_at(&mut self, offset: u64) -> usize {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        if offset < self.offset {
            (self.offset, self.line) = (0, 1);
        }
        let newlines = self.bytes[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n');
        self.line += newlines.count();
        self.offset = offset;
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn amounts_in_bank_notations() {
        let ok = |s: &str, d: char, t: Option<char>| parse_amount(s, d, t).expect(s);
        assert_eq!(ok("1.234,56", ',', Some('.')), dec!(1234.56));
        assert_eq!(ok("-1.234,56 €", ',', Some('.')), dec!(-1234.56));
        assert_eq!(ok("12,00-", ',', None), dec!(-12.00));
        assert_eq!(ok("(45.00)", '.', None), dec!(-45.00));
        assert_eq!(ok("USD +19.99", '.', None), dec!(19.99));
        assert_eq!(ok("1 234,5", ',', Some(' ')), dec!(1234.5));
        assert_eq!(ok(",50", ',', None), dec!(0.50));
        assert_eq!(ok("-0.00", '.', None), Decimal::ZERO);
        for bad in ["", "abc", "12x", "1.2.3", "--5", "12a3", "1e5", "(5", "1/2"] {
            assert!(parse_amount(bad, '.', Some(',')).is_err(), "{bad}");
        }
        assert!(parse_amount("1,234.56", '.', None).is_err());
    }

    #[test]
    fn plain_decimals() {
        assert_eq!(parse_plain_decimal(" 15.44 ").expect("plain"), dec!(15.44));
        assert!(parse_plain_decimal("1e5").is_err());
    }

    #[test]
    fn ofx_amounts_are_plain_numbers() {
        let ok = |s: &str| parse_ofx_amount("TRNAMT", s).expect(s);
        assert_eq!(ok("-12.50"), dec!(-12.50));
        assert_eq!(ok("-12,50"), dec!(-12.50));
        assert_eq!(ok("+120"), dec!(120));
        assert_eq!(ok(" .5 "), dec!(0.5));
        for bad in [
            "$120",
            "+1 006,60",
            "1,234.56",
            "1.234,56",
            "12 EUR",
            "",
            "-",
            ".",
            "1e5",
        ] {
            let err = parse_ofx_amount("TRNAMT", bad).expect_err(bad);
            assert!(err.starts_with("TRNAMT \""), "{err}");
            assert!(err.contains("plain number"), "{err}");
        }
    }

    #[test]
    fn invalid_utf8_names_its_lines_and_suggests_the_encoding() {
        let bytes =
            b"date,text\n2024-01-01,ok\n2024-01-02,Caf\xe9\n2024-01-03,fine\n2024-01-04,\xff\xfe\n";
        let err = decode_utf8_strict(bytes, "set the encoding").expect_err("invalid");
        assert_eq!(err.location, "lines 3, 5");
        assert!(err.reason.contains("0xE9"), "{err}");
        assert!(err.reason.contains("2024-01-02,Café"), "{err}");
        assert!(!err.reason.contains('\u{FFFD}'), "{err}");
        assert_eq!(
            decode_utf8_strict("\u{FEFF}Müller".as_bytes(), "").expect("valid"),
            "Müller"
        );
        let many: Vec<u8> = (0..15).flat_map(|_| b"x\xe9\n".iter().copied()).collect();
        let err = decode_utf8_strict(&many, "").expect_err("invalid");
        assert_eq!(
            err.location,
            "lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 5 more"
        );
        assert_eq!(shown("a\"b\nc"), "\"a\\\"b\\nc\"");
    }

    #[test]
    fn encodings() {
        assert_eq!(decode_latin1(b"Caf\xe9"), "Café");
        let decode = |b: &[u8], e| decode_declared(b, e, "").expect("decodes");
        assert_eq!(decode(b"\x80 5", encoding_rs::WINDOWS_1252), "€ 5");
        assert_eq!(
            decode("Müller".as_bytes(), encoding_rs::WINDOWS_1252),
            "Müller"
        );
        assert!(decode_declared(b"\xe9", encoding_rs::UTF_8, "").is_err());
        let enc = xml_declared_encoding(b"<?xml version=\"1.0\" encoding='ISO-8859-1'?><a/>");
        assert_eq!(enc, Some(encoding_rs::WINDOWS_1252));
        assert_eq!(xml_declared_encoding(b"<a/>"), None);
    }
}

//! Small text helpers shared by the parsers: byte decoding, whitespace clean-up and amount
//! parsing. Amounts are built from their digits into a `Decimal`; a float never takes part.

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
/// real single-byte text with accented letters is practically never valid UTF-8.
pub(crate) fn decode_declared(bytes: &[u8], declared: &'static Encoding) -> String {
    let bytes = strip_utf8_bom(bytes);
    if declared == encoding_rs::UTF_8 || (!bytes.is_ascii() && std::str::from_utf8(bytes).is_ok()) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    declared.decode_without_bom_handling(bytes).0.into_owned()
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

/// For sources that declare no separators (OFX in the wild writes `-12,50` as often as
/// `-12.50`): the last of `.`/`,` is the decimal separator unless it repeats.
pub(crate) fn parse_amount_auto(raw: &str) -> Result<Decimal, String> {
    let (dots, commas) = (raw.matches('.').count(), raw.matches(',').count());
    let (decimal, thousands) = match (dots, commas) {
        (0, 0) | (1, 0) => ('.', None),
        (0, 1) => (',', None),
        (_, 0) => (',', Some('.')),
        (0, _) => ('.', Some(',')),
        _ if raw.rfind(',') > raw.rfind('.') => (',', Some('.')),
        _ => ('.', Some(',')),
    };
    parse_amount(raw, decimal, thousands)
}

/// A strict XML-schema style decimal (`123.45`, `-0.5`): what CAMT writes.
pub(crate) fn parse_plain_decimal(raw: &str) -> Result<Decimal, String> {
    let s = raw.trim();
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let valid = !digits.is_empty()
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !valid {
        return Err(format!("invalid amount {s:?}"));
    }
    Decimal::from_str(s).map_err(|e| format!("invalid amount {s:?}: {e}"))
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
        Self {
            bytes: text.as_bytes(),
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
    fn auto_amounts() {
        assert_eq!(parse_amount_auto("-12,50").expect("comma"), dec!(-12.50));
        assert_eq!(parse_amount_auto("1.234,5").expect("eu"), dec!(1234.5));
        assert_eq!(parse_amount_auto("1,234.5").expect("us"), dec!(1234.5));
        assert_eq!(parse_plain_decimal(" 15.44 ").expect("plain"), dec!(15.44));
        assert!(parse_plain_decimal("1e5").is_err());
    }

    #[test]
    fn encodings() {
        assert_eq!(decode_latin1(b"Caf\xe9"), "Café");
        assert_eq!(decode_declared(b"\x80 5", encoding_rs::WINDOWS_1252), "€ 5");
        assert_eq!(
            decode_declared("Müller".as_bytes(), encoding_rs::WINDOWS_1252),
            "Müller"
        );
        let enc = xml_declared_encoding(b"<?xml version=\"1.0\" encoding='ISO-8859-1'?><a/>");
        assert_eq!(enc, Some(encoding_rs::WINDOWS_1252));
        assert_eq!(xml_declared_encoding(b"<a/>"), None);
    }
}

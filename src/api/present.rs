//! How values leave the API: one timestamp format and money at its currency's scale.
//!
//! Storage keeps epoch milliseconds (cheap to index and compare on both backends) and
//! normalised decimals (`-45.2`, so sums and dedupe keys do not depend on how a bank wrote
//! the number). Responses are where the user reads them, so the conversion is done here,
//! once, for every DTO.

use chrono::{DateTime, Datelike, Timelike, Utc};
use rust_decimal::Decimal;
use serde::Serializer;
use std::str::FromStr;

/// Epoch milliseconds as an RFC 3339 UTC timestamp (serialised like `2026-01-31T09:15:00.123Z`).
/// Stored values always fit; an impossible one shows as the epoch rather than failing a read.
pub fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn time_opt(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
}

/// `serialize_with` for a [`DateTime<Utc>`]: the text chrono's serde writes (RFC 3339, `Z`,
/// fractional seconds only when there are some, in 3, 6 or 9 digits), formatted here.
///
/// Why: a page of 50 transactions has 100 timestamps, and chrono formats each through
/// `core::fmt`, a virtual call per character: 7.8 % of the service's CPU on the transactions
/// page (perf, 2026-12-04; docs/decisions.md "The transactions page, second profile").
/// Years outside 0-9999 and leap seconds, never stored here, go to chrono as before.
pub fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match write_rfc3339(t, &mut buf) {
        Some(n) => s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default()),
        None => serde::Serialize::serialize(t, s),
    }
}

/// [`rfc3339`] for an optional time (`null` when absent).
pub fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// A stored time (epoch milliseconds) as a JSON string, the same text as [`rfc3339`], appended
/// to `out` (rows written straight into a response: `api/financial/tx_json.rs`).
pub fn time_json(ms: i64, out: &mut Vec<u8>) {
    let t = time(ms);
    let mut buf = [0u8; 30];
    match write_rfc3339(&t, &mut buf) {
        Some(n) => {
            out.push(b'"');
            out.extend_from_slice(buf.get(..n).unwrap_or_default());
            out.push(b'"');
        }
        // Writing into a `Vec` cannot fail, and chrono's serde always writes a string.
        None => serde_json::to_writer(out, &t).unwrap_or_default(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z` into `buf`, its length; `None` where chrono's own
/// format differs (a year outside 0-9999, a leap second).
fn write_rfc3339(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut out = Out { buf, n: 0 };
    out.digits(year, 4);
    out.byte(b'-');
    out.digits(t.month(), 2);
    out.byte(b'-');
    out.digits(t.day(), 2);
    out.byte(b'T');
    out.digits(t.hour(), 2);
    out.byte(b':');
    out.digits(t.minute(), 2);
    out.byte(b':');
    out.digits(t.second(), 2);
    // chrono's `SecondsFormat::AutoSi`: the fewest of 0, 3, 6 or 9 digits that are exact.
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if digits > 0 {
        out.byte(b'.');
        out.digits(fraction, digits);
    }
    out.byte(b'Z');
    Some(out.n)
}

/// A cursor over a buffer that is always long enough (at most 30 bytes are written).
struct Out<'a> {
    buf: &'a mut [u8; 30],
    n: usize,
}

impl Out<'_> {
    /// `value` in exactly `count` decimal digits, zero-padded.
    fn digits(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            // A digit: always < 10.
            self.byte(b'0' + (value / 10u32.pow(i) % 10) as u8);
        }
    }

    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.n) {
            *slot = b;
            self.n += 1;
        }
    }
}

/// An amount as text with at least the currency's minor-unit decimals (ISO 4217: 2 for EUR
/// and USD, 0 for JPY, 3 for KWD) and never fewer than it has: `-45.2` EUR is `-45.20`,
/// `0.1234` EUR stays `0.1234`, `1000` JPY stays `1000`.
///
/// Why at presentation rather than storing the bank's text: the stored value is normalised
/// on purpose (see above) and written by the ingest path; the currency's scale is what a
/// bank prints anyway, so `-45.20` comes back as written. A code without minor units
/// (unknown, or metals such as XAU) keeps the stored scale.
pub fn money(amount: Decimal, currency: &str) -> String {
    let minor = minor_units(currency);
    let mut shown = amount.normalize();
    if shown.scale() < minor {
        shown.rescale(minor);
    }
    if shown.is_zero() {
        shown.set_sign_positive(true);
    }
    shown.to_string()
}

/// [`money`] for a stored decimal string; text that is not a decimal is shown as stored.
pub fn money_text(stored: &str, currency: &str) -> String {
    if let Some(shown) = padded(stored, minor_units(currency)) {
        return shown;
    }
    Decimal::from_str(stored).map_or_else(|_| stored.to_owned(), |d| money(d, currency))
}

/// The currency's minor-unit decimals (ISO 4217), 0 when it has none or is unknown.
fn minor_units(currency: &str) -> u32 {
    iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .map_or(0, u32::from)
}

/// [`money`] of a stored amount in its normalised form (`-45.2`: no leading zeros, no
/// trailing zeros after the point, never `-0`), by padding its text with zeros; `None` for
/// any other text, which goes through [`Decimal`].
///
/// Why: every amount the ingest path stores is in that form, and parsing and printing a
/// `Decimal` per row was 2.4 % of the service's CPU on the transactions page (perf,
/// 2026-12-04).
fn padded(stored: &str, minor: u32) -> Option<String> {
    let (pad, point) = padding(stored, minor)?;
    let mut shown = String::with_capacity(stored.len() + pad + 1);
    shown.push_str(stored);
    if point {
        shown.push('.');
    }
    shown.extend(std::iter::repeat_n('0', pad));
    Some(shown)
}

/// [`money_text`] as a JSON string into `out`; in the usual case (a normalised amount) with
/// no allocation (a `String` per row of the transactions page before).
pub fn money_json(stored: &str, currency: &str, out: &mut Vec<u8>) {
    match padding(stored, minor_units(currency)) {
        // Digits, `-` and `.`: nothing to escape.
        Some((pad, point)) => {
            out.push(b'"');
            out.extend_from_slice(stored.as_bytes());
            if point {
                out.push(b'.');
            }
            out.extend(std::iter::repeat_n(b'0', pad));
            out.push(b'"');
        }
        None => serde_json::to_writer(out, &money_text(stored, currency)).unwrap_or_default(),
    }
}

/// How [`padded`] shows `stored`: the zeros to append and whether a point goes before them;
/// `None` when `stored` is not in the normalised form.
fn padding(stored: &str, minor: u32) -> Option<(usize, bool)> {
    let unsigned = stored.strip_prefix('-').unwrap_or(stored);
    let (int, fraction) = match unsigned.split_once('.') {
        Some((int, fraction)) => (int, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let normalised = digits(int)
        && (int == "0" || !int.starts_with('0'))
        && fraction.is_none_or(|f| digits(f) && !f.ends_with('0'))
        // Well inside Decimal's 28 digits, so nothing it would round.
        && unsigned.len() <= 24
        && !(unsigned.len() < stored.len() && int == "0" && fraction.is_none());
    if !normalised {
        return None;
    }
    let have = fraction.map_or(0, str::len);
    let pad = usize::try_from(minor).ok()?.saturating_sub(have);
    Some((pad, pad > 0 && fraction.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn money_keeps_the_currency_scale_and_never_drops_decimals() {
        assert_eq!(money(dec!(-45.2), "EUR"), "-45.20");
        assert_eq!(money(dec!(-45.20), "USD"), "-45.20");
        assert_eq!(money(dec!(-225), "EUR"), "-225.00");
        assert_eq!(money(dec!(0.1234), "EUR"), "0.1234");
        assert_eq!(money(dec!(1000), "JPY"), "1000");
        assert_eq!(money(dec!(1.5), "KWD"), "1.500");
        assert_eq!(money(dec!(-0.00), "EUR"), "0.00");
        assert_eq!(money(dec!(12.5), "XAU"), "12.5");
        assert_eq!(money(dec!(12.5), "ZZZ"), "12.5");
        assert_eq!(money_text("-4.5", "EUR"), "-4.50");
        assert_eq!(money_text("n/a", "EUR"), "n/a");
    }

    #[test]
    fn padding_stored_text_gives_what_the_decimal_path_gives() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "5",
            "-5",
            "0.1",
            "-0.1",
            "45.2",
            "-45.2",
            "-45.20",
            "45.",
            ".5",
            "-.5",
            "007",
            "0.1234",
            "1000",
            "1e3",
            "+1",
            "--1",
            "1.2.3",
            "",
            "-",
            "abc",
            "12a",
            "99999999999999999999.9999",
            "123456789012345678901234567890",
            "0.000",
            "10",
            "-100.5",
            "1.10",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        for i in 0..2000_i64 {
            let d = Decimal::new(i * 7919 - 5_000_000, (i % 6) as u32).normalize();
            texts.push(d.to_string());
        }
        for text in &texts {
            for currency in ["EUR", "JPY", "KWD", "XAU", "ZZZ", "CLF"] {
                let slow =
                    Decimal::from_str(text).map_or_else(|_| text.clone(), |d| money(d, currency));
                assert_eq!(money_text(text, currency), slow, "{text} {currency}");
            }
        }
    }

    #[test]
    fn rfc3339_writes_what_chrono_writes() {
        #[derive(serde::Serialize)]
        struct Fast(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);
        let nanos = |s: i64, n: u32| DateTime::from_timestamp(s, n).unwrap_or_default();
        let mut times = vec![
            time(0),
            time(1_767_000_000_123),
            time(1_767_000_000_000),
            time(-1),
            time(-62_135_596_800_000),         // 0001-01-01
            time(253_402_300_799_999),         // 9999-12-31T23:59:59.999
            time(253_402_300_800_000),         // year 10000: chrono's own text
            time(-62_167_219_200_001),         // before year 0: chrono's own text
            nanos(1_767_000_000, 123_456_000), // microseconds
            nanos(1_767_000_000, 123_456_789), // nanoseconds
            nanos(1_767_000_000, 1),
            nanos(1_767_000_059, 1_500_000_000), // a leap second
        ];
        // Every day of four years, at varied times of day and milliseconds.
        let mut ms = 1_704_067_200_000_i64; // 2024-01-01
        for i in 0..1461 {
            times.push(time(ms + (i * 7_919_123) % 86_400_000));
            ms += 86_400_000;
        }
        for t in times {
            let ours = serde_json::to_string(&Fast(t)).unwrap_or_default();
            let chrono = serde_json::to_string(&t).unwrap_or_default();
            assert_eq!(ours, chrono, "{t:?}");
        }
        #[derive(serde::Serialize)]
        struct FastOpt(#[serde(serialize_with = "rfc3339_opt")] Option<DateTime<Utc>>);
        assert_eq!(
            serde_json::to_string(&FastOpt(None)).unwrap_or_default(),
            "null"
        );
        assert_eq!(
            serde_json::to_string(&FastOpt(Some(time(5)))).unwrap_or_default(),
            "\"1970-01-01T00:00:00.005Z\""
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let json = serde_json::to_string(&time(1_767_000_000_123)).unwrap_or_default();
        assert_eq!(json, "\"2025-12-29T09:20:00.123Z\"");
        assert_eq!(time_opt(None), None);
    }
}

//! How values leave the API: one timestamp format and money at its currency's scale.
//!
//! Storage keeps epoch milliseconds (cheap to index and compare on both backends) and
//! normalised decimals (`-45.2`, so sums and dedupe keys do not depend on how a bank wrote
//! the number). Responses are where the user reads them, so the conversion is done here,
//! once, for every DTO.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Epoch milliseconds as an RFC 3339 UTC timestamp (serialised like `2026-01-31T09:15:00.123Z`).
/// Stored values always fit; an impossible one shows as the epoch rather than failing a read.
pub fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn time_opt(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
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
    let minor = iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .map_or(0, u32::from);
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
    Decimal::from_str(stored).map_or_else(|_| stored.to_owned(), |d| money(d, currency))
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
    fn times_are_rfc3339_utc() {
        let json = serde_json::to_string(&time(1_767_000_000_123)).unwrap_or_default();
        assert_eq!(json, "\"2025-12-29T09:20:00.123Z\"");
        assert_eq!(time_opt(None), None);
    }
}

//! Amounts as chart labels, and the one place money becomes a float.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// Money never is a float in our data; a chart needs one only to place a pixel. Precision
/// lost here moves a bar end by far less than a pixel, and labels are always written from
/// the `Decimal`, never from this value.
pub(super) fn pixel(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or(0.0)
}

/// Minor-unit digits of a currency (ISO 4217: 2 for EUR, 0 for JPY); 2 for codes ISO does not
/// know (USDT and other quote assets), which is enough to read a chart.
fn scale(currency: &str) -> u32 {
    iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .map_or(2, u32::from)
}

/// `1234.5` EUR → `1,234.50`: rounded to the currency's scale, thousands grouped.
pub(super) fn amount(value: Decimal, currency: &str) -> String {
    grouped(value, scale(currency))
}

/// An axis label. The value is a tick position plotters chose in pixel space, not data, so a
/// float is what it is: whole numbers (and anything from 100 up) without decimals, others
/// with two.
pub(super) fn axis(value: f64) -> String {
    let v = Decimal::from_f64_retain(value).unwrap_or_default();
    let digits = if v.abs() >= Decimal::ONE_HUNDRED || v.round_dp(0) == v.round_dp(2) {
        0
    } else {
        2
    };
    grouped(v, digits)
}

/// `value` rounded to `digits` decimals, with `,` between thousands.
fn grouped(value: Decimal, digits: u32) -> String {
    // Half away from zero, as money is written (the default would round 0.125 to 0.12).
    let mut v = value.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(digits);
    if v.is_zero() {
        v.set_sign_positive(true);
    }
    let text = v.to_string();
    let (sign, unsigned) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |rest| ("-", rest));
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let mut out = String::with_capacity(text.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn amounts_are_rounded_to_the_currency_and_grouped() {
        assert_eq!(amount(dec!(1234.5), "EUR"), "1,234.50");
        assert_eq!(amount(dec!(-1234567.891), "EUR"), "-1,234,567.89");
        assert_eq!(amount(dec!(999), "EUR"), "999.00");
        assert_eq!(amount(dec!(123456), "JPY"), "123,456");
        assert_eq!(amount(dec!(0.123456), "USDT"), "0.12");
        assert_eq!(amount(dec!(-0.001), "EUR"), "0.00");
    }

    #[test]
    fn axis_labels_drop_noise() {
        assert_eq!(axis(1500.0), "1,500");
        assert_eq!(axis(12.5), "12.50");
        assert_eq!(axis(0.0), "0");
        assert_eq!(axis(-250.0), "-250");
        assert_eq!(axis(0.25), "0.25");
        assert_eq!(axis(1e-9), "0");
    }
}

//! Money in the `*_e4` columns: exact ten-thousandths as BIGINT, so sums happen in SQL
//! without floats.

/// `amount` as ten-thousandths (the `*_e4` columns). `None` when it has more than 4 decimal
/// places or does not fit: such amounts are refused at the edge.
pub fn to_e4(amount: rust_decimal::Decimal) -> Option<i64> {
    let scaled = amount.checked_mul(rust_decimal::Decimal::new(10_000, 0))?;
    if scaled.fract() != rust_decimal::Decimal::ZERO {
        return None;
    }
    i64::try_from(scaled.trunc().mantissa() / 10_i128.pow(scaled.trunc().scale())).ok()
}

/// Back from ten-thousandths to a normalised decimal.
pub fn from_e4(v: i64) -> rust_decimal::Decimal {
    rust_decimal::Decimal::new(v, 4).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn e4_round_trips_and_refuses_sub_e4_amounts() {
        for d in [
            dec!(0),
            dec!(-12.5),
            dec!(1234567.8912),
            dec!(0.0001),
            dec!(-0.10),
        ] {
            let e4 = to_e4(d).expect("fits");
            assert_eq!(from_e4(e4), d.normalize());
        }
        assert_eq!(to_e4(dec!(12.5)), Some(125_000));
        assert_eq!(to_e4(dec!(0.00001)), None);
    }
}

//! Transaction identity: one stable dedupe key per statement line, so re-importing the same
//! file (or an overlapping one) adds nothing, while two genuinely identical purchases on the
//! same day stay two transactions.
//!
//! Keys are stored next to the transactions, so **nothing here may change once data exists**:
//! not the normalisation, not the hashed layout, not the prefixes. A change would make every
//! later import re-insert everything already imported.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::types::StatementLine;

/// Stable form of a description for identity: Unicode-lowercased (accents kept, so "cafe" and
/// "café" stay different), every run of whitespace collapsed to one space, and anything that
/// is not a letter or digit trimmed from both ends (trailing `.`, `*`, `-` and the like vary
/// between exports of the same bank).
///
/// Deliberately simple: keys depend on it and it must never change once data exists.
pub fn normalize_description(s: &str) -> String {
    let lowered = s.to_lowercase();
    let collapsed = lowered.split_whitespace().collect::<Vec<_>>().join(" ");
    // Whitespace is not alphanumeric, so this also trims any space left next to punctuation.
    collapsed
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_string()
}

/// One dedupe key per line, in order.
///
/// - With a (non-blank) external id: `"ext:" + id.trim()`. The bank's id is the best identity.
/// - Without: `"h:" + hex(sha256(account_id | YYYY-MM-DD | amount | description | n))`, where
///   the amount is normalised (`10.50` ~ `10.5`), the description goes through
///   [`normalize_description`], and `n` is the 0-based occurrence of that (date, amount,
///   description) among the id-less lines of this batch, in order. Twins thus get `n` = 0 and
///   1, and an overlapping file covering whole days gives the same `n` for the shared days.
///   (A file cut in the middle of a day could renumber that day's twins: banks export whole
///   days, so this is accepted.)
///
/// A blank external id counts as absent: `"ext:"` alone would merge unrelated lines.
pub fn dedupe_keys(account_id: &str, lines: &[StatementLine]) -> Vec<String> {
    let mut seen: HashMap<(NaiveDate, Decimal, String), u64> = HashMap::new();
    lines
        .iter()
        .map(|line| {
            if let Some(id) = line.external_id.as_deref().map(str::trim)
                && !id.is_empty()
            {
                return format!("ext:{id}");
            }
            let amount = line.amount.normalize();
            let description = normalize_description(&line.description);
            let n = seen
                .entry((line.booked, amount, description.clone()))
                .or_insert(0);
            let occurrence = *n;
            *n += 1;
            let material = format!(
                "{account_id}|{}|{amount}|{description}|{occurrence}",
                line.booked.format("%Y-%m-%d")
            );
            format!("h:{}", hex(&Sha256::digest(material.as_bytes())))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use rust_decimal::dec;

    use super::*;
    use crate::finance::types::TxStatus;

    fn line(day: u32, amount: Decimal, description: &str) -> StatementLine {
        StatementLine {
            source: "1".into(),
            booked: NaiveDate::from_ymd_opt(2024, 3, day).expect("valid date"),
            value_date: None,
            amount,
            currency: Some("EUR".into()),
            description: description.into(),
            counterparty: None,
            external_id: None,
            status: TxStatus::Booked,
        }
    }

    #[test]
    fn normalizes_case_whitespace_and_edge_punctuation() {
        assert_eq!(
            normalize_description("  **Café   DEL\tMar, S.L. ** "),
            "café del mar, s.l"
        );
        assert_eq!(normalize_description("CAFÉ"), "café");
        assert_eq!(normalize_description(" ... "), "");
    }

    #[test]
    fn twins_get_different_keys() {
        let lines = vec![
            line(1, dec!(-3.20), "Coffee shop"),
            line(1, dec!(-3.20), "Coffee shop"),
        ];
        let keys = dedupe_keys("acc", &lines);
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0], keys[1]);
        assert!(keys.iter().all(|k| k.starts_with("h:") && k.len() == 66));
    }

    #[test]
    fn same_file_twice_gives_same_keys() {
        let lines = vec![
            line(1, dec!(-3.20), "Coffee shop"),
            line(1, dec!(-3.20), "Coffee shop"),
            line(2, dec!(1500), "Salary"),
        ];
        assert_eq!(dedupe_keys("acc", &lines), dedupe_keys("acc", &lines));
    }

    #[test]
    fn overlapping_file_gives_same_keys_for_shared_days() {
        let day1 = vec![
            line(1, dec!(-3.20), "Coffee"),
            line(1, dec!(-3.20), "Coffee"),
        ];
        let day2 = vec![line(2, dec!(-9), "Bus"), line(2, dec!(-9), "Bus")];
        let day3 = vec![line(3, dec!(-40), "Groceries")];
        let first: Vec<_> = [day1.clone(), day2.clone()].concat();
        let second: Vec<_> = [day2, day3].concat();
        let k1 = dedupe_keys("acc", &first);
        let k2 = dedupe_keys("acc", &second);
        assert_eq!(k1[2..], k2[..2]);
    }

    #[test]
    fn external_id_is_used_when_present() {
        let mut l = line(1, dec!(-3.20), "Coffee");
        l.external_id = Some("  FIT123 ".into());
        let mut blank = line(1, dec!(-3.20), "Coffee");
        blank.external_id = Some("  ".into());
        let keys = dedupe_keys("acc", &[l, blank]);
        assert_eq!(keys[0], "ext:FIT123");
        assert!(keys[1].starts_with("h:"));
    }

    #[test]
    fn id_lines_do_not_count_as_occurrences() {
        let mut with_id = line(1, dec!(-3.20), "Coffee");
        with_id.external_id = Some("X".into());
        let plain = line(1, dec!(-3.20), "Coffee");
        let a = dedupe_keys("acc", &[with_id, plain.clone()]);
        let b = dedupe_keys("acc", &[plain]);
        assert_eq!(a[1], b[0]);
    }

    #[test]
    fn description_variations_give_same_key() {
        let a = dedupe_keys("acc", &[line(1, dec!(-3.20), "COFFEE   Shop.")]);
        let b = dedupe_keys("acc", &[line(1, dec!(-3.20), " coffee shop")]);
        assert_eq!(a, b);
    }

    #[test]
    fn amount_scale_does_not_matter() {
        let a = dedupe_keys("acc", &[line(1, dec!(10.50), "x")]);
        let b = dedupe_keys("acc", &[line(1, dec!(10.5), "x")]);
        assert_eq!(a, b);
    }

    #[test]
    fn account_date_and_amount_are_part_of_the_key() {
        let base = dedupe_keys("acc", &[line(1, dec!(-1), "x")]);
        assert_ne!(base, dedupe_keys("other", &[line(1, dec!(-1), "x")]));
        assert_ne!(base, dedupe_keys("acc", &[line(2, dec!(-1), "x")]));
        assert_ne!(base, dedupe_keys("acc", &[line(1, dec!(1), "x")]));
    }
}

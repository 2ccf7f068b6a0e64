//! Which incoming statement lines are new, already known, or the booked version of a pending
//! transaction: a pure function over what the books hold, so the rules are tested without a
//! database (the ingest in the root crate reads the rows and writes the outcome).

use super::identity::normalize_description;
use super::{StatementLine, TxStatus};
use chrono::NaiveDate;
use std::collections::{HashMap, HashSet};

/// How far apart a pending line and its booked version may be dated.
pub const PENDING_MATCH_DAYS: i64 = 7;

/// What matching needs to know of a transaction already in the books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTx {
    pub id: String,
    pub dedupe_key: String,
    pub pending: bool,
    pub amount_e4: i64,
    pub description: String,
    /// `YYYY-MM-DD` as stored.
    pub booked_date: String,
}

/// The decision for one incoming line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineMatch {
    /// Not in the books: insert it.
    New,
    /// Already known (or twice in this batch): nothing changes.
    Duplicate,
    /// The booked version of this pending transaction (by id): book it.
    Book(String),
}

/// Decides each line, in order. `keys[i]` is line i's dedupe key and `amounts_e4[i]` its
/// amount in ten-thousandths.
///
/// - A key seen earlier in the batch is a duplicate.
/// - A known key is a duplicate, unless the known row is pending and the line booked: then
///   the line books it (a bank id keeps its key when the bank books the transaction).
/// - A booked line with an unknown key books a pending row of the same amount and
///   normalised description dated at most [`PENDING_MATCH_DAYS`] apart (without a bank id
///   the key hashes the date, which moves when the bank books it). Each pending row is
///   booked once; the first such row in `known` order wins.
/// - Anything else is new.
pub fn match_lines(
    known: &[KnownTx],
    lines: &[StatementLine],
    keys: &[String],
    amounts_e4: &[i64],
) -> Vec<LineMatch> {
    let mut by_key: HashMap<&str, &KnownTx> =
        known.iter().map(|t| (t.dedupe_key.as_str(), t)).collect();
    let mut pending: Vec<&KnownTx> = known.iter().filter(|t| t.pending).collect();
    let mut seen_in_batch: HashSet<&str> = HashSet::with_capacity(lines.len());
    let mut out = Vec::with_capacity(lines.len());
    for ((line, key), &e4) in lines.iter().zip(keys).zip(amounts_e4) {
        if !seen_in_batch.insert(key.as_str()) {
            out.push(LineMatch::Duplicate);
            continue;
        }
        if let Some(existing) = by_key.remove(key.as_str()) {
            if existing.pending && line.status == TxStatus::Booked {
                pending.retain(|p| p.id != existing.id);
                out.push(LineMatch::Book(existing.id.clone()));
            } else {
                out.push(LineMatch::Duplicate);
            }
            continue;
        }
        if line.status == TxStatus::Booked
            && let Some(pos) = fuzzy_pending(&pending, line, e4)
        {
            out.push(LineMatch::Book(pending.remove(pos).id.clone()));
            continue;
        }
        out.push(LineMatch::New);
    }
    out
}

/// The first pending row with the line's amount and normalised description, dated close.
fn fuzzy_pending(pending: &[&KnownTx], line: &StatementLine, e4: i64) -> Option<usize> {
    let desc = normalize_description(&line.description);
    pending.iter().position(|p| {
        p.amount_e4 == e4
            && normalize_description(&p.description) == desc
            && NaiveDate::parse_from_str(&p.booked_date, "%Y-%m-%d")
                .is_ok_and(|d| (d - line.booked).num_days().abs() <= PENDING_MATCH_DAYS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn line(day: &str, desc: &str, status: TxStatus) -> StatementLine {
        StatementLine {
            source: "t".into(),
            booked: NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("date"),
            value_date: None,
            amount: Decimal::new(-350, 2),
            currency: None,
            description: desc.into(),
            counterparty: None,
            external_id: None,
            status,
        }
    }

    fn known(id: &str, key: &str, pending: bool, day: &str, desc: &str) -> KnownTx {
        KnownTx {
            id: id.into(),
            dedupe_key: key.into(),
            pending,
            amount_e4: -35_000,
            description: desc.into(),
            booked_date: day.into(),
        }
    }

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn known_keys_are_duplicates_unless_a_pending_row_gets_booked() {
        let books = [
            known("a", "k1", false, "2026-03-01", "X"),
            known("b", "k2", true, "2026-03-01", "Y"),
        ];
        let lines = [
            line("2026-03-01", "X", TxStatus::Booked),
            line("2026-03-02", "Y", TxStatus::Booked),
            line("2026-03-02", "Z", TxStatus::Pending),
        ];
        let got = match_lines(&books, &lines, &keys(&["k1", "k2", "k3"]), &[-35_000; 3]);
        assert_eq!(
            got,
            [
                LineMatch::Duplicate,
                LineMatch::Book("b".into()),
                LineMatch::New
            ]
        );
        // A pending line for a known pending row changes nothing.
        let got = match_lines(
            &books,
            &[line("2026-03-01", "Y", TxStatus::Pending)],
            &keys(&["k2"]),
            &[-35_000],
        );
        assert_eq!(got, [LineMatch::Duplicate]);
    }

    #[test]
    fn a_booked_line_books_a_close_pending_row_with_its_amount_and_description_once() {
        let books = [
            known("p1", "old1", true, "2026-03-10", "Coffee  Shop"),
            known("p2", "old2", true, "2026-03-10", "coffee shop"),
        ];
        let lines = [
            line("2026-03-12", "COFFEE SHOP", TxStatus::Booked),
            line("2026-03-12", "COFFEE SHOP", TxStatus::Booked),
            line("2026-03-12", "COFFEE SHOP", TxStatus::Booked),
        ];
        let got = match_lines(&books, &lines, &keys(&["n1", "n2", "n3"]), &[-35_000; 3]);
        assert_eq!(
            got,
            [
                LineMatch::Book("p1".into()),
                LineMatch::Book("p2".into()),
                LineMatch::New
            ]
        );
    }

    #[test]
    fn no_fuzzy_booking_across_amounts_descriptions_or_more_than_a_week() {
        let books = [known("p", "old", true, "2026-03-01", "Gym")];
        let cases = [
            (line("2026-03-09", "Gym", TxStatus::Booked), -35_000),
            (line("2026-03-02", "Gym", TxStatus::Booked), -36_000),
            (line("2026-03-02", "Pool", TxStatus::Booked), -35_000),
            (line("2026-03-02", "Gym", TxStatus::Pending), -35_000),
        ];
        for (l, e4) in cases {
            let got = match_lines(&books, std::slice::from_ref(&l), &keys(&["new"]), &[e4]);
            assert_eq!(got, [LineMatch::New], "{l:?} {e4}");
        }
        let within = line("2026-03-08", "gym", TxStatus::Booked);
        let got = match_lines(&books, &[within], &keys(&["new"]), &[-35_000]);
        assert_eq!(got, [LineMatch::Book("p".into())]);
    }

    #[test]
    fn a_key_twice_in_one_batch_is_inserted_once() {
        let lines = [
            line("2026-03-01", "X", TxStatus::Booked),
            line("2026-03-01", "X", TxStatus::Booked),
        ];
        let got = match_lines(&[], &lines, &keys(&["k", "k"]), &[-35_000; 2]);
        assert_eq!(got, [LineMatch::New, LineMatch::Duplicate]);
    }
}

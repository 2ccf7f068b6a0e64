//! A transaction written as the page's JSON straight from the database driver's row: the same
//! bytes as serde writes for [`super::dto::Transaction`], without the ~14 strings per row that
//! `TxRow` and `Transaction` allocate and drop on the way.
//!
//! Why: `TxRow::read`'s copies, the row → DTO conversion and the drops were ~20 % of the
//! service's CPU on the transactions page (perf, 2026-12-04; docs/decisions.md "The
//! transactions page, third profile"). A test holds the bytes equal to serde's, field for
//! field, so the OpenAPI schema of `Transaction` stays the truth.

use crate::api::present::{money_json, time_json};
use crate::db::{Columns, PageRow};
use crate::finance::transactions::{SHOWN_COLUMNS, TxKey, TxPageRow, TxRow};

/// One row of the page: its JSON object, then its id and booked date (the cursor's keys),
/// in one allocation.
pub struct TxJson {
    buf: Vec<u8>,
    json_len: usize,
    id_len: usize,
    amount_e4: i64,
}

impl TxJson {
    fn new(f: &Fields<'_>) -> Self {
        // A typical row is ~480 bytes of JSON; one growth at most for long descriptions.
        let mut buf = Vec::with_capacity(640);
        f.write(&mut buf);
        let json_len = buf.len();
        buf.extend_from_slice(f.id.as_bytes());
        buf.extend_from_slice(f.booked_date.as_bytes());
        Self {
            buf,
            json_len,
            id_len: f.id.len(),
            amount_e4: f.amount_e4,
        }
    }

    /// The row as a JSON object.
    pub fn json(&self) -> &[u8] {
        self.buf.get(..self.json_len).unwrap_or_default()
    }

    fn text(&self, from: usize, to: usize) -> &str {
        // Copied from `&str`s in `new`, so always UTF-8 on char boundaries.
        std::str::from_utf8(self.buf.get(from..to).unwrap_or_default()).unwrap_or_default()
    }
}

impl TxKey for TxJson {
    fn id(&self) -> &str {
        self.text(self.json_len, self.json_len + self.id_len)
    }
    fn booked_date(&self) -> &str {
        self.text(self.json_len + self.id_len, self.buf.len())
    }
    fn amount_e4(&self) -> i64 {
        self.amount_e4
    }
}

/// The columns of `finance::transactions::READ_COLUMNS`, in order (as `TxRow`'s `PageRow`);
/// 11, 17 and 18 are not read ([`SHOWN_COLUMNS`]).
impl PageRow for TxJson {
    fn read<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self::new(&Fields {
            id: r.str(0)?,
            account_id: r.str(1)?,
            booked_date: r.str(2)?,
            value_date: r.str_opt(3)?,
            amount: r.str(4)?,
            amount_e4: r.col(5)?,
            currency: r.str(6)?,
            description: r.str(7)?,
            counterparty: r.str_opt(8)?,
            notes: r.str_opt(9)?,
            external_id: r.str_opt(10)?,
            import_batch: r.str_opt(12)?,
            status: r.str(13)?,
            category_id: r.str_opt(14)?,
            categorized_by: r.str_opt(15)?,
            category_locked: r.col(16)?,
            rule_id: r.str_opt(19)?,
            suggested_category_id: r.str_opt(20)?,
            suggestion_confidence: r.col(21)?,
            created_at: r.col(22)?,
            updated_at: r.col(23)?,
        }))
    }
}

/// The page never shows `dedupe_key`, `auto_category_id` or `auto_tier`: not selected.
impl TxPageRow for TxJson {
    const COLUMNS: &'static str = SHOWN_COLUMNS;
}

/// The slow paths (text searches) read `TxRow`s.
impl From<TxRow> for TxJson {
    fn from(t: TxRow) -> Self {
        Self::new(&Fields {
            id: &t.id,
            account_id: &t.account_id,
            booked_date: &t.booked_date,
            value_date: t.value_date.as_deref(),
            amount: &t.amount,
            amount_e4: t.amount_e4,
            currency: &t.currency,
            description: &t.description,
            counterparty: t.counterparty.as_deref(),
            notes: t.notes.as_deref(),
            external_id: t.external_id.as_deref(),
            import_batch: t.import_batch.as_deref(),
            status: &t.status,
            category_id: t.category_id.as_deref(),
            categorized_by: t.categorized_by.as_deref(),
            category_locked: t.category_locked,
            rule_id: t.rule_id.as_deref(),
            suggested_category_id: t.suggested_category_id.as_deref(),
            suggestion_confidence: t.suggestion_confidence,
            created_at: t.created_at,
            updated_at: t.updated_at,
        })
    }
}

/// A page as `TransactionPage`'s JSON: `{"items":[…],"next_cursor":…}`.
pub fn page(rows: &[TxJson], next_cursor: Option<&str>) -> Vec<u8> {
    let items: usize = rows.iter().map(|r| r.json_len + 1).sum();
    let mut out = Vec::with_capacity(items + 64);
    out.extend_from_slice(b"{\"items\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(row.json());
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    opt_string(&mut out, next_cursor);
    out.push(b'}');
    out
}

/// `,"name":` (every key after the first) as one literal: the keys are plain ASCII, nothing
/// to escape, and one copy per key instead of three (writing keys was 3.4 % of the service's
/// CPU on the Postgres transactions page; perf, 2026-12-04).
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":").as_bytes()
    };
}

/// The stored fields the API shows, borrowed from a row.
struct Fields<'a> {
    id: &'a str,
    account_id: &'a str,
    booked_date: &'a str,
    value_date: Option<&'a str>,
    amount: &'a str,
    amount_e4: i64,
    currency: &'a str,
    description: &'a str,
    counterparty: Option<&'a str>,
    notes: Option<&'a str>,
    external_id: Option<&'a str>,
    import_batch: Option<&'a str>,
    status: &'a str,
    category_id: Option<&'a str>,
    categorized_by: Option<&'a str>,
    category_locked: bool,
    rule_id: Option<&'a str>,
    suggested_category_id: Option<&'a str>,
    suggestion_confidence: Option<f64>,
    created_at: i64,
    updated_at: i64,
}

impl Fields<'_> {
    /// `Transaction`'s fields in its declared order, as `From<TxRow> for Transaction` maps
    /// them (the amount in the currency's decimals; a suggestion only while uncategorized).
    fn write(&self, out: &mut Vec<u8>) {
        let uncategorized = self.category_id.is_none();
        out.extend_from_slice(b"{\"id\":");
        string(out, self.id);
        field(out, key!("account_id"), Some(self.account_id));
        field(out, key!("booked_date"), Some(self.booked_date));
        field(out, key!("value_date"), self.value_date);
        out.extend_from_slice(key!("amount"));
        money_json(self.amount, self.currency, out);
        for (key, value) in [
            (key!("currency"), Some(self.currency)),
            (key!("description"), Some(self.description)),
            (key!("counterparty"), self.counterparty),
            (key!("notes"), self.notes),
            (key!("external_id"), self.external_id),
            (key!("import_batch"), self.import_batch),
            (key!("status"), Some(self.status)),
            (key!("category_id"), self.category_id),
            (key!("categorized_by"), self.categorized_by),
        ] {
            field(out, key, value);
        }
        out.extend_from_slice(if self.category_locked {
            b",\"category_locked\":true"
        } else {
            b",\"category_locked\":false"
        });
        let suggested = self.suggested_category_id.filter(|_| uncategorized);
        field(out, key!("suggested_category_id"), suggested);
        out.extend_from_slice(key!("suggestion_confidence"));
        let confidence = self.suggestion_confidence.filter(|_| uncategorized);
        // serde_json's own float text (and `null` for what JSON cannot hold).
        serde_json::to_writer(&mut *out, &confidence).unwrap_or_default();
        field(out, key!("rule_id"), self.rule_id);
        out.extend_from_slice(key!("created_at"));
        time_json(self.created_at, out);
        out.extend_from_slice(key!("updated_at"));
        time_json(self.updated_at, out);
        out.push(b'}');
    }
}

/// `,"name":` and the text, or `null`; `key` is [`key!`]'s.
fn field(out: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
    out.extend_from_slice(key);
    opt_string(out, value);
}

/// A JSON string, escaped by serde_json itself (writing into a `Vec` cannot fail).
fn string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).unwrap_or_default();
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::financial::dto::{Transaction, TransactionPage};

    fn row(i: usize) -> TxRow {
        let texts = [
            "Shop 12",
            "",
            "quote \" backslash \\ slash / tab \t newline \n nul \u{0} bell \u{7}",
            "Café Zürich ünïcödé €",
            "emoji 🧾 and \u{2028} line separator",
            "<script>alert(1)</script> & 'single'",
        ];
        let text = |k: usize| texts[(i + k) % texts.len()].to_owned();
        let some = |k: usize| (!(i + k).is_multiple_of(3)).then(|| text(k));
        let categorized = i.is_multiple_of(4);
        TxRow {
            id: format!("tx{i:08}"),
            account_id: text(1),
            booked_date: format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
            value_date: some(2),
            amount: [
                "-45.2", "0", "1000", "0.1234", "-0.05", "12.345", "-1.5e3", "abc",
            ][i % 8]
                .to_owned(),
            amount_e4: -452_000 + i as i64,
            currency: ["EUR", "JPY", "KWD", "USD", "XAU", "ZZZ"][i % 6].to_owned(),
            description: text(3),
            counterparty: some(4),
            notes: some(5),
            external_id: some(6),
            dedupe_key: format!("h:{i}"),
            import_batch: some(7),
            status: ["booked", "pending"][i % 2].to_owned(),
            category_id: categorized.then(|| format!("cat{i}")),
            categorized_by: categorized.then(|| "rule".to_owned()),
            category_locked: i.is_multiple_of(5),
            auto_category_id: some(8),
            auto_tier: some(9),
            rule_id: some(10),
            suggested_category_id: (i % 2 == 1).then(|| format!("sug{i}")),
            suggestion_confidence: [
                None,
                Some(0.5),
                Some(1.0),
                Some(0.123_456_789),
                Some(1e-7),
                Some(f64::NAN),
            ][i % 6],
            created_at: [
                0,
                1_764_800_000_123,
                1_764_800_000_000,
                253_402_300_799_999,
                -1,
                253_402_300_800_000,
                i64::MAX,
            ][i % 7],
            updated_at: 1_764_800_000_000 + (i as i64) * 1_001,
        }
    }

    #[test]
    fn a_row_is_the_same_bytes_as_serde_writes_for_the_dto() {
        for i in 0..600 {
            let r = row(i);
            let want = serde_json::to_vec(&Transaction::from(r.clone())).expect("serde");
            let got = TxJson::from(r);
            assert_eq!(
                String::from_utf8_lossy(got.json()),
                String::from_utf8_lossy(&want),
                "row {i}"
            );
        }
    }

    #[test]
    fn a_page_is_the_same_bytes_as_serde_writes_for_the_dto() {
        for (n, cursor) in [(0, None), (1, Some("eyJEYXRlIjpb")), (50, Some("a\"b"))] {
            let rows: Vec<TxRow> = (0..n).map(row).collect();
            let want = serde_json::to_vec(&TransactionPage {
                items: rows.iter().cloned().map(Transaction::from).collect(),
                next_cursor: cursor.map(str::to_owned),
            })
            .expect("serde");
            let json: Vec<TxJson> = rows.into_iter().map(TxJson::from).collect();
            assert_eq!(
                String::from_utf8_lossy(&page(&json, cursor)),
                String::from_utf8_lossy(&want)
            );
        }
    }

    #[test]
    fn the_cursor_keys_survive_beside_the_json() {
        let r = row(3);
        let (id, date, e4) = (r.id.clone(), r.booked_date.clone(), r.amount_e4);
        let j = TxJson::from(r);
        assert_eq!(
            (j.id(), j.booked_date(), j.amount_e4()),
            (id.as_str(), date.as_str(), e4)
        );
        let odd = TxRow {
            id: "ü\"id".into(),
            booked_date: "".into(),
            ..row(4)
        };
        let j = TxJson::from(odd);
        assert_eq!((j.id(), j.booked_date()), ("ü\"id", ""));
    }
}

//! [`Sql`]: query text with `$n` placeholders and its values ([`Arg`]), written once for both
//! backends; [`Record`]: a row type that names its columns and gives its values once.
//!
//! The values keep the types each backend stored before this facade existed: text, BIGINT,
//! BOOLEAN, bytes and `DateTime<Utc>` (TEXT on SQLite, TIMESTAMPTZ on Postgres), bound as the
//! same Rust types sqlx bound then, so nothing on disk changes. A NULL keeps its type
//! (`Text(None)` is a text NULL), because Postgres needs one for `$1 IS NULL OR …`.

use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// A bind value. Text and bytes borrow when they can: an import binds every column of every
/// row, and copying them would cost more than the insert.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    /// Probabilities (the LLM tier's confidence); money is never a float.
    Float(Option<f64>),
    Bool(Option<bool>),
    Bytes(Option<Cow<'a, [u8]>>),
    Time(Option<DateTime<Utc>>),
}

impl Arg<'_> {
    /// The Postgres type of this value (for `json_to_recordset` column lists).
    pub fn pg_type(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Int(_) => "bigint",
            Self::Float(_) => "double precision",
            Self::Bool(_) => "boolean",
            Self::Bytes(_) => "bytea",
            Self::Time(_) => "timestamptz",
        }
    }
}

/// As a JSON value (for `json_to_recordset`); bytes are not representable and refused.
impl serde::Serialize for Arg<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(v) => v.as_deref().serialize(s),
            Self::Int(v) => v.serialize(s),
            Self::Float(v) => v.serialize(s),
            Self::Bool(v) => v.serialize(s),
            Self::Time(v) => v.serialize(s),
            Self::Bytes(_) => Err(serde::ser::Error::custom("bytes have no JSON form")),
        }
    }
}

macro_rules! arg_from {
    ($variant:ident: $($t:ty => |$v:ident| $e:expr),+ $(,)?) => {
        $(impl<'a> From<$t> for Arg<'a> {
            fn from($v: $t) -> Self {
                Self::$variant($e)
            }
        })+
    };
}

arg_from!(Text:
    &'a str => |v| Some(Cow::Borrowed(v)),
    &'a String => |v| Some(Cow::Borrowed(v.as_str())),
    String => |v| Some(Cow::Owned(v)),
    Option<&'a str> => |v| v.map(Cow::Borrowed),
    Option<String> => |v| v.map(Cow::Owned),
    &'a Option<String> => |v| v.as_deref().map(Cow::Borrowed),
);
arg_from!(Float:
    f64 => |v| Some(v),
    Option<f64> => |v| v,
);
arg_from!(Int:
    i64 => |v| Some(v),
    Option<i64> => |v| v,
);
arg_from!(Bool:
    bool => |v| Some(v),
    Option<bool> => |v| v,
);
arg_from!(Bytes:
    &'a [u8] => |v| Some(Cow::Borrowed(v)),
    &'a Vec<u8> => |v| Some(Cow::Borrowed(v.as_slice())),
);
arg_from!(Time:
    DateTime<Utc> => |v| Some(v),
    Option<DateTime<Utc>> => |v| v,
);

/// SQL text with `$n` (or, on SQLite, anonymous `?`) placeholders and their values, in order.
#[derive(Debug, Default, Clone)]
pub struct Sql<'a> {
    pub text: String,
    pub args: Vec<Arg<'a>>,
}

impl<'a> Sql<'a> {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            args: Vec::new(),
        }
    }

    /// Adds the next value (builder form, for fixed text with `$1`, `$2`, …).
    #[must_use]
    pub fn bind(mut self, v: impl Into<Arg<'a>>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Adds values in order.
    #[must_use]
    pub fn bind_all(mut self, args: impl IntoIterator<Item = Arg<'a>>) -> Self {
        self.args.extend(args);
        self
    }

    /// Adds a value and returns its placeholder (for text assembled at runtime).
    pub fn arg(&mut self, v: impl Into<Arg<'a>>) -> String {
        self.args.push(v.into());
        format!("${}", self.args.len())
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Appends ` LIMIT n` with the number written into the text, not bound.
    ///
    /// Why: with `LIMIT $n` Postgres prices the generic plan of a prepared statement for an
    /// unknown limit (10 % of the table), never chooses it, and plans the statement again on
    /// every execution (`pg_prepared_statements`: 10 custom plans, 0 generic after ten reads).
    /// Written in, a page without other parameters is planned once per connection: the
    /// transactions page query alone 9.0-11.0k → 13.0-14.6k q/s in pgbench (2026-12-04,
    /// docs/decisions.md "The transactions page, third profile"). A number, so nothing to
    /// escape; pages allow at most a few hundred limits, and both statement caches are bounded.
    pub fn push_limit(&mut self, n: u64) {
        self.text.push_str(" LIMIT ");
        self.text.push_str(&n.to_string());
    }

    /// Appends `next` as a further statement (`;`-separated), its `$n` placeholders renumbered
    /// after this one's values. SQLite runs such a batch in one call (sqlx binds `$n` by its
    /// number across all statements), one round trip to the connection's worker thread
    /// instead of one per statement; Postgres takes one statement per query.
    pub fn then(&mut self, next: Sql<'a>) {
        let offset = self.args.len();
        if !self.text.is_empty() {
            self.text.push_str(";\n");
        }
        let mut rest = next.text.as_str();
        while let Some(at) = rest.find('$') {
            self.text.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(n) = rest[..digits].parse::<usize>() {
                self.text.push_str(&(n + offset).to_string());
            } else {
                self.text.push_str(&rest[..digits]);
            }
            rest = &rest[digits..];
        }
        self.text.push_str(rest);
        self.args.extend(next.args);
    }

    /// `INSERT INTO table (R::COLUMNS) VALUES ($1, …)` bound to the row's values; append an
    /// `ON CONFLICT …` with [`Sql::push`].
    pub fn insert<R: Record>(table: &str, row: &'a R) -> Self {
        Self::insert_values(table, R::COLUMNS, row.args())
    }

    /// An insert of `columns` (comma-separated) with `args` in that order.
    pub fn insert_values(table: &str, columns: &str, args: Vec<Arg<'a>>) -> Self {
        let marks: Vec<String> = (1..=args.len()).map(|n| format!("${n}")).collect();
        Self {
            text: format!(
                "INSERT INTO {table} ({columns}) VALUES ({})",
                marks.join(", ")
            ),
            args,
        }
    }
}

impl<'a> From<&str> for Sql<'a> {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl<'a> From<String> for Sql<'a> {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

/// A row type written whole: its columns (in the order its `FromRow` reads them) and its
/// values in that order, stated once for every insert, upsert and select of it.
pub trait Record {
    /// Comma-separated, e.g. `"id, name, created_at"`.
    const COLUMNS: &'static str;
    fn args(&self) -> Vec<Arg<'_>>;
}

/// `[{"col": value, …}, …]` for Postgres' `json_to_recordset`: one object per row, keyed by
/// `columns` (comma-separated, the order of each row's values).
pub fn json_records<'a>(
    columns: &str,
    rows: impl IntoIterator<Item = Vec<Arg<'a>>>,
) -> Result<String, serde_json::Error> {
    use serde::ser::{SerializeSeq, Serializer};
    let names: Vec<&str> = columns.split(',').map(str::trim).collect();
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut seq = ser.serialize_seq(None)?;
    for row in rows {
        seq.serialize_element(&JsonRow(&names, &row))?;
    }
    seq.end()?;
    // serde_json writes valid UTF-8 only.
    Ok(String::from_utf8(out).unwrap_or_default())
}

struct JsonRow<'r, 'a>(&'r [&'r str], &'r [Arg<'a>]);

impl serde::Serialize for JsonRow<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0.iter().zip(self.1) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// `name type, …` for `json_to_recordset(…) AS x(…)`, typed from one row's values.
pub fn pg_record_types(columns: &str, sample: &[Arg<'_>]) -> String {
    columns
        .split(',')
        .map(str::trim)
        .zip(sample)
        .map(|(n, a)| format!("{n} {}", a.pg_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_values() {
        let mut sql = Sql::new("SELECT 1 WHERE a = $1").bind("x");
        let p = sql.arg(7);
        assert_eq!(p, "$2");
        sql.push(&format!(" AND b = {p}"));
        assert_eq!(sql.args, vec![Arg::from("x"), Arg::Int(Some(7))]);
        let ins = Sql::insert_values("t", "a, b", vec![Arg::from(true), Arg::from(None::<i64>)]);
        assert_eq!(ins.text, "INSERT INTO t (a, b) VALUES ($1, $2)");
    }

    #[test]
    fn statements_appended_number_their_placeholders_after_the_first() {
        let mut batch = Sql::default();
        batch.then(Sql::new("INSERT INTO a VALUES ($1, $2)").bind("x").bind(1));
        batch.then(
            Sql::new("UPDATE b SET c = $2 WHERE d = $1 AND e = $10")
                .bind("y")
                .bind(2),
        );
        assert_eq!(
            batch.text,
            "INSERT INTO a VALUES ($1, $2);\nUPDATE b SET c = $4 WHERE d = $3 AND e = $12"
        );
        assert_eq!(
            batch.args,
            vec![Arg::from("x"), Arg::from(1), Arg::from("y"), Arg::from(2)]
        );
    }

    #[test]
    fn json_records_keep_types_and_nulls() {
        let rows = vec![vec![
            Arg::from("a\"b"),
            Arg::from(None::<&str>),
            Arg::from(-3),
            Arg::from(false),
        ]];
        let json = json_records("s, n, i, b", rows.clone()).expect("json");
        assert_eq!(json, r#"[{"s":"a\"b","n":null,"i":-3,"b":false}]"#);
        assert_eq!(
            pg_record_types("s, n, i, b", &rows[0]),
            "s text, n text, i bigint, b boolean"
        );
        assert!(json_records("x", vec![vec![Arg::from(&b"\x00"[..])]]).is_err());
    }
}

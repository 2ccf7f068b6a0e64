//! Rows of hot pages, read by column position by the two drivers that bypass sqlx for them:
//! rusqlite (SQLite reads on the request's thread, `inline.rs`) and tokio-postgres (pipelined
//! Postgres reads, `pg_pipe.rs`). A row type states its columns once, for both.

/// A value both drivers decode (text, integers, floats, booleans and their `Option`s).
pub trait Column: rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a> {}

impl<T> Column for T where T: rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a> {}

/// A driver's row, read by column position.
pub trait Columns {
    type Error;
    fn col<T: Column>(&self, i: usize) -> Result<T, Self::Error>;
    /// A text column borrowed from the row, no copy (rows written straight into a response:
    /// `api/financial/tx_json.rs`); NULL is an error.
    fn str(&self, i: usize) -> Result<&str, Self::Error>;
    /// [`Columns::str`] of a nullable column.
    fn str_opt(&self, i: usize) -> Result<Option<&str>, Self::Error>;
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn col<T: Column>(&self, i: usize) -> Result<T, Self::Error> {
        self.get(i)
    }
    fn str(&self, i: usize) -> Result<&str, Self::Error> {
        let value = self.get_ref(i)?;
        value
            .as_str()
            .map_err(|e| sqlite_text_error(self, i, value, e))
    }
    fn str_opt(&self, i: usize) -> Result<Option<&str>, Self::Error> {
        let value = self.get_ref(i)?;
        value
            .as_str_or_null()
            .map_err(|e| sqlite_text_error(self, i, value, e))
    }
}

impl Columns for tokio_postgres::Row {
    type Error = tokio_postgres::Error;
    fn col<T: Column>(&self, i: usize) -> Result<T, Self::Error> {
        self.try_get(i)
    }
    fn str(&self, i: usize) -> Result<&str, Self::Error> {
        self.try_get(i)
    }
    fn str_opt(&self, i: usize) -> Result<Option<&str>, Self::Error> {
        self.try_get(i)
    }
}

/// The error rusqlite's own `get::<String>` gives for a column that is not text.
fn sqlite_text_error(
    row: &rusqlite::Row<'_>,
    i: usize,
    value: rusqlite::types::ValueRef<'_>,
    e: rusqlite::types::FromSqlError,
) -> rusqlite::Error {
    match e {
        rusqlite::types::FromSqlError::InvalidType => {
            let name = row.as_ref().column_name(i).map(str::to_owned);
            rusqlite::Error::InvalidColumnType(i, name.unwrap_or_default(), value.data_type())
        }
        other => rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            Box::new(other),
        ),
    }
}

/// A row type of a hot page: reads itself from either driver's row, columns in the order its
/// query selects.
pub trait PageRow: Sized {
    fn read<R: Columns>(r: &R) -> Result<Self, R::Error>;
}

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
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn col<T: Column>(&self, i: usize) -> Result<T, Self::Error> {
        self.get(i)
    }
}

impl Columns for tokio_postgres::Row {
    type Error = tokio_postgres::Error;
    fn col<T: Column>(&self, i: usize) -> Result<T, Self::Error> {
        self.try_get(i)
    }
}

/// A row type of a hot page: reads itself from either driver's row, columns in the order its
/// query selects.
pub trait PageRow: Sized {
    fn read<R: Columns>(r: &R) -> Result<Self, R::Error>;
}

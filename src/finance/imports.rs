//! `fin_imports`: an uploaded statement and what became of it.

use crate::db::{Db, DbError, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImportRow {
    pub id: String,
    pub account_id: String,
    pub format: String,
    pub filename: String,
    pub profile_id: Option<String>,
    pub skip_bad_rows: bool,
    /// `queued`, `running`, `retrying` (an attempt failed; `error` says why), `completed` or
    /// `failed`.
    pub status: String,
    pub job_id: Option<String>,
    pub rows_total: i64,
    pub inserted: i64,
    pub updated: i64,
    pub duplicates: i64,
    /// JSON list of `{location, reason}`: rows skipped (or, when failed, the rows to blame).
    pub skipped: Option<String>,
    pub error: Option<String>,
    pub trace_id: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, format, filename, profile_id, skip_bad_rows, status, job_id, rows_total, inserted, \
    updated, duplicates, skipped, error, trace_id, created_at, finished_at";

/// How much of an upload one `fin_import_chunks` row holds, and so about what an upload or
/// a job reading it back holds in memory at once besides the parsed statement.
pub const CHUNK: usize = 1024 * 1024;

/// Writes the import row and its file (read from `file` in [`CHUNK`]s, so a large upload
/// never sits in memory whole) inside the caller's transaction.
#[tracing::instrument(skip_all, fields(import = %r.id))]
pub async fn create_in(
    tx: &mut Tx,
    r: &ImportRow,
    file: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Result<u64, ImportWriteError> {
    use tokio::io::AsyncReadExt;
    let sql = Sql::new(
        "INSERT INTO fin_imports (id, account_id, format, filename, profile_id, skip_bad_rows, status, job_id, \
         trace_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    );
    tx.execute(
        sql.bind(&r.id)
            .bind(&r.account_id)
            .bind(&r.format)
            .bind(&r.filename)
            .bind(&r.profile_id)
            .bind(r.skip_bad_rows)
            .bind(&r.status)
            .bind(&r.job_id)
            .bind(&r.trace_id)
            .bind(r.created_at),
    )
    .await?;
    let mut buf = vec![0u8; CHUNK];
    let (mut seq, mut total) = (0i64, 0u64);
    loop {
        // Fill the buffer (a read may return less than asked) so chunks are full-sized.
        let mut filled = 0;
        while filled < CHUNK {
            let n = file.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        let sql =
            Sql::new("INSERT INTO fin_import_chunks (import_id, seq, data) VALUES ($1, $2, $3)");
        tx.execute(sql.bind(&r.id).bind(seq).bind(&buf[..filled]))
            .await?;
        seq += 1;
        total += filled as u64;
        if filled < CHUNK {
            break;
        }
    }
    Ok(total)
}

#[derive(Debug, thiserror::Error)]
pub enum ImportWriteError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("reading the uploaded file back: {0}")]
    Io(#[from] std::io::Error),
}

/// The import's state while its job works on it: `running`, or `retrying` with the error of
/// the attempt that failed (the job will try again).
pub async fn set_status(
    db: &Db,
    id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<(), DbError> {
    let sql = Sql::new(
        "UPDATE fin_imports SET status = $1, error = $2 WHERE id = $3 AND status NOT IN ('completed', 'failed')",
    );
    db.execute(sql.bind(status).bind(error).bind(id)).await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ImportRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM fin_imports WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

pub async fn list(
    db: &Db,
    account_id: Option<&str>,
    limit: i64,
) -> Result<Vec<ImportRow>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM fin_imports WHERE ($1 IS NULL OR account_id = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    db.fetch_all(Sql::new(sql).bind(account_id).bind(limit))
        .await
}

/// The uploaded file: its chunks in order (rows from before chunking keep it in `content`).
pub async fn content(db: &Db, id: &str) -> Result<Option<Vec<u8>>, DbError> {
    use futures::TryStreamExt;
    let sql = Sql::new(
        "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM fin_import_chunks WHERE import_id = $1",
    );
    let size: i64 = db.fetch_scalar(sql.bind(id)).await?;
    if size > 0 {
        // Chunk by chunk into one buffer of the right size: the file is in memory once, not
        // twice (all chunks, then their concatenation).
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let sql = Sql::new("SELECT data FROM fin_import_chunks WHERE import_id = $1 ORDER BY seq")
            .bind(id);
        let mut rows = db.fetch::<(Vec<u8>,)>(&sql);
        while let Some((chunk,)) = rows.try_next().await? {
            out.extend_from_slice(&chunk);
        }
        return Ok(Some(out));
    }
    let sql = Sql::new("SELECT content FROM fin_imports WHERE id = $1").bind(id);
    let row: Option<(Option<Vec<u8>>,)> = db.fetch_optional(sql).await?;
    Ok(row.and_then(|(c,)| c))
}

/// Records the outcome in its own transaction.
pub async fn finish(
    db: &Db,
    id: &str,
    status: &str,
    counts: (i64, i64, i64, i64),
    skipped: Option<String>,
    error: Option<String>,
) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    finish_in(&mut tx, id, status, counts, skipped, error).await?;
    tx.commit().await
}

/// Records the outcome inside the caller's transaction (the one that wrote the rows, so a
/// crash cannot leave rows in the books and the import still `queued`). A completed import
/// drops its file (the rows are in the books).
#[tracing::instrument(skip_all, fields(import = %id, status = %status))]
pub async fn finish_in(
    tx: &mut Tx,
    id: &str,
    status: &str,
    counts: (i64, i64, i64, i64),
    skipped: Option<String>,
    error: Option<String>,
) -> Result<(), DbError> {
    let now = chrono::Utc::now().timestamp_millis();
    let sql = Sql::new(
        "UPDATE fin_imports SET status = $1, rows_total = $2, inserted = $3, updated = $4, duplicates = $5, \
         skipped = $6, error = $7, finished_at = $8, content = CASE WHEN $1 = 'completed' THEN NULL ELSE content END \
         WHERE id = $9",
    );
    tx.execute(
        sql.bind(status)
            .bind(counts.0)
            .bind(counts.1)
            .bind(counts.2)
            .bind(counts.3)
            .bind(skipped)
            .bind(error)
            .bind(now)
            .bind(id),
    )
    .await?;
    if status == "completed" {
        tx.execute(Sql::new("DELETE FROM fin_import_chunks WHERE import_id = $1").bind(id))
            .await?;
    }
    Ok(())
}

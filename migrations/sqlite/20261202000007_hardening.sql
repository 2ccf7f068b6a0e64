-- An import's status also says when its job is working on it (`running`) or will try again
-- after a failed attempt (`retrying`, with the error). SQLite cannot alter a CHECK: rebuild.
CREATE TABLE fin_imports_new (
    id            TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL REFERENCES fin_accounts (id),
    format        TEXT NOT NULL,
    filename      TEXT NOT NULL,
    profile_id    TEXT,
    skip_bad_rows BOOLEAN NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'retrying', 'completed', 'failed')),
    job_id        TEXT,
    content       BLOB,
    rows_total    BIGINT NOT NULL DEFAULT 0,
    inserted      BIGINT NOT NULL DEFAULT 0,
    updated       BIGINT NOT NULL DEFAULT 0,
    duplicates    BIGINT NOT NULL DEFAULT 0,
    skipped       TEXT,
    error         TEXT,
    trace_id      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
INSERT INTO fin_imports_new SELECT id, account_id, format, filename, profile_id, skip_bad_rows, status, job_id,
    content, rows_total, inserted, updated, duplicates, skipped, error, trace_id, created_at, finished_at
    FROM fin_imports;
DROP TABLE fin_imports;
ALTER TABLE fin_imports_new RENAME TO fin_imports;

-- An upload's file in 1 MiB pieces, written as it is read from a temporary file, so neither
-- the upload nor its insert holds the whole file in memory.
CREATE TABLE fin_import_chunks (
    import_id TEXT NOT NULL REFERENCES fin_imports (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (import_id, seq)
);

-- Month locks now live inside the ingest transaction (SQLite: BEGIN IMMEDIATE; Postgres:
-- transaction-scoped advisory locks), so they die with a killed process.
DROP TABLE fin_locks;

-- An outbox row no sink could publish stays pending (published_at NULL) with its error and
-- is tried again after retry_at, instead of being marked published and lost.
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN retry_at BIGINT;

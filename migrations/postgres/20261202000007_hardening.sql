-- An import's status also says when its job is working on it (`running`) or will try again
-- after a failed attempt (`retrying`, with the error).
ALTER TABLE fin_imports DROP CONSTRAINT fin_imports_status_check;
ALTER TABLE fin_imports ADD CONSTRAINT fin_imports_status_check
    CHECK (status IN ('queued', 'running', 'retrying', 'completed', 'failed'));

-- An upload's file in 1 MiB pieces, written as it is read from a temporary file, so neither
-- the upload nor its insert holds the whole file in memory.
CREATE TABLE fin_import_chunks (
    import_id TEXT NOT NULL REFERENCES fin_imports (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (import_id, seq)
);

-- Month locks now live inside the ingest transaction (SQLite: BEGIN IMMEDIATE; Postgres:
-- transaction-scoped advisory locks), so they die with a killed process.
DROP TABLE fin_locks;

-- An outbox row no sink could publish stays pending (published_at NULL) with its error and
-- is tried again after retry_at, instead of being marked published and lost.
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN retry_at BIGINT;

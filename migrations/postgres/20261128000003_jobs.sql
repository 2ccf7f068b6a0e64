-- Durable jobs. Times are Unix milliseconds (BIGINT) so comparisons are identical on both backends.
CREATE TABLE jobs (
    id                     TEXT PRIMARY KEY NOT NULL,
    queue                  TEXT NOT NULL,
    name                   TEXT NOT NULL,
    payload                TEXT NOT NULL,
    state                  TEXT NOT NULL CHECK (state IN ('waiting', 'delayed', 'active', 'completed', 'failed', 'dead', 'cancelled')),
    attempts               BIGINT NOT NULL DEFAULT 0,
    max_attempts           BIGINT NOT NULL,
    backoff                TEXT NOT NULL,
    run_at                 BIGINT NOT NULL,
    lease_id               TEXT,
    lease_owner            TEXT,
    lease_expires_at       BIGINT,
    progress               BIGINT NOT NULL DEFAULT 0,
    progress_message       TEXT,
    result                 TEXT,
    last_error             TEXT,
    trace_id               TEXT NOT NULL,
    idempotency_key        TEXT,
    idempotency_expires_at BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    finished_at            BIGINT,
    UNIQUE (queue, idempotency_key)
);
CREATE INDEX jobs_due ON jobs (queue, state, run_at);
CREATE INDEX jobs_lease ON jobs (state, lease_expires_at);

-- Events that must not be lost, written in the transaction of the change that caused them.
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY NOT NULL,
    event_type   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    trace_id     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (published_at, id);

-- Repeatable jobs. Each tick enqueues with the idempotency key schedule:<id>:<tick>, so two
-- processes or a restart never double-fire.
CREATE TABLE schedules (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    cron          TEXT NOT NULL,
    queue         TEXT NOT NULL,
    job_name      TEXT NOT NULL,
    payload       TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

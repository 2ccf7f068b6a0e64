-- How many requests an audit row stands for: 1, or more for the per-IP, per-minute summary of
-- anonymous refused requests (which used to write one row each, with the client's path).
ALTER TABLE event_log ADD COLUMN occurrences BIGINT NOT NULL DEFAULT 1;

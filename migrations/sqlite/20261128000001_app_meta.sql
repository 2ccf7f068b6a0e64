-- Key/value facts about this installation (schema owner, install id, ...).
CREATE TABLE IF NOT EXISTS app_meta (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

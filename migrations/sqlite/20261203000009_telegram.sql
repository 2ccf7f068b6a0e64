-- Telegram: a Telegram *user* (never a chat alone) linked to one of our users; one-time link
-- codes; notification dedupe per event and recipient; per-user notification preferences.
CREATE TABLE telegram_links (
    telegram_user_id  BIGINT PRIMARY KEY NOT NULL,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    telegram_username TEXT,
    chat_id           BIGINT NOT NULL,
    linked_at         TEXT NOT NULL
);
CREATE INDEX telegram_links_user ON telegram_links (user_id);

CREATE TABLE telegram_link_codes (
    code_hash  TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);

CREATE TABLE telegram_notifications (
    event_key        TEXT NOT NULL,
    telegram_user_id BIGINT NOT NULL,
    sent_at          TEXT NOT NULL,
    PRIMARY KEY (event_key, telegram_user_id)
);
CREATE INDEX telegram_notifications_sent ON telegram_notifications (sent_at);

CREATE TABLE telegram_preferences (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    level   TEXT NOT NULL CHECK (level IN ('on', 'silent', 'off')),
    PRIMARY KEY (user_id, kind)
);

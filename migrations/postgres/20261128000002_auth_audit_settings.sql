CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'trader', 'admin')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    key_hash     TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'trader', 'admin')),
    created_by   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE TABLE event_log (
    id         TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    trace_id   TEXT NOT NULL,
    principal  TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    client_ip  TEXT,
    detail     TEXT
);
CREATE INDEX event_log_trace ON event_log (trace_id);
CREATE INDEX event_log_at ON event_log (at);

CREATE TABLE integration_settings (
    environment TEXT NOT NULL,
    provider    TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('sandbox', 'live')),
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (environment, provider)
);

CREATE TABLE integration_secrets (
    environment TEXT NOT NULL,
    provider    TEXT NOT NULL,
    name        TEXT NOT NULL,
    ciphertext  BYTEA NOT NULL,
    last4       TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (environment, provider, name),
    FOREIGN KEY (environment, provider) REFERENCES integration_settings (environment, provider) ON DELETE CASCADE
);

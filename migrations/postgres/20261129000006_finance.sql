-- Personal finance. Amounts are decimal strings (TEXT) plus `amount_e4`, the same amount in
-- ten-thousandths as a BIGINT, so filters, sorting and report sums are exact in SQL on both
-- backends. Dates are ISO `YYYY-MM-DD` text (they sort and compare as dates).
CREATE TABLE fin_accounts (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL UNIQUE,
    account_type    TEXT NOT NULL CHECK (account_type IN ('checking', 'savings', 'credit_card', 'cash', 'investment', 'loan', 'other')),
    currency        TEXT NOT NULL,
    institution     TEXT,
    opening_balance TEXT NOT NULL,
    opening_e4      BIGINT NOT NULL,
    external_ref    TEXT,
    archived        BOOLEAN NOT NULL,
    last_synced_at  BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE fin_categories (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    parent_id  TEXT REFERENCES fin_categories (id),
    kind       TEXT NOT NULL CHECK (kind IN ('income', 'expense', 'transfer')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX fin_categories_name ON fin_categories (COALESCE(parent_id, ''), name);

CREATE TABLE fin_transactions (
    id              TEXT PRIMARY KEY NOT NULL,
    account_id      TEXT NOT NULL REFERENCES fin_accounts (id),
    booked_date     TEXT NOT NULL,
    value_date      TEXT,
    amount          TEXT NOT NULL,
    amount_e4       BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    description     TEXT NOT NULL,
    counterparty    TEXT,
    notes           TEXT,
    -- Lower-cased description, counterparty and notes (Unicode-aware, done by the app:
    -- SQLite's LOWER() only folds ASCII) for case-insensitive text search.
    search          TEXT NOT NULL,
    external_id     TEXT,
    -- `ext:<bank id>` or `h:<sha256(account, date, amount, description, occurrence)>`.
    dedupe_key      TEXT NOT NULL,
    import_batch    TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'booked')),
    category_id     TEXT REFERENCES fin_categories (id),
    categorized_by  TEXT CHECK (categorized_by IN ('user', 'rule', 'model', 'llm')),
    category_locked BOOLEAN NOT NULL,
    -- What automation proposed (kept when a user overrides it: accuracy per tier).
    auto_category_id TEXT,
    auto_tier        TEXT,
    rule_id          TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (account_id, dedupe_key)
);
CREATE INDEX fin_tx_account_date ON fin_transactions (account_id, booked_date, id);
-- Partial: new imports (uncategorized) do not pay for this index at insert time.
CREATE INDEX fin_tx_category ON fin_transactions (category_id) WHERE category_id IS NOT NULL;

CREATE TABLE fin_csv_profiles (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    profile    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One uploaded file and what became of it. The file stays until the import finished.
CREATE TABLE fin_imports (
    id            TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL REFERENCES fin_accounts (id),
    format        TEXT NOT NULL,
    filename      TEXT NOT NULL,
    profile_id    TEXT,
    skip_bad_rows BOOLEAN NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'completed', 'failed')),
    job_id        TEXT,
    content       BYTEA,
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

CREATE TABLE fin_rules (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    position        BIGINT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    match_all       BOOLEAN NOT NULL,
    conditions      TEXT NOT NULL,
    actions         TEXT NOT NULL,
    stop_processing BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- The learned categorization model (naive Bayes counts as JSON), one row.
CREATE TABLE fin_model (
    id         TEXT PRIMARY KEY NOT NULL,
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- `sync:<account id>:<yyyymm>` while an import or sync writes that month of that account.
CREATE TABLE fin_locks (
    lock_key   TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

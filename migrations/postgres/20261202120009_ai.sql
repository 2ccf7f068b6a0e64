-- One row per model request, cache hit, or call refused by the budget or the breaker: the
-- audit trail of what the AI did and what it cost. Cost in billionths of a USD (prices per
-- million tokens times token counts need that precision; integers sum exactly on both backends).
CREATE TABLE llm_calls (
    id               TEXT PRIMARY KEY NOT NULL,
    created_at       BIGINT NOT NULL,
    -- `YYYY-MM` (UTC): the budget's and the usage report's unit.
    month            TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    template         TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    input_tokens     BIGINT NOT NULL,
    output_tokens    BIGINT NOT NULL,
    cost_nano_usd    BIGINT NOT NULL,
    latency_ms       BIGINT NOT NULL,
    outcome          TEXT NOT NULL,
    trace_id         TEXT NOT NULL
);
CREATE INDEX llm_calls_month ON llm_calls (month, purpose, model);

-- The LLM tier's answer below `finance.llm_threshold`: shown to the user, never applied.
ALTER TABLE fin_transactions ADD COLUMN suggested_category_id TEXT;
ALTER TABLE fin_transactions ADD COLUMN suggestion_confidence DOUBLE PRECISION;

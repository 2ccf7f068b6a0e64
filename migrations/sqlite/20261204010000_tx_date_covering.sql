-- The default transactions page (newest first, keyset on booked_date, id) read from an index
-- that holds every column the page shows, so SQLite walks one b-tree instead of looking each
-- of the 51 rows up in the table: the service's CPU per page 104 -> 92 us, 15.5k -> 16.9k
-- pages/s (100k rows, 2026-12-04; docs/decisions.md "The transactions page read from one
-- index"). It replaces fin_tx_date, whose leading columns it repeats, so every query that
-- used that index uses this one. The cost: the file grows by about a third (32 -> 43 MB for
-- 100k short rows) and each insert writes a wider index entry (measured with bench/import.sh
-- in the same section). Columns the page never shows (search, dedupe_key, auto_*) stay out.
CREATE INDEX fin_tx_date_cover ON fin_transactions (
    booked_date, id, account_id, value_date, amount, amount_e4, currency, description,
    counterparty, notes, external_id, import_batch, status, category_id, categorized_by,
    category_locked, rule_id, suggested_category_id, suggestion_confidence, created_at,
    updated_at
);
DROP INDEX fin_tx_date;

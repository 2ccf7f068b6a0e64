-- SQLite reads the default transactions page from a covering index since this migration
-- (see migrations/sqlite). Not here: Postgres's share of a page is sending its values
-- (pgbench with the page selecting only `id` runs 2.5x as fast), not finding the rows, and
-- an index-only scan would depend on the visibility map being current. Kept as a file so
-- both folders stay in step.
SELECT 1;

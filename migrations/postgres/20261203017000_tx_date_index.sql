-- The transactions list's default order (newest first, keyset on booked_date, id): without
-- this index every page of `GET /v1/financial/transactions` sorted the whole table.
CREATE INDEX fin_tx_date ON fin_transactions (booked_date, id);

-- Fees in the asset the venue charged them in (issue 17): Binance keeps part of a buy in the
-- base asset or charges BNB. `fee` stays the quote-valued amount PnL counts; these say what
-- was really taken. Rows from before: NULL asset/amount = the quote asset, `fee` itself
-- (every fee stored until now was quote-valued). `fee_valued` false: charged in an asset the
-- venue had no price for, so `fee` is 0 and the fill is reported as unvalued.
ALTER TABLE fills ADD COLUMN fee_amount TEXT;
ALTER TABLE fills ADD COLUMN fee_asset TEXT;
ALTER TABLE fills ADD COLUMN fee_valued BOOLEAN NOT NULL DEFAULT TRUE;

-- Balance reconciliation (issue 17 item 5): what a real venue held of an asset (free + locked)
-- when we first checked it, and when. The balance we expect is this amount moved by every
-- fill on that venue with a trade time after `taken_at` (quantities, notionals and fees in
-- the asset they were charged in). Deleting a row takes a new baseline on the next check.
CREATE TABLE venue_balance_baselines (
    venue     TEXT NOT NULL,
    asset     TEXT NOT NULL,
    amount    TEXT NOT NULL,
    taken_at  BIGINT NOT NULL,
    PRIMARY KEY (venue, asset)
);

-- Trading. Prices, quantities and money are decimal strings (TEXT): never a float.
-- Times are Unix milliseconds.
CREATE TABLE strategies (
    id                    TEXT PRIMARY KEY NOT NULL,
    name                  TEXT NOT NULL UNIQUE,
    kind                  TEXT NOT NULL,
    params                TEXT NOT NULL,
    connector             TEXT NOT NULL,
    symbols               TEXT NOT NULL,
    mode                  TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
    tick_interval_ms      BIGINT NOT NULL,
    max_order_notional    TEXT NOT NULL,
    max_open_position     TEXT NOT NULL,
    max_orders_per_minute BIGINT NOT NULL,
    daily_loss_limit      TEXT NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('idle', 'live', 'paused', 'stopped', 'faulted')),
    -- Bumped by every transition: compare-and-set guard and part of job idempotency keys.
    state_version         BIGINT NOT NULL,
    state_since           BIGINT NOT NULL,
    state_reason          TEXT,
    last_tick_at          BIGINT,
    ticks                 BIGINT NOT NULL DEFAULT 0,
    slow_ticks            BIGINT NOT NULL DEFAULT 0,
    -- PnL at the start of the UTC day `pnl_day` (yyyymmdd), for the daily loss limit.
    pnl_day               BIGINT,
    pnl_day_start         TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE TABLE strategy_transitions (
    id          TEXT PRIMARY KEY NOT NULL,
    strategy_id TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    cause       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    principal   TEXT NOT NULL,
    trace_id    TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX strategy_transitions_by_strategy ON strategy_transitions (strategy_id, at);

-- Written as pending_submit before the venue sees the order.
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY NOT NULL,
    strategy_id     TEXT NOT NULL,
    venue           TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type      TEXT NOT NULL CHECK (order_type IN ('market', 'limit')),
    limit_price     TEXT,
    qty             TEXT NOT NULL,
    filled_qty      TEXT NOT NULL,
    avg_fill_price  TEXT,
    fees            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending_submit', 'open', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired')),
    venue_order_id  TEXT,
    reason          TEXT,
    tag             TEXT NOT NULL,
    trace_id        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX orders_by_strategy ON orders (strategy_id, created_at);
CREATE INDEX orders_by_status ON orders (strategy_id, status);

-- One row per venue execution; the primary key deduplicates fills reported twice.
CREATE TABLE fills (
    venue           TEXT NOT NULL,
    trade_id        TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    strategy_id     TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    qty             TEXT NOT NULL,
    price           TEXT NOT NULL,
    fee             TEXT NOT NULL,
    liquidity       TEXT NOT NULL,
    ts              BIGINT NOT NULL,
    PRIMARY KEY (venue, trade_id)
);
CREATE INDEX fills_by_strategy ON fills (strategy_id, ts);

CREATE TABLE positions (
    strategy_id TEXT NOT NULL,
    venue       TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    qty         TEXT NOT NULL,
    avg_price   TEXT NOT NULL,
    realised    TEXT NOT NULL,
    fees_paid   TEXT NOT NULL,
    mark_price  TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (strategy_id, venue, symbol)
);

-- The paper exchange's own books: balances and orders survive restarts.
CREATE TABLE paper_venues (
    venue          TEXT PRIMARY KEY NOT NULL,
    last_trade_seq BIGINT NOT NULL
);
CREATE TABLE paper_balances (
    venue  TEXT NOT NULL,
    asset  TEXT NOT NULL,
    amount TEXT NOT NULL,
    PRIMARY KEY (venue, asset)
);
CREATE TABLE paper_orders (
    venue           TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    terminal        BOOLEAN NOT NULL,
    body            TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (venue, client_order_id)
);
CREATE INDEX paper_orders_open ON paper_orders (venue, terminal);

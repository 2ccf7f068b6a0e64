-- Signed venue APIs (Kraken) need a nonce that only ever grows, also across restarts: the
-- highest nonce a process may use without writing here again (a reserved block), per key.
CREATE TABLE venue_nonces (
    nonce_key  TEXT PRIMARY KEY NOT NULL,
    reserved   BIGINT NOT NULL
);

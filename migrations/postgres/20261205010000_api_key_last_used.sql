-- When each API key was last accepted, so an owner can spot keys nobody uses any more and
-- revoke them. Written in the background at most once a minute per key and process
-- (src/auth/key_usage.rs), never on the request's own path; NULL until first used.
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMPTZ;

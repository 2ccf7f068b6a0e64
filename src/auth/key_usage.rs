//! When API keys were last used: recorded in the background, at most once per key per
//! [`EVERY`] in each process, so an owner can see which keys still matter and revoke the rest.
//!
//! Why throttled and off the request's path: an integration may call several times a second;
//! a write per call would put a database write (on SQLite, the process's one writer turn)
//! behind every read it makes. Checking the throttle costs one uncontended lock and one map
//! lookup. The price is precision: `last_used_at` may be up to [`EVERY`] old, and a use in
//! the last minute before a shutdown may be lost. Both are stated in the API's schema.

use crate::db::{Db, api_keys};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::Instrument as _;

/// At most one write per key per process in this time.
pub const EVERY: Duration = Duration::from_secs(60);
/// Keys remembered; past this the map starts over (at worst one extra write per key). Keys
/// reach here only after their secret checked out, so guessed keys cannot fill it.
const MAX_KEYS: usize = 1_000;

#[derive(Default)]
pub struct KeyUsage {
    written: Mutex<HashMap<String, Instant>>,
}

impl KeyUsage {
    /// Key `id` was accepted now: records it in the background when due.
    pub fn used(&self, db: &Db, id: &str) {
        if !self.due(id, Instant::now()) {
            return;
        }
        let (db, id, at) = (db.clone(), id.to_owned(), Utc::now());
        // In the request's span, so a failed write is logged with the request id that led to it.
        tokio::spawn(
            async move {
                if let Err(e) = api_keys::touch(&db, &id, at).await {
                    // Best effort: the next use after `EVERY` tries again.
                    tracing::warn!(error = %e, key_id = %id, "could not record an API key's use");
                }
            }
            .in_current_span(),
        );
    }

    /// Whether key `id`, used at `now`, should be written (and, if so, remembers `now`).
    fn due(&self, id: &str, now: Instant) -> bool {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        match written.get_mut(id) {
            Some(at) if now.saturating_duration_since(*at) < EVERY => false,
            Some(at) => {
                *at = now;
                true
            }
            None => {
                if written.len() >= MAX_KEYS {
                    written.clear();
                }
                written.insert(id.to_owned(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_written_at_most_once_per_period() {
        let usage = KeyUsage::default();
        let t0 = Instant::now();
        assert!(usage.due("a", t0));
        assert!(!usage.due("a", t0 + Duration::from_secs(1)));
        assert!(!usage.due("a", t0 + EVERY - Duration::from_millis(1)));
        assert!(usage.due("b", t0 + Duration::from_secs(1)), "keys apart");
        assert!(usage.due("a", t0 + EVERY));
        assert!(!usage.due("a", t0 + EVERY + Duration::from_secs(30)));
    }

    #[test]
    fn the_map_stays_bounded() {
        let usage = KeyUsage::default();
        let t0 = Instant::now();
        for n in 0..MAX_KEYS * 3 {
            assert!(usage.due(&n.to_string(), t0));
        }
        assert!(usage.written.lock().expect("lock").len() <= MAX_KEYS);
    }
}

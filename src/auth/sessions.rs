//! Whether an access token's session is still good: one cached lookup per request.
//!
//! Access JWTs carry `sid`, the refresh-token family of their login. A session is live while
//! its user exists and is enabled and the family has an unrevoked token. Logout, a replayed
//! refresh token, disabling the user and a new password revoke families in the database and
//! invalidate this cache at once, so the same process refuses the token on its next request.
//!
//! Several processes (Postgres): each has its own cache, so entries live at most
//! `auth.session_cache_ttl_secs` (default 5 s), after which the database is asked again. A TTL
//! rather than `LISTEN/NOTIFY`: it works the same on SQLite and Postgres, needs no dedicated
//! listener connection, and cannot miss a change while a listener reconnects; the price is
//! that another process may accept the token for up to the TTL (against 15 minutes before)
//! and one indexed query per active session per TTL.

use super::Role;
use crate::db::{Db, DbError, users};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Entries beyond this are dropped (stale first, then all): the cache stays small whatever
/// the number of sessions.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// The user's current name and role (a role change applies at once too).
    Live { username: String, role: Role },
    /// Logged out, revoked, user disabled or deleted, or no such user.
    Ended,
}

struct Entry {
    user_id: String,
    state: SessionState,
    fetched: Instant,
}

pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped by every invalidation: a lookup that started before one does not cache what it
    /// read (it may predate the change).
    generation: AtomicU64,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
        }
    }

    /// The session's state: from the cache when fresh, else from the database.
    pub async fn state(&self, db: &Db, user_id: &str, sid: &str) -> Result<SessionState, DbError> {
        if let Some(state) = self.cached(user_id, sid) {
            return Ok(state);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let state = match users::session_state(db, user_id, sid).await? {
            Some(row) if !row.disabled && row.live => SessionState::Live {
                username: row.username,
                role: Role::parse(&row.role).unwrap_or(Role::Viewer),
            },
            _ => SessionState::Ended,
        };
        self.insert(user_id, sid, state.clone(), generation);
        Ok(state)
    }

    fn cached(&self, user_id: &str, sid: &str) -> Option<SessionState> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(sid)
            .filter(|e| e.user_id == user_id && e.fetched.elapsed() < self.ttl)
            .map(|e| e.state.clone())
    }

    fn insert(&self, user_id: &str, sid: &str, state: SessionState, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock invalidations take too, so none can slip in between.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.fetched.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            sid.to_owned(),
            Entry {
                user_id: user_id.to_owned(),
                state,
                fetched: Instant::now(),
            },
        );
    }

    /// After logout or a revoked family: that session's tokens are refused from now on.
    pub fn end_session(&self, sid: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(sid);
    }

    /// After the user was disabled, got a new password or another role.
    pub fn user_changed(&self, user_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| e.user_id != user_id);
    }
}

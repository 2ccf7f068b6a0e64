//! Kraken's nonce: strictly increasing per API key, also across restarts (a smaller nonce than
//! one Kraken has seen is refused with `EAPI:Invalid nonce`). Microseconds since the epoch,
//! floored by what this key used before: each process reserves a block ahead (one write per
//! `block` of nonces, not per request) and a restart starts above the stored reservation, so
//! a clock set back or a fast restart never reuses a nonce.

use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Where the reservation is kept (the database in the service, memory in unit tests).
#[async_trait]
pub trait NonceStore: Send + Sync + 'static {
    async fn reserved(&self, key: &str) -> Result<Option<u64>, String>;
    /// Raises the reservation to `value` (never lowers it).
    async fn reserve(&self, key: &str, value: u64) -> Result<(), String>;
}

pub type MicrosClock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_micros() -> MicrosClock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or_default()
    })
}

pub struct Nonces {
    store: Arc<dyn NonceStore>,
    key: String,
    clock: MicrosClock,
    /// Nonces reserved per write: 60 s of microseconds.
    block: u64,
    state: Mutex<Option<State>>,
}

#[derive(Clone, Copy)]
struct State {
    last: u64,
    reserved: u64,
}

impl Nonces {
    pub fn new(store: Arc<dyn NonceStore>, key: &str, clock: MicrosClock) -> Self {
        Self {
            store,
            key: key.to_owned(),
            clock,
            block: 60_000_000,
            state: Mutex::new(None),
        }
    }

    /// The next nonce: above every nonce this key was given before, in this process or any
    /// earlier one.
    pub async fn next(&self) -> Result<u64, String> {
        let mut guard = self.state.lock().await;
        let mut state = match *guard {
            Some(s) => s,
            None => {
                let reserved = self.store.reserved(&self.key).await?.unwrap_or(0);
                State {
                    last: reserved,
                    reserved,
                }
            }
        };
        let nonce = (self.clock)().max(state.last.saturating_add(1));
        if nonce > state.reserved {
            let reserved = nonce.saturating_add(self.block);
            self.store.reserve(&self.key, reserved).await?;
            state.reserved = reserved;
        }
        state.last = nonce;
        *guard = Some(state);
        Ok(nonce)
    }
}

/// In memory: unit tests.
#[derive(Default)]
pub struct MemoryNonceStore(std::sync::Mutex<std::collections::HashMap<String, u64>>);

#[async_trait]
impl NonceStore for MemoryNonceStore {
    async fn reserved(&self, key: &str) -> Result<Option<u64>, String> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .copied())
    }

    async fn reserve(&self, key: &str, value: u64) -> Result<(), String> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let v = map.entry(key.to_owned()).or_default();
        *v = (*v).max(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(us: u64) -> MicrosClock {
        Arc::new(move || us)
    }

    #[tokio::test]
    async fn increases_within_and_across_instances_even_when_the_clock_goes_back() {
        let store: Arc<dyn NonceStore> = Arc::new(MemoryNonceStore::default());
        let a = Nonces::new(Arc::clone(&store), "k", fixed(1_000));
        let n1 = a.next().await.expect("nonce");
        let n2 = a.next().await.expect("nonce");
        assert_eq!(
            (n1, n2),
            (1_000, 1_001),
            "same microsecond: still increasing"
        );
        // A restart whose clock is behind: starts above everything reserved before.
        let b = Nonces::new(Arc::clone(&store), "k", fixed(500));
        let n3 = b.next().await.expect("nonce");
        assert!(n3 > n2, "{n3} > {n2}");
        // Another key has its own sequence.
        let c = Nonces::new(store, "other", fixed(7));
        assert_eq!(c.next().await.expect("nonce"), 7);
    }
}

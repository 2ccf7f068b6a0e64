//! In-memory fakes of the ports, for tests that exercise the actors without a database
//! (feature `testkit`; the crate's own integration tests turn it on). Each fake keeps the
//! contract its port documents (compare-and-set transitions, fills deduplicated by trade id,
//! leases fenced by their id, locked transactions never overwritten), so a test against a
//! fake fails where the actor gets the contract wrong. The SQL implementations in the root
//! crate are tested against the same contracts on SQLite and Postgres.
//!
//! - `trading_store.rs`: [`MemoryTradingStore`] (`TradingStore`).
//! - `job_store.rs`: [`MemoryJobStore`] (`JobStore`).
//! - `category_store.rs`: [`MemoryCategoryStore`] (`CategoryStore`).
//! - `venue.rs`: [`FlakyVenue`], a `Connector` that can be made to fail or hang.
//! - `wait.rs`: [`eventually`], waiting on a condition instead of a fixed sleep.

mod category_store;
mod job_store;
mod trading_store;
mod venue;
mod wait;

pub use category_store::{MemoryCategoryStore, StoredTransaction};
pub use job_store::{JobState, MemoryJobStore, StoredJob};
pub use trading_store::MemoryTradingStore;
pub use venue::FlakyVenue;
pub use wait::eventually;

use crate::ports::DependencyError;

/// The error every fake returns while it is made unavailable.
fn unavailable() -> DependencyError {
    DependencyError("store unavailable (testkit)".to_owned())
}

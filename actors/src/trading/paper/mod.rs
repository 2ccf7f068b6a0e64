//! The paper exchange: a real `Connector` that simulates a spot venue against a price feed.
//!
//! # What it models
//! - Spot only: no shorting, no margin. Buys need quote ≥ notional + fee, sells need base ≥ qty.
//! - Market orders are IOC: they walk the taker side level by level (one fill per level); an
//!   unfillable remainder expires. A market order that cannot be funded at all is rejected.
//! - Limit orders fill their marketable part as taker, then rest. Resting orders fill as maker
//!   at their limit price against books the venue sees later (on `order_book`, `order_status`,
//!   `place` and `cancel` for that symbol). Our orders never enter the book, so two of ours never
//!   trade with each other.
//! - The liquidity we take from one feed snapshot is gone until the feed shows a different book,
//!   so the same levels are never sold twice.
//! - Limit orders reserve their worst-case cost at placement; `balances()` reports free balances
//!   (total minus reservations), the store keeps totals.
//! - Every change is saved through the `PaperStore` before a call returns; memory never runs
//!   ahead of the store.
//!
//! # Layout
//! - `feed.rs`: the `PriceFeed` port and `StaticFeed`; `random_walk.rs`: `RandomWalkFeed`;
//!   `polled_feed.rs`: `PolledFeed`, books of a real venue written by a poller outside this
//!   crate, refused once stale.
//! - `store.rs`: the `PaperStore` persistence port and `MemoryPaperStore`.
//! - `state.rs`: balances, reservations and resting orders; `matching.rs`: taker and maker fills.
//! - `exchange.rs`: `PaperExchange`, the `Connector` gluing state, feed and store together.

mod exchange;
mod feed;
mod matching;
mod polled_feed;
mod random_walk;
mod state;
mod store;

#[cfg(test)]
mod tests;

pub use exchange::{PaperConfig, PaperExchange};
pub use feed::{PriceFeed, RandomWalkFeed, StaticFeed};
pub use polled_feed::{FeedHealth, PolledFeed};
pub use store::{MemoryPaperStore, PaperOrder, PaperSnapshot, PaperStore};

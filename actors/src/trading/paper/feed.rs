//! Where the paper venue's books come from: the `PriceFeed` port and `StaticFeed`, a feed whose
//! books are set by hand (tests, replay). The synthetic `RandomWalkFeed` lives in
//! `random_walk.rs`, the real market's `PolledFeed` in `polled_feed.rs`.

use crate::trading::connector::ConnectorError;
use crate::trading::types::OrderBook;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

pub use super::random_walk::RandomWalkFeed;

/// A source of order books. Synchronous on purpose: the venue calls it while holding its state
/// lock, so it must be cheap and must not wait on I/O.
pub trait PriceFeed: Send + Sync + 'static {
    /// The book for `symbol` at `now_ms`, at most `depth` levels per side; `None` when the feed
    /// does not know the symbol.
    fn book(&self, symbol: &str, now_ms: i64, depth: usize) -> Option<OrderBook>;

    /// Why `book` gave nothing, when the feed knows better than "unknown symbol" (a real
    /// market's feed that is stale or still waiting for its first book). `None`: the venue
    /// answers with its own "unknown symbol".
    fn missing(&self, _symbol: &str, _now_ms: i64) -> Option<ConnectorError> {
        None
    }
}

/// Books set by hand. `set` replaces a symbol's book; the venue treats any book that differs from
/// the last one it saw as fresh liquidity, so to replenish an identical book change its `ts_ms`.
#[derive(Debug, Default)]
pub struct StaticFeed {
    books: Mutex<HashMap<String, OrderBook>>,
}

impl StaticFeed {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, book: OrderBook) {
        // A panic elsewhere cannot leave a half-written map behind (insert is atomic for us), so
        // a poisoned lock is still safe to use.
        let mut books = self.books.lock().unwrap_or_else(PoisonError::into_inner);
        books.insert(book.symbol.clone(), book);
    }
}

impl PriceFeed for StaticFeed {
    fn book(&self, symbol: &str, _now_ms: i64, depth: usize) -> Option<OrderBook> {
        let books = self.books.lock().unwrap_or_else(PoisonError::into_inner);
        let mut book = books.get(symbol)?.clone();
        book.bids.truncate(depth);
        book.asks.truncate(depth);
        Some(book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::types::Level;
    use rust_decimal::dec;

    #[test]
    fn static_feed_replaces_and_truncates() {
        let feed = StaticFeed::new();
        assert_eq!(feed.book("BTC-USDT", 0, 5), None);
        let level = |price| Level {
            price,
            qty: dec!(1),
        };
        feed.set(OrderBook {
            symbol: "BTC-USDT".into(),
            bids: vec![level(dec!(99)), level(dec!(98))],
            asks: vec![level(dec!(101)), level(dec!(102))],
            ts_ms: 1,
        });
        let book = feed.book("BTC-USDT", 0, 1).expect("set above");
        assert_eq!((book.bids.len(), book.asks.len()), (1, 1));
        assert_eq!(
            (book.best_bid(), book.best_ask()),
            (Some(dec!(99)), Some(dec!(101)))
        );
    }
}

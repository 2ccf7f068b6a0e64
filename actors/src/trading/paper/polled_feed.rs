//! `PolledFeed`: a real venue's books for the paper venue ("paper on real prices").
//!
//! A poller outside this crate (it speaks HTTP) asks `wanted` which symbols to fetch, and
//! hands each book it gets to `update` (or the error to `failed`). The paper venue reads books
//! through `PriceFeed`, which is what makes a symbol wanted: nothing is polled that no strategy
//! looks at, and a symbol nobody asked about for `idle_after_ms` is dropped.
//!
//! A book is stamped with the time it was *received*: public depth snapshots carry no usable
//! time of their own (Binance's has none). A book older than `stale_after_ms` is never handed
//! out: the venue answers `Unavailable` with the reason, so no order is matched on old prices
//! and a strategy whose feed stays stale faults, naming it.

use super::feed::PriceFeed;
use crate::trading::connector::ConnectorError;
use crate::trading::types::{OrderBook, split_symbol};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

pub struct PolledFeed {
    source: String,
    stale_after_ms: i64,
    idle_after_ms: i64,
    inner: Mutex<Inner>,
    /// Woken when a symbol is wanted for the first time, so its first book does not wait for
    /// the next poll.
    new_symbol: Notify,
}

#[derive(Default)]
struct Inner {
    books: HashMap<String, OrderBook>,
    /// Symbol → when it was last asked for.
    wanted: HashMap<String, i64>,
    /// Symbol → the last poll's error (cleared by a book).
    errors: HashMap<String, String>,
    /// Symbols the venue says it does not list, with its words.
    unknown: HashMap<String, String>,
}

/// What the poller reports (readiness, metrics): per wanted symbol, the book's age.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedHealth {
    /// `(symbol, age_ms)`; `None` while no book has arrived.
    pub ages: Vec<(String, Option<i64>)>,
    /// Human-readable reasons for every symbol that cannot be traded on now.
    pub problems: Vec<String>,
}

impl FeedHealth {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl PolledFeed {
    /// `source` names the venue the books come from (`binance`, `kraken`).
    pub fn new(source: &str, stale_after_ms: i64, idle_after_ms: i64) -> Self {
        Self {
            source: source.to_owned(),
            stale_after_ms: stale_after_ms.max(1),
            idle_after_ms: idle_after_ms.max(1),
            inner: Mutex::new(Inner::default()),
            new_symbol: Notify::new(),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn stale_after_ms(&self) -> i64 {
        self.stale_after_ms
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every write below is a single map operation: a panic cannot leave them half done.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `symbol` as wanted now (the venue does this on every read).
    pub fn want(&self, symbol: &str, now_ms: i64) {
        if self
            .lock()
            .wanted
            .insert(symbol.to_owned(), now_ms)
            .is_none()
        {
            self.new_symbol.notify_one();
        }
    }

    /// Resolves when a symbol is wanted for the first time (the poller's wake-up call).
    pub async fn new_symbol(&self) {
        self.new_symbol.notified().await;
    }

    /// The symbols to poll, sorted; forgets those nobody asked about for `idle_after_ms`.
    pub fn wanted(&self, now_ms: i64) -> Vec<String> {
        let mut inner = self.lock();
        let idle = self.idle_after_ms;
        let dropped: Vec<String> = inner
            .wanted
            .iter()
            .filter(|(_, at)| now_ms - **at > idle)
            .map(|(s, _)| s.clone())
            .collect();
        for s in &dropped {
            inner.wanted.remove(s);
            inner.books.remove(s);
            inner.errors.remove(s);
        }
        let mut out: Vec<String> = inner
            .wanted
            .keys()
            .filter(|s| !inner.unknown.contains_key(*s))
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// A fresh book for `book.symbol`, received at `received_ms`.
    pub fn update(&self, mut book: OrderBook, received_ms: i64) {
        book.ts_ms = received_ms;
        let mut inner = self.lock();
        inner.errors.remove(&book.symbol);
        inner.books.insert(book.symbol.clone(), book);
    }

    /// The poll for `symbol` failed; its last book (if any) ages until the next success.
    pub fn failed(&self, symbol: &str, error: &str) {
        self.lock()
            .errors
            .insert(symbol.to_owned(), error.to_owned());
    }

    /// The venue does not list `symbol`: it is no longer polled, and reads are refused.
    pub fn unknown_symbol(&self, symbol: &str, detail: &str) {
        let mut inner = self.lock();
        inner.unknown.insert(symbol.to_owned(), detail.to_owned());
        inner.books.remove(symbol);
    }

    /// Ages and problems of the wanted symbols at `now_ms`.
    pub fn health(&self, now_ms: i64) -> FeedHealth {
        let inner = self.lock();
        let mut symbols: Vec<&String> = inner.wanted.keys().collect();
        symbols.sort();
        let mut health = FeedHealth::default();
        for symbol in symbols {
            if inner.unknown.contains_key(symbol) {
                continue;
            }
            let age = inner.books.get(symbol).map(|b| now_ms - b.ts_ms);
            health.ages.push((symbol.clone(), age));
            if let Some(reason) = self.problem(&inner, symbol, now_ms) {
                health.problems.push(reason);
            }
        }
        health
    }

    /// Why `symbol` cannot be traded on at `now_ms`, if it cannot.
    fn problem(&self, inner: &Inner, symbol: &str, now_ms: i64) -> Option<String> {
        let last_error = inner
            .errors
            .get(symbol)
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default();
        match inner.books.get(symbol) {
            None => Some(format!(
                "no {} book for {symbol} yet{last_error}",
                self.source
            )),
            Some(book) if now_ms - book.ts_ms > self.stale_after_ms => Some(format!(
                "{} book for {symbol} is stale: {} ms old (limit {} ms){last_error}",
                self.source,
                now_ms - book.ts_ms,
                self.stale_after_ms
            )),
            Some(_) => None,
        }
    }
}

impl PriceFeed for PolledFeed {
    fn book(&self, symbol: &str, now_ms: i64, depth: usize) -> Option<OrderBook> {
        split_symbol(symbol)?;
        self.want(symbol, now_ms);
        let inner = self.lock();
        if inner.unknown.contains_key(symbol) || self.problem(&inner, symbol, now_ms).is_some() {
            return None;
        }
        let mut book = inner.books.get(symbol)?.clone();
        book.bids.truncate(depth);
        book.asks.truncate(depth);
        Some(book)
    }

    fn missing(&self, symbol: &str, now_ms: i64) -> Option<ConnectorError> {
        split_symbol(symbol)?;
        let inner = self.lock();
        if let Some(detail) = inner.unknown.get(symbol) {
            return Some(ConnectorError::Rejected(format!(
                "{} does not list {symbol}: {detail}",
                self.source
            )));
        }
        self.problem(&inner, symbol, now_ms)
            .map(|reason| ConnectorError::Unavailable(format!("price feed: {reason}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::types::Level;
    use rust_decimal::dec;

    fn book(symbol: &str, bid: rust_decimal::Decimal) -> OrderBook {
        let level = |price| Level {
            price,
            qty: dec!(1),
        };
        OrderBook {
            symbol: symbol.into(),
            bids: vec![level(bid), level(bid - dec!(1))],
            asks: vec![level(bid + dec!(1)), level(bid + dec!(2))],
            ts_ms: 0,
        }
    }

    #[test]
    fn reading_a_symbol_makes_it_wanted_until_idle() {
        let feed = PolledFeed::new("binance", 1_000, 60_000);
        assert!(feed.wanted(0).is_empty());
        assert_eq!(feed.book("BTC-USDT", 10, 5), None);
        assert_eq!(feed.book("nonsense", 10, 5), None, "not a symbol");
        assert_eq!(feed.wanted(20), ["BTC-USDT"]);
        assert_eq!(feed.wanted(60_011), Vec::<String>::new(), "idle: dropped");
    }

    #[test]
    fn a_book_is_served_until_it_is_stale() {
        let feed = PolledFeed::new("binance", 1_000, 60_000);
        feed.want("BTC-USDT", 0);
        let e = feed.missing("BTC-USDT", 0).expect("nothing yet");
        assert!(
            matches!(&e, ConnectorError::Unavailable(m) if m.contains("no binance book for BTC-USDT yet")),
            "{e}"
        );

        feed.update(book("BTC-USDT", dec!(90000)), 100);
        let got = feed.book("BTC-USDT", 1_100, 1).expect("fresh");
        assert_eq!((got.bids.len(), got.asks.len(), got.ts_ms), (1, 1, 100));
        assert_eq!(got.best_bid(), Some(dec!(90000)));
        assert!(feed.health(1_100).healthy());

        feed.failed("BTC-USDT", "HTTP 503");
        assert_eq!(
            feed.book("BTC-USDT", 1_101, 5),
            None,
            "stale: not traded on"
        );
        let e = feed.missing("BTC-USDT", 1_101).expect("stale");
        let text = e.to_string();
        assert!(
            text.contains("stale: 1001 ms old (limit 1000 ms); last error: HTTP 503"),
            "{text}"
        );
        let health = feed.health(1_101);
        assert_eq!(health.ages, [("BTC-USDT".to_owned(), Some(1_001))]);
        assert!(!health.healthy());

        feed.update(book("BTC-USDT", dec!(90001)), 1_200);
        assert!(feed.book("BTC-USDT", 1_300, 5).is_some(), "fresh again");
        assert_eq!(feed.missing("BTC-USDT", 1_300), None);
    }

    #[test]
    fn unlisted_symbols_are_refused_and_not_polled() {
        let feed = PolledFeed::new("kraken", 1_000, 60_000);
        feed.want("FOO-BAR", 0);
        feed.want("BTC-USD", 0);
        feed.unknown_symbol("FOO-BAR", "EQuery:Unknown asset pair");
        assert_eq!(feed.wanted(1), ["BTC-USD"]);
        let e = feed.missing("FOO-BAR", 1).expect("refused");
        assert!(
            matches!(e, ConnectorError::Rejected(m) if m.contains("kraken does not list FOO-BAR"))
        );
    }
}

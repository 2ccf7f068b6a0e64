//! `RandomWalkFeed`: a synthetic, deterministic market for paper trading.
//!
//! Time is cut into steps of `step_ms`; step `k = now_ms / step_ms`. Each symbol's price is
//! anchored at the first step the feed is asked about (at its start price) and then moves
//! `price_k = price_{k−1} × (1 + vol × r_k)`, with `r_k ∈ [−1, 1]` hashed from
//! `(seed, symbol, k)`. Every intermediate step is applied even when calls skip steps, so the
//! price at a step depends only on the seed, the anchor and the step, never on how often the
//! feed was polled. All arithmetic is integer or `Decimal`: no float, so runs replay exactly.

use super::feed::PriceFeed;
use crate::trading::types::{Level, OrderBook, split_symbol};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Volatility cap per step: at 50 % a step can at most halve the price, so it stays positive.
const MAX_VOL_BPS: u32 = 5_000;
/// Precision kept for the walking price between steps; keeps `Decimal` far from its 28 digits.
const WALK_DP: u32 = 12;

/// Deterministic random walk: same seed + same sequence of step indices → same prices.
#[derive(Debug)]
pub struct RandomWalkFeed {
    seed: u64,
    step_ms: i64,
    default_start: Decimal,
    starts: HashMap<String, Decimal>,
    /// Per-step volatility as a fraction.
    vol: Decimal,
    /// Bid/ask spread as a fraction of the price; also the gap between levels.
    spread: Decimal,
    level_qty: Decimal,
    price_dp: u32,
    /// Last step computed per symbol, so each call only walks forward from there.
    walks: Mutex<HashMap<String, Point>>,
}

#[derive(Debug, Clone, Copy)]
struct Point {
    step: i64,
    price: Decimal,
}

impl RandomWalkFeed {
    /// `vol_bps` is capped at 5000. Prices are rounded to `max(2, default_start's decimals)`
    /// places unless `with_price_dp` says otherwise.
    pub fn new(
        seed: u64,
        step_ms: i64,
        default_start: Decimal,
        vol_bps: u32,
        spread_bps: u32,
        level_qty: Decimal,
    ) -> Self {
        let bps = |v: u32| Decimal::from(v) / Decimal::from(10_000);
        Self {
            seed,
            step_ms: step_ms.max(1),
            default_start,
            starts: HashMap::new(),
            vol: bps(vol_bps.min(MAX_VOL_BPS)),
            spread: bps(spread_bps),
            level_qty,
            price_dp: default_start.scale().max(2),
            walks: Mutex::new(HashMap::new()),
        }
    }

    /// Start price for one symbol (others use `default_start`).
    pub fn with_start(mut self, symbol: &str, price: Decimal) -> Self {
        self.starts.insert(symbol.to_owned(), price);
        self
    }

    /// Decimal places of book prices (the tick is `10^-dp`).
    pub fn with_price_dp(mut self, dp: u32) -> Self {
        self.price_dp = dp;
        self
    }

    /// The walk's point at `step`, or the last one computed if `step` lies in its past (time
    /// going back must not rewrite history).
    fn advance(&self, symbol: &str, step: i64) -> Point {
        let mut walks = self.walks.lock().unwrap_or_else(PoisonError::into_inner);
        let start = self
            .starts
            .get(symbol)
            .copied()
            .unwrap_or(self.default_start);
        let point = walks
            .entry(symbol.to_owned())
            .or_insert(Point { step, price: start });
        let symbol_hash = fnv1a(symbol);
        while point.step < step {
            point.step += 1;
            let r = shock(self.seed, symbol_hash, point.step);
            point.price = (point.price * (Decimal::ONE + self.vol * r)).round_dp(WALK_DP);
        }
        *point
    }

    /// `depth` levels per side around `point.price`: bids rounded down and asks rounded up to the
    /// tick, spaced by the spread (at least one tick) so neither side repeats a price.
    fn build(&self, symbol: &str, point: Point, depth: usize) -> OrderBook {
        let dp = self.price_dp;
        let tick = Decimal::new(1, dp);
        let half = point.price * self.spread / Decimal::TWO;
        let gap = (point.price * self.spread).max(tick);
        let down = |p: Decimal| p.round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity);
        let up = |p: Decimal| p.round_dp_with_strategy(dp, RoundingStrategy::ToPositiveInfinity);
        // With no spread and a price on the tick both sides would meet: open a one-tick gap.
        let lift = if up(point.price + half) <= down(point.price - half) {
            tick
        } else {
            Decimal::ZERO
        };
        let mut bids = Vec::with_capacity(depth);
        let mut asks = Vec::with_capacity(depth);
        for i in 0..depth {
            let distance = gap * Decimal::from(i);
            // Deeper levels hold more, as on real books.
            let qty = self.level_qty * Decimal::from(i + 1);
            let bid = down(point.price - half - distance);
            if bid > Decimal::ZERO {
                bids.push(Level { price: bid, qty });
            }
            asks.push(Level {
                price: up(point.price + half + distance) + lift,
                qty,
            });
        }
        OrderBook {
            symbol: symbol.to_owned(),
            bids,
            asks,
            ts_ms: point.step.saturating_mul(self.step_ms),
        }
    }
}

impl PriceFeed for RandomWalkFeed {
    fn book(&self, symbol: &str, now_ms: i64, depth: usize) -> Option<OrderBook> {
        split_symbol(symbol)?;
        let point = self.advance(symbol, now_ms.div_euclid(self.step_ms));
        (point.price > Decimal::ZERO).then(|| self.build(symbol, point, depth))
    }
}

/// `r ∈ [−1, 1]` in steps of 10⁻⁶, a pure function of its inputs.
fn shock(seed: u64, symbol_hash: u64, step: i64) -> Decimal {
    // `as u64` keeps the bits of negative steps: only distinctness matters here.
    let h = splitmix64(seed ^ splitmix64(symbol_hash ^ splitmix64(step as u64)));
    let r = (h % 2_000_001) as i64 - 1_000_000;
    Decimal::new(r, 6)
}

/// The splitmix64 finaliser: cheap, well mixed, and identical on every platform.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a: a stable string hash (std's hasher makes no stability promise across releases).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn feed(seed: u64) -> RandomWalkFeed {
        RandomWalkFeed::new(seed, 1_000, dec!(100), 50, 10, dec!(0.5))
            .with_start("ETH-USDT", dec!(2000))
    }

    fn mid(feed: &RandomWalkFeed, t: i64) -> Decimal {
        feed.book("BTC-USDT", t, 3)
            .and_then(|b| b.mid())
            .expect("known symbol")
    }

    #[test]
    fn same_seed_same_prices_however_often_polled() {
        let (a, b) = (feed(7), feed(7));
        let polled: Vec<_> = (0..=20).map(|k| mid(&a, k * 1_000)).collect();
        assert_eq!(mid(&b, 0), polled[0]);
        assert_eq!(
            mid(&b, 20_000),
            polled[20],
            "skipping steps changes nothing"
        );
        assert!(polled.windows(2).any(|w| w[0] != w[1]), "the price moves");
    }

    #[test]
    fn another_seed_walks_elsewhere() {
        let (a, b) = (feed(7), feed(8));
        assert_eq!(mid(&a, 0), mid(&b, 0), "both start at the anchor");
        assert_ne!(mid(&a, 10_000), mid(&b, 10_000));
    }

    #[test]
    fn time_going_back_returns_the_cached_book() {
        let f = feed(1);
        let later = f.book("BTC-USDT", 5_000, 3).expect("known");
        assert_eq!(f.book("BTC-USDT", 1_000, 3), Some(later.clone()));
        assert_eq!(later.ts_ms, 5_000);
    }

    #[test]
    fn books_are_well_formed() {
        let f = feed(3).with_price_dp(1);
        for t in (0..50).map(|k| k * 1_000) {
            for symbol in ["BTC-USDT", "ETH-USDT"] {
                let b = f.book(symbol, t, 5).expect("known");
                assert_eq!((b.bids.len(), b.asks.len()), (5, 5));
                assert!(b.bids.windows(2).all(|w| w[0].price > w[1].price), "{b:?}");
                assert!(b.asks.windows(2).all(|w| w[0].price < w[1].price), "{b:?}");
                assert!(b.best_bid() < b.best_ask(), "{b:?}");
                assert!(b.bids.iter().chain(&b.asks).all(|l| l.price.scale() <= 1));
                assert!(
                    b.bids
                        .iter()
                        .all(|l| l.price > Decimal::ZERO && l.qty > Decimal::ZERO)
                );
            }
        }
        assert_eq!(f.book("nonsense", 0, 5), None);
    }

    #[test]
    fn zero_spread_still_leaves_a_tick() {
        let f = RandomWalkFeed::new(1, 1_000, dec!(100), 0, 0, dec!(1));
        let b = f.book("BTC-USDT", 0, 2).expect("known");
        assert_eq!(b.best_bid(), Some(dec!(100)));
        assert_eq!(b.best_ask(), Some(dec!(100.01)));
        assert!(b.bids[1].price < b.bids[0].price && b.asks[1].price > b.asks[0].price);
    }
}

//! Shared trading vocabulary: sides, order kinds, books, fees, intents, order reports.
//! Prices, quantities and money are `Decimal` everywhere: never a float.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// The stored and wire form (derived, so it cannot drift from `parse`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Strict: anything but a known form is `None` (a stored unknown value is an error).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// +1 for buys, -1 for sells: the sign a fill adds to a position.
    pub fn sign(self) -> Decimal {
        match self {
            Self::Buy => Decimal::ONE,
            Self::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum OrderKind {
    Market,
    Limit { price: Decimal },
}

/// Whether a fill added liquidity (maker) or took it (taker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    Maker,
    Taker,
}

/// Fee rates as fractions of notional (`0.001` = 0.1 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fees {
    pub maker: Decimal,
    pub taker: Decimal,
}

impl Fees {
    pub fn rate(self, liquidity: Liquidity) -> Decimal {
        match liquidity {
            Liquidity::Maker => self.maker,
            Liquidity::Taker => self.taker,
        }
    }
}

/// `BTC-USDT` → base `BTC`, quote `USDT`.
pub fn split_symbol(symbol: &str) -> Option<(&str, &str)> {
    let (base, quote) = symbol.split_once('-')?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    (ok(base) && ok(quote)).then_some((base, quote))
}

/// One price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub price: Decimal,
    pub qty: Decimal,
}

/// A snapshot of one symbol's book: bids best (highest) first, asks best (lowest) first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderBook {
    pub symbol: String,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub ts_ms: i64,
}

impl OrderBook {
    pub fn best_bid(&self) -> Option<Decimal> {
        self.bids.first().map(|l| l.price)
    }

    pub fn best_ask(&self) -> Option<Decimal> {
        self.asks.first().map(|l| l.price)
    }

    pub fn mid(&self) -> Option<Decimal> {
        Some((self.best_bid()? + self.best_ask()?) / Decimal::TWO)
    }

    /// The side a taker of `side` consumes: asks for a buy, bids for a sell.
    pub fn levels_for_taker(&self, side: Side) -> &[Level] {
        match side {
            Side::Buy => &self.asks,
            Side::Sell => &self.bids,
        }
    }
}

/// What a strategy wants to do; the risk gate decides whether it may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Connector (venue) name the order goes to.
    pub venue: String,
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub qty: Decimal,
    /// Only ever shrinks the position (allowed while Paused or past the daily loss limit).
    pub reduce_only: bool,
    /// Free text kept with the order (`grid:buy@100`, `arb:leg1`, …).
    pub tag: String,
}

/// Sent to a connector. `client_order_id` is ours, minted and recorded before sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub qty: Decimal,
}

/// One execution reported by a venue. `trade_id` is unique per venue (fills are
/// deduplicated on it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillReport {
    pub trade_id: String,
    pub client_order_id: String,
    pub qty: Decimal,
    pub price: Decimal,
    /// Fee valued in the quote asset (what PnL counts). Zero when `fee_valued` is false.
    pub fee: Decimal,
    /// The fee as charged: `fee_amount` of `fee_asset` (the quote asset, the base asset — a
    /// venue keeping part of what was bought — or a third one such as BNB).
    pub fee_amount: Decimal,
    pub fee_asset: String,
    /// False when the fee was charged in a third asset the venue had no price for: `fee` is 0
    /// and the fill is recorded and reported as unvalued, never silently free.
    #[serde(default = "valued")]
    pub fee_valued: bool,
    pub liquidity: Liquidity,
    pub ts_ms: i64,
}

fn valued() -> bool {
    true
}

/// A venue's view of one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReport {
    pub client_order_id: String,
    pub venue_order_id: String,
    pub status: super::order::OrderStatus,
    pub filled_qty: Decimal,
    pub fills: Vec<FillReport>,
    /// Why the venue rejected or expired it, if it did.
    pub reason: Option<String>,
}

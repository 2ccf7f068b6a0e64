//! `[trading.binance]`: the Binance Spot connector. Its mode (sandbox = Spot testnet, live =
//! real) and keys come from the integration setting `default/binance`, not from here.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BinanceSettings {
    /// Offer the `binance` connector at all.
    pub enabled: bool,
    /// Base URL used while the integration setting's mode is `sandbox`.
    pub testnet_url: String,
    /// Base URL used in `live` mode.
    pub live_url: String,
    /// `recvWindow` of signed requests, ms (Binance: at most 60000).
    pub recv_window_ms: u64,
    /// Upper bound for one HTTP call, ms. A timed-out order stays `pending_submit` and is
    /// looked up by its client id on the next tick.
    pub request_timeout_ms: u64,
    /// Request weight per minute the venue allows (`X-MBX-USED-WEIGHT-1M` counts towards it).
    pub weight_limit: u32,
    /// Share of `weight_limit` (percent) after which calls wait for the next minute.
    pub weight_slowdown_percent: u32,
    /// The longest such a wait may be, ms; past it a call is refused unsent ("busy": an
    /// order is rejected, never left with an unknown outcome). With `request_timeout_ms` it
    /// must stay under the engine's 10 s venue-call timeout.
    pub weight_wait_max_ms: u64,
    /// Symbol rules (`exchangeInfo`) are reloaded after this many seconds.
    pub rules_refresh_secs: u64,
    /// Fee rates as fractions of notional (Binance's base rate is 0.1 %). Used for PnL
    /// estimates; fills carry the fees actually charged.
    pub maker_fee: Decimal,
    pub taker_fee: Decimal,
}

impl Default for BinanceSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            testnet_url: "https://testnet.binance.vision".to_owned(),
            live_url: "https://api.binance.com".to_owned(),
            recv_window_ms: 5000,
            request_timeout_ms: 5000,
            weight_limit: 6000,
            weight_slowdown_percent: 80,
            weight_wait_max_ms: 3000,
            rules_refresh_secs: 3600,
            maker_fee: Decimal::new(1, 3),
            taker_fee: Decimal::new(1, 3),
        }
    }
}

//! Notification kinds and levels (per linked user and kind: `on | silent | off`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NotificationKind {
    /// A strategy's order filled (`TradeExecuted`).
    Trades,
    /// A strategy faulted, or came back stopped after a restart (`StrategyStateChanged`).
    Strategies,
    /// Arbitrage opportunities seen (throttled).
    Arbitrage,
    /// An import or a bank sync finished; large new transactions with category buttons.
    Transactions,
    /// A job failed for good.
    Jobs,
    /// The daily summary.
    Summary,
    /// The AI's monthly budget is used up (admins only, once a month).
    Ai,
    /// A real venue's balance differs from what our fills imply (`VenueBalanceMismatch`).
    Balances,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Level {
    On,
    /// Delivered without a sound.
    Silent,
    Off,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn default_level(self) -> Level {
        match self {
            Self::Arbitrage => Level::Silent,
            _ => Level::On,
        }
    }
}

impl Level {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The effective level for every kind, given the stored choices.
pub fn effective(stored: &[(String, String)]) -> Vec<(NotificationKind, Level)> {
    use strum::IntoEnumIterator;
    NotificationKind::iter()
        .map(|k| {
            let level = stored
                .iter()
                .find(|(kind, _)| kind == k.as_str())
                .and_then(|(_, l)| l.parse().ok())
                .unwrap_or_else(|| k.default_level());
            (k, level)
        })
        .collect()
}

//! The order state machine: `pending_submit → open → partially_filled → filled | cancelled |
//! rejected | expired`, as a pure transition check.

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
pub enum OrderStatus {
    /// Recorded by us, not (yet known to be) accepted by the venue.
    PendingSubmit,
    Open,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
    Expired,
}

impl OrderStatus {
    pub const ALL: [Self; 7] = [
        Self::PendingSubmit,
        Self::Open,
        Self::PartiallyFilled,
        Self::Filled,
        Self::Cancelled,
        Self::Rejected,
        Self::Expired,
    ];

    /// The stored and wire form (derived, so it cannot drift from `parse`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Strict: anything but a known form is `None` (a stored unknown value is an error).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// No transition leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal order transition {} → {}", from.as_str(), to.as_str())]
pub struct IllegalOrderTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// Checks `from → to`. Staying in `partially_filled` is legal (another partial fill); any other
/// self-transition is not, so a duplicate report is noticed rather than silently re-applied.
pub fn order_transition(
    from: OrderStatus,
    to: OrderStatus,
) -> Result<OrderStatus, IllegalOrderTransition> {
    use OrderStatus::*;
    let legal = match from {
        // A venue may fill (or reject) before we ever saw the order open.
        PendingSubmit => matches!(
            to,
            Open | PartiallyFilled | Filled | Cancelled | Rejected | Expired
        ),
        Open => matches!(
            to,
            PartiallyFilled | Filled | Cancelled | Expired | Rejected
        ),
        PartiallyFilled => matches!(to, PartiallyFilled | Filled | Cancelled | Expired),
        Filled | Cancelled | Rejected | Expired => false,
    };
    if legal {
        Ok(to)
    } else {
        Err(IllegalOrderTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn every_pair_is_decided_as_the_table_says() {
        let legal: &[(OrderStatus, OrderStatus)] = &[
            (PendingSubmit, Open),
            (PendingSubmit, PartiallyFilled),
            (PendingSubmit, Filled),
            (PendingSubmit, Cancelled),
            (PendingSubmit, Rejected),
            (PendingSubmit, Expired),
            (Open, PartiallyFilled),
            (Open, Filled),
            (Open, Cancelled),
            (Open, Expired),
            (Open, Rejected),
            (PartiallyFilled, PartiallyFilled),
            (PartiallyFilled, Filled),
            (PartiallyFilled, Cancelled),
            (PartiallyFilled, Expired),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(
                    order_transition(from, to).is_ok(),
                    expected,
                    "{} → {}",
                    from.as_str(),
                    to.as_str()
                );
            }
        }
    }

    #[test]
    fn terminal_states_are_final_and_names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            if s.is_terminal() {
                assert!(
                    OrderStatus::ALL
                        .iter()
                        .all(|t| order_transition(s, *t).is_err())
                );
            }
        }
        assert_eq!(OrderStatus::parse("done"), None);
    }
}

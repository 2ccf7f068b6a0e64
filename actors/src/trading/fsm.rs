//! The strategy lifecycle as a pure transition function.
//!
//! ```text
//!            deploy            pause
//!   Idle ───────────▶ Live ◀──────────▶ Paused
//!     │  stop          │ ▲    resume      │
//!     ▼                │ │ deploy         │ stop / fault
//!  Stopped ◀───────────┘ │ (restart)      ▼
//!     │      stop        └──────────── Faulted ──stop──▶ Stopped
//!     └── deploy ──▶ Live
//! ```
//! `Paused` takes no new entries but may reduce positions. `Faulted` is reached after repeated
//! errors and only leaves by an explicit `deploy` (restart) or `stop`.

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
pub enum StrategyState {
    Idle,
    Live,
    Paused,
    Stopped,
    Faulted,
}

impl StrategyState {
    pub const ALL: [Self; 5] = [
        Self::Idle,
        Self::Live,
        Self::Paused,
        Self::Stopped,
        Self::Faulted,
    ];

    /// The stored and wire form (derived, so it cannot drift from `parse`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Strict: anything but a known form is `None` (a stored unknown value is an error).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// States in which the strategy's actor runs (ticks, or at least manages its orders).
    pub fn is_running(self) -> bool {
        matches!(self, Self::Live | Self::Paused)
    }
}

/// What can be asked of a strategy (by a user, or by the runtime for `Fault`).
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
pub enum Command {
    Deploy,
    Pause,
    Resume,
    Stop,
    Fault,
}

impl Command {
    pub const ALL: [Self; 5] = [
        Self::Deploy,
        Self::Pause,
        Self::Resume,
        Self::Stop,
        Self::Fault,
    ];

    /// The stored and wire form (derived, so it cannot drift from `parse`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Strict: anything but a known form is `None` (a stored unknown value is an error).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// The state the command leads to when it is legal.
    pub fn target(self) -> StrategyState {
        match self {
            Self::Deploy | Self::Resume => StrategyState::Live,
            Self::Pause => StrategyState::Paused,
            Self::Stop => StrategyState::Stopped,
            Self::Fault => StrategyState::Faulted,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a strategy that is {}", command.as_str(), from.as_str())]
pub struct IllegalTransition {
    pub from: StrategyState,
    pub command: Command,
}

/// The transition table. Anything not listed is illegal, including re-entering the current
/// state (callers that want idempotency check `command.target() == from` first).
pub fn transition(
    from: StrategyState,
    command: Command,
) -> Result<StrategyState, IllegalTransition> {
    use Command as C;
    use StrategyState as S;
    let legal = matches!(
        (from, command),
        (S::Idle | S::Stopped | S::Faulted, C::Deploy)
            | (S::Live, C::Pause)
            | (S::Paused, C::Resume)
            | (S::Idle | S::Live | S::Paused | S::Faulted, C::Stop)
            | (S::Live | S::Paused, C::Fault)
    );
    if legal {
        Ok(command.target())
    } else {
        Err(IllegalTransition { from, command })
    }
}

/// Where a strategy found in `state` at boot goes: running strategies come back `Stopped`
/// (reason `restart`) unless the operator configured `resume`. `None` = leave it as it is.
pub fn after_restart(state: StrategyState, resume: bool) -> Option<StrategyState> {
    match state {
        StrategyState::Live | StrategyState::Paused if !resume => Some(StrategyState::Stopped),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command as C;
    use StrategyState as S;

    #[test]
    fn every_state_command_pair_matches_the_table() {
        let legal: &[(S, C, S)] = &[
            (S::Idle, C::Deploy, S::Live),
            (S::Stopped, C::Deploy, S::Live),
            (S::Faulted, C::Deploy, S::Live),
            (S::Live, C::Pause, S::Paused),
            (S::Paused, C::Resume, S::Live),
            (S::Idle, C::Stop, S::Stopped),
            (S::Live, C::Stop, S::Stopped),
            (S::Paused, C::Stop, S::Stopped),
            (S::Faulted, C::Stop, S::Stopped),
            (S::Live, C::Fault, S::Faulted),
            (S::Paused, C::Fault, S::Faulted),
        ];
        let mut checked = 0;
        for from in S::ALL {
            for cmd in C::ALL {
                checked += 1;
                let expected = legal.iter().find(|(f, c, _)| *f == from && *c == cmd);
                match (transition(from, cmd), expected) {
                    (Ok(to), Some((_, _, want))) => assert_eq!(to, *want),
                    (Err(e), None) => {
                        assert_eq!((e.from, e.command), (from, cmd));
                        assert!(e.to_string().starts_with("cannot "), "{e}");
                    }
                    (got, want) => panic!("{from:?} + {cmd:?}: got {got:?}, table says {want:?}"),
                }
            }
        }
        assert_eq!(checked, 25);
    }

    #[test]
    fn running_strategies_stop_on_restart_unless_resume() {
        assert_eq!(after_restart(S::Live, false), Some(S::Stopped));
        assert_eq!(after_restart(S::Paused, false), Some(S::Stopped));
        assert_eq!(after_restart(S::Live, true), None);
        for s in [S::Idle, S::Stopped, S::Faulted] {
            assert_eq!(after_restart(s, false), None);
            assert_eq!(after_restart(s, true), None);
        }
    }

    #[test]
    fn names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        for c in C::ALL {
            assert_eq!(C::parse(c.as_str()), Some(c));
        }
        assert_eq!(S::parse("running"), None);
    }
}

#[cfg(test)]
mod string_forms {
    use super::*;
    use crate::finance::TxStatus;
    use crate::finance::parse::Format;
    use crate::trading::order::OrderStatus;
    use crate::trading::types::Side;

    /// `as_str`/`parse` round-trip, agree with the serde names, and refuse anything else.
    fn check<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + serde::Serialize,
        T: StringForm,
    {
        for v in all {
            assert_eq!(T::from_form(v.form()), Some(*v));
            assert_eq!(serde_json::to_value(v).ok(), Some(v.form().into()));
            assert_eq!(T::from_form(&v.form().to_uppercase()), None);
        }
        assert_eq!(T::from_form(""), None);
        assert_eq!(T::from_form("garbage"), None);
    }

    trait StringForm: Sized {
        fn form(self) -> &'static str;
        fn from_form(s: &str) -> Option<Self>;
    }

    macro_rules! forms {
        ($($t:ty),+) => {$(
            impl StringForm for $t {
                fn form(self) -> &'static str { self.as_str() }
                fn from_form(s: &str) -> Option<Self> { <$t>::parse(s) }
            }
        )+};
    }
    forms!(StrategyState, Command, OrderStatus, Side, TxStatus, Format);

    #[test]
    fn every_enum_string_form_is_strict_and_matches_serde() {
        check(&StrategyState::ALL);
        check(&Command::ALL);
        check(&OrderStatus::ALL);
        check(&[Side::Buy, Side::Sell]);
        check(&[TxStatus::Pending, TxStatus::Booked]);
        check(&[Format::Csv, Format::Ofx, Format::Camt053, Format::Norma43]);
        assert_eq!(Format::Camt053.as_str(), "camt053");
        assert_eq!(OrderStatus::PendingSubmit.as_str(), "pending_submit");
    }
}

//! What Binance tells us about our standing, shared by every call to the venue (and kept
//! across key changes): the clock offset, the request weight used this minute, a 429 pause and
//! a 418 ban. Decisions are pure functions of this state and the time, unit-tested below.

use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Limits {
    /// Server time minus local time, ms; applied to every `timestamp`.
    pub offset_ms: i64,
    pub synced: bool,
    /// `X-MBX-USED-WEIGHT-1M` of the last response and the minute it was seen in.
    pub weight_used: u32,
    pub weight_minute: i64,
    /// A 429's `Retry-After`: no call at all before this instant.
    pub paused_until: Option<Instant>,
    /// A 418: banned until this instant, with the venue's reason.
    pub banned: Option<(Instant, String)>,
    /// Orders whose placement had an unknown outcome, by client id, with when it was sent.
    /// Until its `recvWindow` has passed such a request can still arrive and execute, so "no
    /// such order" does not yet mean "never will be".
    pub in_flight: std::collections::HashMap<String, Instant>,
}

/// What a call must do before it is sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// Wait this long, then go (the weight budget refills at the next minute).
    Wait(Duration),
    /// Do not send: paused by a 429 for this much longer.
    Paused(Duration),
    /// Do not send: banned (418).
    Banned(String),
}

impl Limits {
    /// `server_now_ms`: local time plus the offset. `slowdown_at`: the weight after which we
    /// wait for the next minute rather than run into a 429.
    pub fn gate(&mut self, now: Instant, server_now_ms: i64, slowdown_at: u32) -> Gate {
        if let Some((until, why)) = &self.banned {
            if now < *until {
                return Gate::Banned(why.clone());
            }
            self.banned = None;
        }
        if let Some(until) = self.paused_until {
            if now < until {
                return Gate::Paused(until - now);
            }
            self.paused_until = None;
        }
        let minute = server_now_ms.div_euclid(60_000);
        if minute != self.weight_minute {
            // Binance's weight window is the calendar minute: a new one starts empty.
            self.weight_minute = minute;
            self.weight_used = 0;
        }
        if self.weight_used >= slowdown_at {
            let into = u64::try_from(server_now_ms.rem_euclid(60_000)).unwrap_or(0);
            return Gate::Wait(Duration::from_millis(60_000 - into));
        }
        Gate::Go
    }

    pub fn record_weight(&mut self, used: u32, server_now_ms: i64) {
        self.weight_minute = server_now_ms.div_euclid(60_000);
        self.weight_used = used;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_pause_and_ban() {
        let t0 = Instant::now();
        let mut l = Limits::default();
        assert_eq!(l.gate(t0, 120_000, 4800), Gate::Go);
        l.record_weight(4800, 120_500);
        // At the slowdown mark: wait for the rest of the minute…
        assert_eq!(
            l.gate(t0, 130_000, 4800),
            Gate::Wait(Duration::from_millis(50_000))
        );
        // …and the next minute starts empty.
        assert_eq!(l.gate(t0, 180_000, 4800), Gate::Go);
        l.paused_until = Some(t0 + Duration::from_secs(3));
        assert_eq!(
            l.gate(t0 + Duration::from_secs(1), 181_000, 4800),
            Gate::Paused(Duration::from_secs(2))
        );
        assert_eq!(l.gate(t0 + Duration::from_secs(3), 183_000, 4800), Gate::Go);
        l.banned = Some((t0 + Duration::from_secs(120), "IP banned".into()));
        assert_eq!(
            l.gate(t0 + Duration::from_secs(5), 185_000, 4800),
            Gate::Banned("IP banned".into())
        );
        assert_eq!(
            l.gate(t0 + Duration::from_secs(120), 300_000, 4800),
            Gate::Go
        );
    }
}

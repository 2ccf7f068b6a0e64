//! The long-polling policy, as pure functions: how long to wait before the next `getUpdates`
//! after each kind of outcome, and which updates are too old to act on.
//!
//! - Updates: poll again at once (the offset confirms them).
//! - Nothing: a server that ignores `timeout` answers at once; we still wait so that empty
//!   polls are at least `min_empty_interval` apart (never a tight loop).
//! - Network errors: exponential backoff with jitter.
//! - 409: another poller or a webhook owns the token. Each new poll kicks the other one off,
//!   so retrying fast makes it worse: wait at least `conflict_backoff`.
//! - 429: wait what Telegram says (`retry_after`).

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct PollConfig {
    pub min_empty_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub conflict_backoff: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            min_empty_interval: Duration::from_millis(250),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            conflict_backoff: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    Updates,
    /// No updates; the call took this long.
    Empty(Duration),
    Network,
    Conflict,
    RetryAfter(Duration),
    /// Any other API error (401 bad token, 404, 5xx): backed off like a network error.
    Api,
}

#[derive(Debug)]
pub struct PollPolicy {
    config: PollConfig,
    failures: u32,
}

impl PollPolicy {
    pub fn new(config: PollConfig) -> Self {
        Self {
            config,
            failures: 0,
        }
    }

    /// The pause before the next poll. `jitter` in `[0, 1)` spreads retries (0.5x to 1x of
    /// the backoff); callers pass a random number, tests a fixed one.
    pub fn next_delay(&mut self, outcome: PollOutcome, jitter: f64) -> Duration {
        let c = self.config;
        match outcome {
            PollOutcome::Updates => {
                self.failures = 0;
                Duration::ZERO
            }
            PollOutcome::Empty(took) => {
                self.failures = 0;
                // A full pause, not the remainder: measured from the answer, two polls are
                // then at least this far apart wherever the latency fell.
                if took < c.min_empty_interval {
                    c.min_empty_interval
                } else {
                    Duration::ZERO
                }
            }
            PollOutcome::RetryAfter(d) => d.max(c.min_empty_interval),
            PollOutcome::Network | PollOutcome::Api | PollOutcome::Conflict => {
                let exp = c
                    .backoff_initial
                    .saturating_mul(2u32.saturating_pow(self.failures.min(16)))
                    .min(c.backoff_max);
                self.failures = self.failures.saturating_add(1);
                let jittered = exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
                if outcome == PollOutcome::Conflict {
                    jittered.max(c.conflict_backoff)
                } else {
                    jittered.max(c.min_empty_interval)
                }
            }
        }
    }
}

/// Whether an update sent at `date` (Unix seconds) is too old to act on at `now`. Stale
/// updates are confirmed (the offset moves past them) but never executed, so a restart
/// does not replay an old `/stop`.
pub fn is_stale(date: i64, now: i64, max_age: Duration) -> bool {
    let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    // A date of 0 (an inaccessible message) says nothing about age.
    date > 0 && now.saturating_sub(date) > max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_answers_are_spaced_even_when_the_server_ignores_timeout() {
        let mut p = PollPolicy::new(PollConfig::default());
        assert_eq!(
            p.next_delay(PollOutcome::Empty(Duration::ZERO), 0.0),
            Duration::from_millis(250)
        );
        assert_eq!(
            p.next_delay(PollOutcome::Empty(Duration::from_secs(50)), 0.0),
            Duration::ZERO,
            "a real long poll needs no extra pause"
        );
        assert_eq!(p.next_delay(PollOutcome::Updates, 0.0), Duration::ZERO);
    }

    #[test]
    fn network_errors_back_off_exponentially_with_jitter_and_reset() {
        let mut p = PollPolicy::new(PollConfig::default());
        let d: Vec<Duration> = (0..8)
            .map(|_| p.next_delay(PollOutcome::Network, 0.999_999))
            .collect();
        assert!(d.windows(2).all(|w| w[1] >= w[0]), "{d:?}");
        assert!(d[0] < Duration::from_millis(1100));
        assert!(d[7] <= Duration::from_secs(60));
        let low = PollPolicy::new(PollConfig::default()).next_delay(PollOutcome::Network, 0.0);
        assert_eq!(low, Duration::from_millis(500), "jitter halves at most");
        p.next_delay(PollOutcome::Updates, 0.0);
        assert!(p.next_delay(PollOutcome::Network, 0.0) < Duration::from_secs(1));
    }

    #[test]
    fn conflicts_wait_at_least_thirty_seconds() {
        let mut p = PollPolicy::new(PollConfig::default());
        for _ in 0..3 {
            assert!(p.next_delay(PollOutcome::Conflict, 0.0) >= Duration::from_secs(30));
        }
    }

    #[test]
    fn too_many_requests_waits_retry_after() {
        let mut p = PollPolicy::new(PollConfig::default());
        assert_eq!(
            p.next_delay(PollOutcome::RetryAfter(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn stale_updates() {
        let max = Duration::from_secs(120);
        assert!(is_stale(1_000, 1_121, max));
        assert!(!is_stale(1_000, 1_120, max));
        assert!(!is_stale(0, 1_000_000, max));
    }
}

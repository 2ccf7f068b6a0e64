//! Circuit breaker, one per provider: after `threshold` consecutive unhealthy failures it
//! opens for `cool_down`, then lets one probe through (half-open); the probe's success closes
//! it, its failure opens it again. Time is passed in, so the state machine is pure.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug, Clone)]
pub struct Breaker {
    pub threshold: u32,
    pub cool_down: Duration,
    state: BreakerState,
}

impl Breaker {
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// `open`, `half_open` or `closed`, for readiness and metrics.
    pub fn label(&self, now: Instant) -> &'static str {
        match self.state {
            BreakerState::Open { until } if now < until => "open",
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => "half_open",
            BreakerState::Closed { .. } => "closed",
        }
    }

    /// May a call go out now? In half-open state only one probe at a time.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now < until => false,
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: false } => {
                self.state = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::HalfOpen { probing: true } => false,
        }
    }

    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// A failure that says nothing about the provider's health (quota, our bad request)
    /// still ends a probe: the provider answered, so close.
    pub fn on_neutral(&mut self) {
        if let BreakerState::HalfOpen { .. } = self.state {
            self.state = BreakerState::Closed { failures: 0 };
        }
    }

    pub fn on_failure(&mut self, now: Instant) {
        self.state = match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            _ => BreakerState::Open {
                until: now + self.cool_down,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_half_opens_and_closes() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(b.allow(t0));
            b.on_failure(t0);
        }
        assert_eq!(b.label(t0), "closed");
        assert!(b.allow(t0));
        b.on_failure(t0);
        assert_eq!(b.label(t0), "open");
        assert!(!b.allow(t0 + Duration::from_secs(9)));
        // Cool-down over: exactly one probe.
        let t1 = t0 + Duration::from_secs(10);
        assert!(b.allow(t1));
        assert!(!b.allow(t1));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        assert!(b.allow(t1));
    }

    #[test]
    fn failed_probe_reopens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, Duration::from_secs(5));
        b.on_failure(t0);
        let t1 = t0 + Duration::from_secs(5);
        assert!(b.allow(t1));
        b.on_failure(t1);
        assert!(!b.allow(t1 + Duration::from_secs(4)));
        assert!(b.allow(t1 + Duration::from_secs(5)));
    }

    #[test]
    fn success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(5));
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        assert_eq!(b.label(t0), "closed");
    }
}

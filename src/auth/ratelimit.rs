//! Rate limits: per client IP, per credential, and a stricter one for login attempts.
//! GCRA from `governor`: a bucket of `n` per minute that refills smoothly.

use crate::config::RateLimitSettings;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<String>>,
    per_credential: Option<DefaultKeyedRateLimiter<String>>,
    login: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

impl Limits {
    pub fn new(s: &RateLimitSettings) -> Self {
        Self {
            per_ip: limiter(s.per_ip_per_minute),
            per_credential: limiter(s.per_credential_per_minute),
            login: limiter(s.login_per_minute),
            clock: DefaultClock::default(),
        }
    }

    fn check(
        &self,
        limiter: Option<&DefaultKeyedRateLimiter<String>>,
        key: &str,
    ) -> Result<(), Duration> {
        match limiter {
            None => Ok(()),
            Some(l) => l
                .check_key(&key.to_owned())
                .map_err(|not_until| not_until.wait_time_from(self.clock.now())),
        }
    }

    /// `Err(wait)` when over the limit.
    pub fn check_ip(&self, ip: &str) -> Result<(), Duration> {
        self.check(self.per_ip.as_ref(), ip)
    }

    pub fn check_credential(&self, key: &str) -> Result<(), Duration> {
        self.check(self.per_credential.as_ref(), key)
    }

    pub fn check_login(&self, ip: &str) -> Result<(), Duration> {
        self.check(self.login.as_ref(), ip)
    }

    /// Forgets idle keys so memory stays flat (called periodically).
    pub fn housekeep(&self) {
        for l in [&self.per_ip, &self.per_credential, &self.login]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

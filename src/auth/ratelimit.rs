//! Rate limits: per client IP (anonymous requests and failed credentials), per credential
//! (authenticated requests), per IP for probes (`/health/*`, `/metrics`), and a stricter one
//! for login attempts. GCRA from `governor`: a bucket of `n` per minute that refills smoothly.
//! The guard middleware (`api/guard.rs`) decides which bucket a request is charged to.

use crate::config::RateLimitSettings;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<String>>,
    per_credential: Option<DefaultKeyedRateLimiter<String>>,
    login: Option<DefaultKeyedRateLimiter<String>>,
    probes: Option<DefaultKeyedRateLimiter<String>>,
    /// IPs whose per-IP bucket ran dry, until when: their credentials are not even looked up
    /// (a flood of made-up API keys would otherwise cost one database lookup each).
    blocked: Mutex<HashMap<String, Instant>>,
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
            probes: limiter(s.probes_per_ip_per_minute),
            blocked: Mutex::default(),
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
        self.check(self.per_ip.as_ref(), ip).inspect_err(|wait| {
            self.blocked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ip.to_owned(), Instant::now() + *wait);
        })
    }

    /// `Some(wait)` while the IP's last per-IP check was refused and its wait is not over.
    pub fn ip_blocked(&self, ip: &str) -> Option<Duration> {
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        let until = *blocked.get(ip)?;
        let now = Instant::now();
        if until > now {
            Some(until - now)
        } else {
            blocked.remove(ip);
            None
        }
    }

    pub fn check_probe(&self, ip: &str) -> Result<(), Duration> {
        self.check(self.probes.as_ref(), ip)
    }

    pub fn check_credential(&self, key: &str) -> Result<(), Duration> {
        self.check(self.per_credential.as_ref(), key)
    }

    pub fn check_login(&self, ip: &str) -> Result<(), Duration> {
        self.check(self.login.as_ref(), ip)
    }

    /// Forgets idle keys so memory stays flat (called periodically).
    pub fn housekeep(&self) {
        for l in [
            &self.per_ip,
            &self.per_credential,
            &self.login,
            &self.probes,
        ]
        .into_iter()
        .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        blocked.retain(|_, until| *until > now);
        blocked.shrink_to_fit();
    }
}

//! Retry policy: full-jitter exponential backoff, a provider's `retry-after` honoured (it
//! knows when capacity returns), quota/billing/auth/bad-request never retried.

use super::provider::LlmError;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub base: Duration,
    pub max_delay: Duration,
    /// A `retry-after` longer than this is not waited for: the call fails now (a request
    /// handler should not hang for minutes; the next call will try again).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// `attempt` counts failures so far (1 after the first failed call); `jitter` is a
    /// uniform sample in `[0, 1)` (passed in so the policy is a pure function).
    pub fn decide(&self, attempt: u32, error: &LlmError, jitter: f64) -> RetryDecision {
        if !error.retryable() || attempt > self.max_retries {
            return RetryDecision::GiveUp;
        }
        if let Some(hint) = error.retry_after() {
            return if hint <= self.max_retry_after {
                RetryDecision::RetryAfter(hint)
            } else {
                RetryDecision::GiveUp
            };
        }
        let exp = 2u32.saturating_pow(attempt.saturating_sub(1));
        let cap = self.base.saturating_mul(exp).min(self.max_delay);
        RetryDecision::RetryAfter(cap.mul_f64(jitter.clamp(0.0, 1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(5),
        }
    }

    #[test]
    fn quota_auth_and_bad_request_are_never_retried() {
        for e in [
            LlmError::Quota("insufficient_quota".into()),
            LlmError::Auth("401".into()),
            LlmError::BadRequest("400".into()),
            LlmError::Malformed("x".into()),
        ] {
            assert_eq!(p().decide(1, &e, 0.5), RetryDecision::GiveUp, "{e:?}");
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let e = LlmError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            p().decide(1, &e, 0.0),
            RetryDecision::RetryAfter(Duration::from_secs(2))
        );
        let long = LlmError::Overloaded {
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(p().decide(1, &long, 0.0), RetryDecision::GiveUp);
    }

    #[test]
    fn jittered_exponential_within_cap_and_bounded_count() {
        let e = LlmError::Server {
            status: 500,
            retry_after: None,
        };
        assert_eq!(
            p().decide(1, &e, 1.0),
            RetryDecision::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(
            p().decide(2, &e, 1.0),
            RetryDecision::RetryAfter(Duration::from_millis(200))
        );
        assert_eq!(
            p().decide(3, &e, 1.0),
            RetryDecision::RetryAfter(Duration::from_millis(250))
        );
        assert_eq!(
            p().decide(3, &e, 0.5),
            RetryDecision::RetryAfter(Duration::from_millis(125))
        );
        assert_eq!(p().decide(4, &e, 1.0), RetryDecision::GiveUp);
        assert_eq!(
            p().decide(1, &LlmError::Timeout, 0.0),
            RetryDecision::RetryAfter(Duration::ZERO)
        );
    }
}

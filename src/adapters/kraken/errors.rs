//! Kraken's errors. They come in HTTP 200 bodies (`{"error":["EOrder:Insufficient funds"],
//! "result":{}}`): a non-empty `error` array is a failure, whatever the status. Each message
//! is `<severity?><category>:<message>`; what to do depends on it:
//!
//! | Kraken | here | meaning for the caller |
//! |---|---|---|
//! | `EOrder:*` (funds, minimums, …), `EGeneral:Invalid arguments*`, `EQuery:*` | `Rejected` | the venue refused; retrying will not help |
//! | `EAPI:Invalid nonce` | `InvalidNonce` | retry once with a new nonce |
//! | `EAPI:Rate limit exceeded`, `EOrder:Rate limit exceeded`, `EGeneral:Temporary lockout`, `EGeneral:Too many requests`, `EService:Throttled:<unix time>` | `RateLimited` | pause calls to the venue |
//! | `EService:Unavailable`, `EService:Busy`, `EService:Deadline elapsed`, 5xx, no answer | `UnknownOutcome` | an order may or may not exist: ask by client id |
//! | `EAPI:Invalid key`, `EAPI:Invalid signature`, `EGeneral:Permission denied` | `Auth` | fix the keys |

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KrakenError {
    #[error("rejected by kraken: {0}")]
    Rejected(String),
    #[error("kraken: {0}")]
    InvalidNonce(String),
    #[error("kraken rate limit: {0}")]
    RateLimited(String),
    /// The request may or may not have taken effect.
    #[error("kraken outcome unknown: {0}")]
    UnknownOutcome(String),
    #[error("kraken refused our credentials: {0}")]
    Auth(String),
    /// Nothing was done (the request never left, or the answer was not Kraken's JSON).
    #[error("kraken unavailable: {0}")]
    Unavailable(String),
}

impl KrakenError {
    /// Classifies the `error` array of a body (non-empty).
    pub fn from_messages(errors: &[String]) -> Self {
        let text = errors.join("; ");
        let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
        if has("EAPI:Invalid nonce") {
            Self::InvalidNonce(text)
        } else if has("Rate limit exceeded")
            || has("EGeneral:Temporary lockout")
            || has("EGeneral:Too many requests")
            // The trading engine refused the request (too many at once) before acting on it;
            // the time it gives is when to ask again. Checked before `EService:` below, which
            // would make an AddOrder an unknown outcome and send more lookups into the limit.
            || has("EService:Throttled")
        {
            Self::RateLimited(text)
        } else if has("EService:") || has("EGeneral:Internal error") {
            Self::UnknownOutcome(text)
        } else if has("EAPI:Invalid key")
            || has("EAPI:Invalid signature")
            || has("EGeneral:Permission denied")
            || has("EAPI:Bad request")
        {
            Self::Auth(text)
        } else {
            Self::Rejected(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(e: &str) -> KrakenError {
        KrakenError::from_messages(&[e.to_owned()])
    }

    #[test]
    fn documented_errors_are_classified() {
        assert!(matches!(
            classify("EOrder:Insufficient funds"),
            KrakenError::Rejected(_)
        ));
        assert!(matches!(
            classify("EOrder:Order minimum not met"),
            KrakenError::Rejected(_)
        ));
        assert!(matches!(
            classify("EAPI:Invalid nonce"),
            KrakenError::InvalidNonce(_)
        ));
        assert!(matches!(
            classify("EAPI:Rate limit exceeded"),
            KrakenError::RateLimited(_)
        ));
        assert!(matches!(
            classify("EGeneral:Temporary lockout"),
            KrakenError::RateLimited(_)
        ));
        // Was a plain rejection: the strategies kept asking (and counting against the limit).
        assert!(matches!(
            classify("EGeneral:Too many requests"),
            KrakenError::RateLimited(_)
        ));
        assert!(matches!(
            classify("EService:Throttled:1764671200"),
            KrakenError::RateLimited(_)
        ));
        assert!(matches!(
            classify("EService:Unavailable"),
            KrakenError::UnknownOutcome(_)
        ));
        assert!(matches!(
            classify("EService:Busy"),
            KrakenError::UnknownOutcome(_)
        ));
        assert!(matches!(
            classify("EAPI:Invalid signature"),
            KrakenError::Auth(_)
        ));
        assert!(matches!(
            classify("EQuery:Unknown asset pair"),
            KrakenError::Rejected(_)
        ));
    }
}

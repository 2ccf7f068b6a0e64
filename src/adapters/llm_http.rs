//! What the two LLM adapters share: the API key source, `retry-after` parsing and the
//! mapping of HTTP failures onto [`LlmError`] (which decides retry and breaker behaviour).

use crate::db::DbHandle;
use actors::ai::LlmError;
use reqwest::header::HeaderMap;
use secrecy::SecretString;
use std::time::Duration;

/// Where the API key comes from: `ai.api_key` (or `APP__AI__API_KEY`) if set, else the
/// integration secret `default/<provider>` `api_key`, read on each call so a key changed
/// through the settings API applies without a restart. `None` for a local server.
#[derive(Clone)]
pub struct KeySource {
    pub configured: Option<SecretString>,
    pub db: DbHandle,
    pub cipher: Option<std::sync::Arc<crate::crypto::Cipher>>,
    pub provider: &'static str,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

pub const ENVIRONMENT: &str = "default";
pub const SECRET: &str = "api_key";

impl KeySource {
    pub async fn get(&self) -> Result<Option<SecretString>, LlmError> {
        if let Some(k) = &self.configured {
            return Ok(Some(k.clone()));
        }
        let (Some(db), Some(cipher)) = (self.db.get(), self.cipher.as_ref()) else {
            return Ok(None);
        };
        crate::db::integrations::secret(&db, cipher, ENVIRONMENT, self.provider, SECRET)
            .await
            .map_err(|e| LlmError::Transport(format!("reading the {} key: {e}", self.provider)))
    }
}

/// `retry-after-ms` (OpenAI) or `retry-after` in seconds (a date form is ignored).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    get("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// Quota, billing and spend-cap codes: waiting does not help.
fn is_quota(code: &str, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    matches!(
        code,
        "insufficient_quota"
            | "billing_hard_limit_reached"
            | "credit_balance_exhausted"
            | "billing_error"
    ) || m.contains("spend limit")
        || m.contains("credit balance")
        || m.contains("exceeded your current quota")
}

/// Maps a non-2xx answer. `code` is OpenAI's `error.code` (or `type`) / Anthropic's
/// `error.type`.
pub fn classify(status: u16, code: &str, message: &str, headers: &HeaderMap) -> LlmError {
    let retry_after = retry_after(headers);
    let detail = format!("{status} {code}: {message}");
    match status {
        402 => LlmError::Quota(detail),
        429 if is_quota(code, message) => LlmError::Quota(detail),
        429 => LlmError::RateLimited { retry_after },
        401 | 403 => LlmError::Auth(detail),
        503 | 529 => LlmError::Overloaded { retry_after },
        500..=599 => LlmError::Server {
            status,
            retry_after,
        },
        _ => LlmError::BadRequest(detail),
    }
}

pub fn transport(e: &reqwest::Error) -> LlmError {
    if e.is_timeout() {
        LlmError::Timeout
    } else {
        // The URL may carry a query with secrets on some gateways: leave it out.
        LlmError::Transport(strip(e))
    }
}

fn strip(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<provider>");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_limit_versus_quota() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(
            classify(429, "rate_limit_exceeded", "slow down", &h),
            LlmError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            classify(
                429,
                "insufficient_quota",
                "You exceeded your current quota",
                &h
            ),
            LlmError::Quota(_)
        ));
        assert!(matches!(
            classify(402, "billing_error", "x", &HeaderMap::new()),
            LlmError::Quota(_)
        ));
        assert_eq!(
            classify(529, "overloaded_error", "x", &HeaderMap::new()),
            LlmError::Overloaded { retry_after: None }
        );
        assert!(matches!(
            classify(401, "authentication_error", "x", &h),
            LlmError::Auth(_)
        ));
        assert!(matches!(
            classify(400, "invalid_request_error", "x", &h),
            LlmError::BadRequest(_)
        ));
        let mut ms = HeaderMap::new();
        ms.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&ms), Some(Duration::from_millis(250)));
    }
}

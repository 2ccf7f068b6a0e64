//! Trace ids: the request id minted at the HTTP edge travels in every actor message it causes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies one causal chain (an HTTP request, a scheduled run, a boot step) across
/// actors, jobs and audit rows. It is the `x-request-id` a client sees.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TraceId(String);

impl TraceId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// Work the service starts by itself (boot, timers) rather than on someone's request.
    pub fn system() -> Self {
        Self("system".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

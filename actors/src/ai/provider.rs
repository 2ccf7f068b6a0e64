//! The `LlmProvider` port: one chat call to a model, in a provider-neutral shape. The
//! adapters (OpenAI-compatible, Anthropic Messages) live in the root crate and map their wire
//! formats onto these types; everything above the port (retries, breaker, budget, cache,
//! validation) is provider-independent.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// A JSON schema the answer must satisfy. OpenAI receives it as `response_format`
/// `json_schema` (strict); Anthropic as a forced tool whose `input_schema` it is.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    pub name: String,
    pub schema: Value,
}

/// A function the model may call (the ask loop's read-only tools).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments object.
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's call id, echoed back with the result.
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    User(String),
    Assistant {
        text: Option<String>,
        tool_calls: Vec<ToolCall>,
    },
    ToolResult {
        call_id: String,
        content: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<ChatMessage>,
    /// Set when the caller expects data: the adapter forces a schema-shaped answer.
    pub schema: Option<OutputSchema>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What the model said.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    /// A structured answer (parsed, not yet validated against the schema).
    Json(Value),
    /// The structured answer did not even parse as JSON (counts as invalid: repair).
    Unparsable(String),
    ToolCalls {
        text: Option<String>,
        calls: Vec<ToolCall>,
    },
    /// The model declined (OpenAI `message.refusal`, Anthropic `stop_reason: refusal`).
    Refusal(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: Content,
    pub usage: Usage,
    pub request_id: Option<String>,
}

/// Why a call failed, classified for the retry policy and the breaker.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// 429 rate limit (OpenAI `rate_limit_exceeded`, Anthropic `rate_limit_error`).
    #[error("rate limited")]
    RateLimited { retry_after: Option<Duration> },
    /// Anthropic 529 `overloaded_error` or a 503.
    #[error("provider overloaded")]
    Overloaded { retry_after: Option<Duration> },
    /// Other 5xx.
    #[error("provider error {status}")]
    Server {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("timed out")]
    Timeout,
    #[error("transport: {0}")]
    Transport(String),
    /// Quota, billing or spend cap (OpenAI `insufficient_quota`, Anthropic 402
    /// `billing_error`): never retried, waiting does not help.
    #[error("quota or billing: {0}")]
    Quota(String),
    /// 401/403: the key is wrong or lacks permission.
    #[error("authentication: {0}")]
    Auth(String),
    /// 400/404/413 and the like: our request is wrong; retrying sends it again.
    #[error("rejected request: {0}")]
    BadRequest(String),
    /// A 2xx whose body we could not read.
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl LlmError {
    /// Worth another attempt (after the hinted delay, if any)?
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Overloaded { .. }
                | Self::Server { .. }
                | Self::Timeout
                | Self::Transport(_)
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after }
            | Self::Overloaded { retry_after }
            | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Does this failure say the provider is unhealthy (counts toward opening the breaker)?
    /// Our own bad requests and quota do not; a rate limit does not either (the provider is
    /// up, we are just fast).
    pub fn trips_breaker(&self) -> bool {
        matches!(
            self,
            Self::Overloaded { .. } | Self::Server { .. } | Self::Timeout | Self::Transport(_)
        )
    }

    /// Stable outcome label for metrics and `llm_calls.outcome`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded { .. } => "overloaded",
            Self::Server { .. } => "server_error",
            Self::Timeout => "timeout",
            Self::Transport(_) => "transport_error",
            Self::Quota(_) => "quota",
            Self::Auth(_) => "auth_error",
            Self::BadRequest(_) => "bad_request",
            Self::Malformed(_) => "malformed",
        }
    }
}

#[async_trait::async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    /// `openai` or `anthropic`: the `provider` label.
    fn name(&self) -> &'static str;
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError>;
}

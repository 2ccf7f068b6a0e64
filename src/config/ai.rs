//! `[ai]`: the model provider, its limits and prices.

use super::Secret;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AiProvider {
    /// No AI: the AI endpoints answer 503 `ai_not_configured`; categorization stops at the
    /// local model.
    None,
    /// Any OpenAI-compatible Chat Completions server: OpenAI, Ollama, llama.cpp, vLLM, LM Studio.
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

// By hand: the `config` crate's enum errors do not list the allowed values.
impl<'de> Deserialize<'de> for AiProvider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        match value.to_ascii_lowercase().as_str() {
            "none" | "" => Ok(Self::None),
            "openai" => Ok(Self::Openai),
            "anthropic" => Ok(Self::Anthropic),
            _ => Err(serde::de::Error::custom(format!(
                "unknown value `{value}`, expected `none`, `openai` or `anthropic`"
            ))),
        }
    }
}

impl AiProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

/// USD per million tokens (strings, so no float rounding: `"0.15"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input_per_mtok: Decimal,
    pub output_per_mtok: Decimal,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiSettings {
    pub provider: AiProvider,
    /// Empty = the provider's public API (`https://api.openai.com/v1`,
    /// `https://api.anthropic.com`). For a local model e.g. `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    pub model: String,
    /// Wins over the integration secret `default/openai` or `default/anthropic` `api_key`.
    /// Empty for a local server that needs none.
    pub api_key: Secret,
    /// One request's limit (a retry gets a fresh one).
    pub timeout_secs: u64,
    /// Retries after a rate limit, 5xx/529 or timeout (quota and billing errors never).
    pub max_retries: u32,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Spending stops when this month's calls reach it (USD, a string). Calls reserve their
    /// worst case first, so it is never overshot by more than one call. `"0"` allows only
    /// free (local) models.
    pub monthly_budget_usd: Decimal,
    /// Output tokens one answer may take.
    pub max_tokens: u32,
    /// Consecutive failures (5xx, 529, timeouts) that open the circuit breaker…
    pub breaker_threshold: u32,
    /// …and how long it stays open before one probe may go.
    pub breaker_cool_down_secs: u64,
    /// How long a cached answer is reused.
    pub cache_ttl_secs: u64,
    pub cache_capacity: usize,
    /// Tool-calling rounds one question may take.
    pub max_tool_steps: u32,
    /// Prompt files here (`ask.txt`, `categorize.txt`) replace the embedded ones.
    pub prompts_dir: String,
    /// Per model: `[ai.prices."gpt-4o-mini"] input_per_mtok = "0.15"`. A model missing here
    /// costs 0 (local models).
    pub prices: BTreeMap<String, ModelPrice>,
}

impl Default for AiSettings {
    fn default() -> Self {
        Self {
            provider: AiProvider::None,
            base_url: String::new(),
            model: String::new(),
            api_key: Secret::default(),
            timeout_secs: 30,
            max_retries: 2,
            max_concurrency: 2,
            monthly_budget_usd: Decimal::from(10),
            max_tokens: 1024,
            breaker_threshold: 5,
            breaker_cool_down_secs: 30,
            cache_ttl_secs: 3600,
            cache_capacity: 1000,
            max_tool_steps: 6,
            prompts_dir: "data/prompts".to_owned(),
            prices: BTreeMap::new(),
        }
    }
}

impl AiSettings {
    pub fn enabled(&self) -> bool {
        self.provider != AiProvider::None
    }

    pub fn base_url(&self) -> &str {
        match (self.base_url.trim_end_matches('/'), self.provider) {
            ("", AiProvider::Anthropic) => "https://api.anthropic.com",
            ("", _) => "https://api.openai.com/v1",
            (url, _) => url,
        }
    }
}

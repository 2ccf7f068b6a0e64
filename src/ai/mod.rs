//! The AI core's root-crate side: building the engine from `[ai]`, the `llm_calls` store,
//! prompt templates, the ask loop's read-only tools and the categorization tier's adapter.
//!
//! Layout:
//! - `prompts.rs`: embedded templates under `prompts/`, overridable from `ai.prompts_dir`.
//! - `store.rs`: `llm_calls` (records, the budget's month sum, the usage report).
//! - `tools.rs`: the read-only tools over the finance/trading/jobs queries.
//! - `tier.rs`: the categorizer's `LlmCategorizer` port over the `LlmActor`.
//! - `alarm.rs`: the budget-reached audit row and admin notification (once a month).

pub mod alarm;
pub mod prompts;
pub mod store;
pub mod tier;
pub mod tools;

use crate::adapters::llm_http::KeySource;
use crate::adapters::{anthropic, openai};
use crate::config::{AiProvider, AiSettings};
use crate::crypto::Cipher;
use crate::db::DbHandle;
use actors::ai::LlmProvider;
use actors::ai::actor::{LlmActor, Prompts};
use actors::ai::budget::Price;
use actors::ai::engine::{Engine, EngineConfig};
use actors::ai::retry::RetryPolicy;
use actors::supervise::{ActorRef, Readiness, Supervisor};
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The running AI core, when a provider is configured.
#[derive(Clone)]
pub struct Ai {
    pub actor: ActorRef<LlmActor>,
    pub prompts: Arc<Vec<prompts::PromptInfo>>,
    pub provider: &'static str,
    pub model: String,
}

pub fn engine_config(s: &AiSettings) -> EngineConfig {
    let price = s
        .prices
        .get(&s.model)
        .map_or_else(Price::default, |p| Price {
            input_per_mtok: p.input_per_mtok,
            output_per_mtok: p.output_per_mtok,
        });
    EngineConfig {
        model: s.model.clone(),
        timeout: Duration::from_secs(s.timeout_secs),
        retry: RetryPolicy {
            max_retries: s.max_retries,
            ..RetryPolicy::default()
        },
        price,
        monthly_budget_usd: Some(s.monthly_budget_usd),
        max_concurrency: s.max_concurrency,
        max_tokens: s.max_tokens,
        breaker_threshold: s.breaker_threshold,
        breaker_cool_down: Duration::from_secs(s.breaker_cool_down_secs),
        cache_capacity: s.cache_capacity,
        cache_ttl: Duration::from_secs(s.cache_ttl_secs),
        max_tool_steps: s.max_tool_steps,
    }
}

/// The provider adapter for `[ai]`; `None` when `provider = "none"`.
pub fn provider(
    s: &AiSettings,
    db: &DbHandle,
    cipher: Arc<Cipher>,
) -> anyhow::Result<Option<Arc<dyn LlmProvider>>> {
    let name = match s.provider {
        AiProvider::None => return Ok(None),
        AiProvider::Openai => openai::PROVIDER,
        AiProvider::Anthropic => anthropic::PROVIDER,
    };
    let key = KeySource {
        configured: (!s.api_key.expose().is_empty())
            .then(|| SecretString::from(s.api_key.expose().to_owned())),
        db: db.clone(),
        cipher: Some(cipher),
        provider: name,
    };
    // The engine enforces the per-request timeout; this one only bounds a stuck socket.
    let client = crate::adapters::http_client::builder()
        .timeout(Duration::from_secs(s.timeout_secs.saturating_mul(2).max(1)))
        .build()?;
    Ok(Some(match s.provider {
        AiProvider::Anthropic => Arc::new(anthropic::Anthropic::new(client, s.base_url(), key)),
        _ => Arc::new(openai::OpenAi::new(client, s.base_url(), key)),
    }))
}

/// Starts the supervised `LlmActor` (after the database handle exists, before finance, whose
/// categorizer uses it). `None` with provider `none`: readiness lists the provider as
/// optional and down, so the service reports `degraded`.
pub fn start(
    supervisor: &mut Supervisor,
    s: &AiSettings,
    db: &DbHandle,
    cipher: Arc<Cipher>,
    readiness: &Readiness,
    alarm: alarm::BudgetAlarm,
) -> anyhow::Result<Option<Ai>> {
    let Some(provider) = provider(s, db, cipher)? else {
        readiness.set_optional(
            actors::ai::actor::NAME,
            actors::supervise::Status::Down,
            Some("no AI provider configured (ai.provider = \"none\")".to_owned()),
        );
        return Ok(None);
    };
    let loaded = prompts::load(Path::new(&s.prompts_dir))?;
    let engine = Arc::new(Engine::new(
        Arc::clone(&provider),
        Arc::new(store::DbCallStore {
            db: db.clone(),
            alarm: Some(alarm),
        }),
        engine_config(s),
    ));
    let tools = Arc::new(tools::FinanceTools { db: db.clone() });
    let ps = Prompts {
        ask: prompts::get(&loaded, "ask"),
        categorize: prompts::get(&loaded, "categorize"),
    };
    let r = readiness.clone();
    let actor = supervisor.spawn("llm", move |_| {
        LlmActor::new(
            Arc::clone(&engine),
            Arc::clone(&tools) as Arc<dyn actors::ai::engine::ToolExecutor>,
            ps.clone(),
            r.clone(),
        )
    });
    Ok(Some(Ai {
        actor,
        prompts: Arc::new(loaded),
        provider: provider.name(),
        model: s.model.clone(),
    }))
}

//! One model call through every safeguard, in this order: concurrency permit, cache, circuit
//! breaker, budget reservation, the provider call under a timeout, settlement, a `llm_calls`
//! record and metrics per attempt, then the retry policy. On top: structured calls (schema
//! check, one repair, then abstain), the categorization batch and the ask tool loop.

use super::breaker::Breaker;
use super::budget::{Budget, BudgetExhausted, Price, Reservation, estimate_tokens};
use super::cache::{AnswerCache, cache_key};
use super::categorize::{self, LlmCandidate, Verdict};
use super::provider::{
    ChatMessage, ChatRequest, ChatResponse, Content, LlmError, LlmProvider, OutputSchema, ToolSpec,
    Usage,
};
use super::redact::Redactor;
use super::retry::{RetryDecision, RetryPolicy};
use super::schema;
use super::tools::{Next, ToolCallRecord, ToolLoop, ToolRegistry};
use crate::TraceId;
use crate::ports::DependencyError;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub const LLM_REQUESTS_TOTAL: &str = "llm_requests_total";
pub const LLM_TOKENS_TOTAL: &str = "llm_tokens_total";
/// US dollars since start, a counter with a fractional value: the `metrics` crate's counters
/// are integers, so the engine sums nano-dollars in [`cost_usd_total`] and the exporter
/// (`src/metrics.rs`) writes the family.
pub const LLM_COST_USD_TOTAL: &str = "llm_cost_usd_total";
pub const LLM_REQUEST_DURATION_SECONDS: &str = "llm_request_duration_seconds";
pub const LLM_BUDGET_REMAINING_USD: &str = "llm_budget_remaining_usd";

pub fn describe_metrics() {
    metrics::describe_counter!(
        LLM_REQUESTS_TOTAL,
        "Model calls by provider, model, purpose and outcome (cache hits and refusals included)."
    );
    metrics::describe_counter!(
        LLM_TOKENS_TOTAL,
        "Tokens by provider and direction (input/output)."
    );
    metrics::describe_histogram!(
        LLM_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Duration of one provider request."
    );
    metrics::describe_gauge!(
        LLM_BUDGET_REMAINING_USD,
        "What is left of this month's AI budget (absent without a budget)."
    );
}

/// Nano-dollars spent by every engine of the process (process-wide like the metrics recorder).
static COST_NANO_USD: AtomicU64 = AtomicU64::new(0);

/// US dollars spent on model calls since the process started: `llm_cost_usd_total`.
pub fn cost_usd_total() -> Decimal {
    let nanos = i64::try_from(COST_NANO_USD.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
    Decimal::new(nanos, 9).normalize()
}

fn add_cost(usd: Decimal) {
    let nanos = (usd * Decimal::from(1_000_000_000u32))
        .round()
        .to_u64()
        .unwrap_or_default();
    COST_NANO_USD.fetch_add(nanos, Ordering::Relaxed);
}

#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub model: String,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub price: Price,
    /// `None`: no monthly limit.
    pub monthly_budget_usd: Option<Decimal>,
    pub max_concurrency: usize,
    pub max_tokens: u32,
    pub breaker_threshold: u32,
    pub breaker_cool_down: Duration,
    pub cache_capacity: usize,
    pub cache_ttl: Duration,
    /// Tool-calling rounds an ask may take.
    pub max_tool_steps: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            model: String::new(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            price: Price::default(),
            monthly_budget_usd: None,
            max_concurrency: 2,
            max_tokens: 1024,
            breaker_threshold: 5,
            breaker_cool_down: Duration::from_secs(30),
            cache_capacity: 1000,
            cache_ttl: Duration::from_secs(3600),
            max_tool_steps: 6,
        }
    }
}

/// One row of `llm_calls`: one provider request (or a cache hit, or a refusal to call).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub purpose: String,
    pub template: String,
    pub template_version: u32,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: Decimal,
    pub latency_ms: u64,
    pub outcome: String,
    pub trace_id: String,
}

/// Where call records go, and what this month has cost so far (the budget's start).
#[async_trait::async_trait]
pub trait LlmCallStore: Send + Sync + 'static {
    async fn record(&self, call: &CallRecord) -> Result<(), DependencyError>;
    /// Sum of `cost_usd` for `month` (`YYYY-MM`).
    async fn spent(&self, month: &str) -> Result<Decimal, DependencyError>;
    /// The month's budget is used up: a call was refused that would not fit even with no
    /// other call in flight. The engine says so at most once per month and process; the
    /// store makes it once per month across restarts (audit row, admin notification).
    async fn budget_reached(&self, _reached: &BudgetReached) {}
}

/// The month's budget is used up (what the alarm says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetReached {
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub limit: Decimal,
    pub spent: Decimal,
    /// The refused call's trace id.
    pub trace_id: TraceId,
}

/// A prompt template as loaded (embedded or overridden from the data dir).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompt {
    pub name: String,
    pub version: u32,
    pub system: String,
}

#[derive(Debug, Clone)]
pub struct CallSpec {
    pub purpose: &'static str,
    pub prompt: Prompt,
    pub messages: Vec<ChatMessage>,
    pub schema: Option<OutputSchema>,
    pub tools: Vec<ToolSpec>,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Budget(#[from] BudgetExhausted),
    #[error("the {0} circuit breaker is open")]
    BreakerOpen(&'static str),
    #[error(transparent)]
    Provider(#[from] LlmError),
    /// The budget could not be read: fail closed rather than spend blind.
    #[error("call store: {0}")]
    Store(DependencyError),
}

impl CallError {
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Budget(_) => "budget_exhausted",
            Self::BreakerOpen(_) => "breaker_open",
            Self::Provider(e) => e.outcome(),
            Self::Store(_) => "store_error",
        }
    }
}

/// A structured call's result. Refusing and abstaining are outcomes, not errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Structured {
    Valid(Value),
    Refused(String),
    /// Invalid twice (the repair failed too); the violations.
    Abstained(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AskStatus {
    Answered,
    Refused,
    Abstained,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AskOutcome {
    pub answer: String,
    pub status: AskStatus,
    pub tool_calls: Vec<ToolCallRecord>,
    pub usage: Usage,
    pub cached: bool,
}

/// The read-only functions the ask loop may run.
#[async_trait::async_trait]
pub trait ToolExecutor: Send + Sync + 'static {
    fn registry(&self) -> ToolRegistry;
    /// Runs a tool whose arguments already passed its schema. `Err` is a message for the
    /// model (bad month, unknown account, …).
    async fn run(&self, name: &str, arguments: &Value) -> Result<ToolOutput, String>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub data: Value,
    pub summary: String,
}

struct State {
    budget: Option<Budget>,
    /// The month whose budget-reached alarm went out (once per month and process).
    announced: Option<String>,
    breaker: Breaker,
    cache: AnswerCache<Value>,
}

/// What readiness and `/v1/ai/usage` show about the engine right now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineStatus {
    pub provider: &'static str,
    pub model: String,
    pub breaker: &'static str,
    pub budget_remaining_usd: Option<Decimal>,
}

pub struct Engine {
    provider: Arc<dyn LlmProvider>,
    store: Arc<dyn LlmCallStore>,
    config: EngineConfig,
    state: Mutex<State>,
    permits: Semaphore,
}

pub fn current_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

fn text_of(content: &Content) -> String {
    match content {
        Content::Text(t) | Content::Unparsable(t) | Content::Refusal(t) => t.clone(),
        Content::Json(v) => v.to_string(),
        Content::ToolCalls { text, calls } => text
            .clone()
            .unwrap_or_else(|| serde_json::to_string(calls).unwrap_or_default()),
    }
}

impl Engine {
    pub fn new(
        provider: Arc<dyn LlmProvider>,
        store: Arc<dyn LlmCallStore>,
        config: EngineConfig,
    ) -> Self {
        describe_metrics();
        Self {
            permits: Semaphore::new(config.max_concurrency.max(1)),
            state: Mutex::new(State {
                budget: None,
                announced: None,
                breaker: Breaker::new(config.breaker_threshold, config.breaker_cool_down),
                cache: AnswerCache::new(config.cache_capacity, config.cache_ttl),
            }),
            provider,
            store,
            config,
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn status(&self) -> EngineStatus {
        let month = current_month();
        let s = self.lock();
        EngineStatus {
            provider: self.provider.name(),
            model: self.config.model.clone(),
            breaker: s.breaker.label(Instant::now()),
            budget_remaining_usd: s
                .budget
                .as_ref()
                .map_or(self.config.monthly_budget_usd, |b| b.remaining(&month)),
        }
    }

    async fn ensure_budget(&self, month: &str) -> Result<(), CallError> {
        if self.lock().budget.is_some() {
            return Ok(());
        }
        let spent = self.store.spent(month).await.map_err(CallError::Store)?;
        let mut s = self.lock();
        if s.budget.is_none() {
            s.budget = Some(Budget::new(self.config.monthly_budget_usd, month, spent));
        }
        Ok(())
    }

    async fn record(
        &self,
        spec: &CallSpec,
        usage: Usage,
        cost: Decimal,
        latency: Duration,
        outcome: &str,
    ) {
        let provider = self.provider.name();
        metrics::counter!(LLM_REQUESTS_TOTAL, "provider" => provider, "model" => self.config.model.clone(),
            "purpose" => spec.purpose, "outcome" => outcome.to_owned())
        .increment(1);
        if usage.input_tokens + usage.output_tokens > 0 {
            metrics::counter!(LLM_TOKENS_TOTAL, "provider" => provider, "direction" => "input")
                .increment(usage.input_tokens);
            metrics::counter!(LLM_TOKENS_TOTAL, "provider" => provider, "direction" => "output")
                .increment(usage.output_tokens);
        }
        if cost > Decimal::ZERO {
            add_cost(cost);
        }
        if let Some(rem) = self.status().budget_remaining_usd {
            metrics::gauge!(LLM_BUDGET_REMAINING_USD).set(rem.to_f64().unwrap_or_default());
        }
        let record = CallRecord {
            purpose: spec.purpose.to_owned(),
            template: spec.prompt.name.clone(),
            template_version: spec.prompt.version,
            provider: provider.to_owned(),
            model: self.config.model.clone(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_usd: cost,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            outcome: outcome.to_owned(),
            trace_id: spec.trace_id.to_string(),
        };
        if let Err(e) = self.store.record(&record).await {
            tracing::warn!(error = %e, "llm call not recorded");
        }
    }

    /// One logical call: retried per the policy. `classify` names a successful response's
    /// outcome (`ok`, `refusal`, `invalid`) for the record.
    #[tracing::instrument(skip_all, fields(purpose = spec.purpose, template = %spec.prompt.name, trace_id = %spec.trace_id))]
    pub async fn call(
        &self,
        spec: &CallSpec,
        classify: &(dyn Fn(&ChatResponse) -> &'static str + Send + Sync),
    ) -> Result<ChatResponse, CallError> {
        let _permit = self.permits.acquire().await.map_err(|_| {
            CallError::Store(DependencyError(
                "the LLM engine is shutting down".to_owned(),
            ))
        })?;
        let month = current_month();
        self.ensure_budget(&month).await?;
        let request = ChatRequest {
            model: self.config.model.clone(),
            system: spec.prompt.system.clone(),
            messages: spec.messages.clone(),
            schema: spec.schema.clone(),
            tools: spec.tools.clone(),
            max_tokens: self.config.max_tokens,
        };
        let chars = request.system.len()
            + request
                .messages
                .iter()
                .map(|m| format!("{m:?}").len())
                .sum::<usize>()
            + request
                .schema
                .as_ref()
                .map_or(0, |s| s.schema.to_string().len())
            + request
                .tools
                .iter()
                .map(|t| t.parameters.to_string().len() + t.description.len())
                .sum::<usize>();
        let estimate = self
            .config
            .price
            .cost(estimate_tokens(chars), u64::from(self.config.max_tokens));
        let mut failures = 0u32;
        loop {
            let admitted = self.admit(&month, estimate);
            let reservation = match admitted {
                Ok(r) => r,
                Err(e) => {
                    self.record(
                        spec,
                        Usage::default(),
                        Decimal::ZERO,
                        Duration::ZERO,
                        e.outcome(),
                    )
                    .await;
                    if let CallError::Budget(b) = &e
                        && b.reached
                        && self.announce(&month)
                    {
                        tracing::warn!(limit = %b.limit, spent = %b.spent, "monthly AI budget reached; calls are refused until next month");
                        self.store
                            .budget_reached(&BudgetReached {
                                month: month.clone(),
                                limit: b.limit,
                                spent: b.spent,
                                trace_id: spec.trace_id.clone(),
                            })
                            .await;
                    }
                    return Err(e);
                }
            };
            let started = Instant::now();
            let result = tokio::time::timeout(self.config.timeout, self.provider.chat(&request))
                .await
                .unwrap_or(Err(LlmError::Timeout));
            let latency = started.elapsed();
            metrics::histogram!(LLM_REQUEST_DURATION_SECONDS, "provider" => self.provider.name())
                .record(latency.as_secs_f64());
            match result {
                Ok(response) => {
                    let cost = self
                        .config
                        .price
                        .cost(response.usage.input_tokens, response.usage.output_tokens);
                    {
                        let mut s = self.lock();
                        if let Some(b) = s.budget.as_mut() {
                            b.settle(reservation, cost);
                        }
                        s.breaker.on_success();
                    }
                    self.record(spec, response.usage, cost, latency, classify(&response))
                        .await;
                    return Ok(response);
                }
                Err(error) => {
                    {
                        let mut s = self.lock();
                        // A timed-out request may still be billed: count its estimate.
                        let charged = if error == LlmError::Timeout {
                            estimate
                        } else {
                            Decimal::ZERO
                        };
                        if let Some(b) = s.budget.as_mut() {
                            b.settle(reservation, charged);
                        }
                        if error.trips_breaker() {
                            s.breaker.on_failure(Instant::now());
                        } else {
                            s.breaker.on_neutral();
                        }
                    }
                    self.record(
                        spec,
                        Usage::default(),
                        Decimal::ZERO,
                        latency,
                        error.outcome(),
                    )
                    .await;
                    failures += 1;
                    match self
                        .config
                        .retry
                        .decide(failures, &error, rand::random::<f64>())
                    {
                        RetryDecision::RetryAfter(d) => {
                            tracing::info!(error = %error, delay_ms = d.as_millis() as u64, "llm call failed; retrying");
                            tokio::time::sleep(d).await;
                        }
                        RetryDecision::GiveUp => return Err(error.into()),
                    }
                }
            }
        }
    }

    /// `true` the first time `month`'s budget is reported reached in this process.
    fn announce(&self, month: &str) -> bool {
        let mut s = self.lock();
        if s.announced.as_deref() == Some(month) {
            return false;
        }
        s.announced = Some(month.to_owned());
        true
    }

    /// Budget, then breaker: may this attempt go out? The reservation is given back when the
    /// breaker says no. Never holds the lock past itself.
    fn admit(&self, month: &str, estimate: Decimal) -> Result<Reservation, CallError> {
        let mut s = self.lock();
        let Some(budget) = s.budget.as_mut() else {
            return Err(CallError::Store(DependencyError(
                "budget not loaded".to_owned(),
            )));
        };
        let reservation = budget.reserve(month, estimate)?;
        if s.breaker.allow(Instant::now()) {
            return Ok(reservation);
        }
        if let Some(b) = s.budget.as_mut() {
            b.settle(reservation, Decimal::ZERO);
        }
        Err(CallError::BreakerOpen(self.provider.name()))
    }

    fn cache_get(&self, key: &str) -> Option<Value> {
        self.lock().cache.get(key, Instant::now())
    }

    fn cache_put(&self, key: String, value: Value) {
        self.lock().cache.put(key, value, Instant::now());
    }

    /// A call that must answer with data matching `spec.schema`: one repair, then abstain.
    /// `cache_input` (already redacted) keys the cache; `None` disables it.
    pub async fn structured(
        &self,
        spec: CallSpec,
        cache_input: Option<&Value>,
    ) -> Result<Structured, CallError> {
        let Some(out_schema) = spec.schema.clone() else {
            return Err(CallError::Provider(LlmError::BadRequest(
                "structured call without a schema".to_owned(),
            )));
        };
        let key = cache_input.map(|i| {
            cache_key(
                &spec.prompt.name,
                spec.prompt.version,
                &self.config.model,
                i,
            )
        });
        if let Some(hit) = key.as_deref().and_then(|k| self.cache_get(k)) {
            self.record(
                &spec,
                Usage::default(),
                Decimal::ZERO,
                Duration::ZERO,
                "cache_hit",
            )
            .await;
            return Ok(Structured::Valid(hit));
        }
        let check = |r: &ChatResponse| -> Result<Value, String> {
            match &r.content {
                Content::Json(v) => {
                    let violations = schema::validate(&out_schema.schema, v);
                    if violations.is_empty() {
                        Ok(v.clone())
                    } else {
                        Err(schema::summary(&violations))
                    }
                }
                Content::Unparsable(_) => Err("the answer is not valid JSON".to_owned()),
                _ => Err("the answer is not the requested JSON object".to_owned()),
            }
        };
        let classify = |r: &ChatResponse| -> &'static str {
            match &r.content {
                Content::Refusal(_) => "refusal",
                _ if check(r).is_ok() => "ok",
                _ => "invalid",
            }
        };
        let first = self.call(&spec, &classify).await?;
        if let Content::Refusal(t) = &first.content {
            return Ok(Structured::Refused(t.clone()));
        }
        let problem = match check(&first) {
            Ok(v) => {
                if let Some(k) = key {
                    self.cache_put(k, v.clone());
                }
                return Ok(Structured::Valid(v));
            }
            Err(p) => p,
        };
        let mut repair = spec.clone();
        repair.messages.push(ChatMessage::Assistant {
            text: Some(text_of(&first.content)),
            tool_calls: Vec::new(),
        });
        repair.messages.push(ChatMessage::User(format!(
            "Your previous answer does not match the required JSON schema ({problem}). \
             Answer again with only a JSON object that matches it exactly."
        )));
        let second = self.call(&repair, &classify).await?;
        if let Content::Refusal(t) = &second.content {
            return Ok(Structured::Refused(t.clone()));
        }
        match check(&second) {
            Ok(v) => {
                if let Some(k) = key {
                    self.cache_put(k, v.clone());
                }
                Ok(Structured::Valid(v))
            }
            Err(p) => Ok(Structured::Abstained(p)),
        }
    }

    /// One categorization batch (≤ 25): every transaction gets a verdict; a refusal or an
    /// answer invalid after repair means abstain for all of them.
    pub async fn categorize_batch(
        &self,
        prompt: &Prompt,
        batch: &[LlmCandidate],
        categories: &[(String, String)],
        threshold: f64,
        trace_id: &TraceId,
    ) -> Result<Vec<(String, Verdict)>, CallError> {
        let mut redactor = Redactor::new();
        let p = categorize::prompt(batch, categories, &mut redactor);
        let spec = CallSpec {
            purpose: "categorize",
            prompt: prompt.clone(),
            messages: vec![ChatMessage::User(p.input.to_string())],
            schema: Some(OutputSchema {
                name: "categorization".to_owned(),
                schema: p.schema.clone(),
            }),
            tools: Vec::new(),
            trace_id: trace_id.clone(),
        };
        Ok(match self.structured(spec, Some(&p.input)).await? {
            Structured::Valid(v) => categorize::verdicts(&p, &v, threshold),
            Structured::Refused(_) | Structured::Abstained(_) => p
                .refs
                .iter()
                .map(|(_, id)| (id.clone(), Verdict::Abstain))
                .collect(),
        })
    }

    /// "Ask your money": the tool loop over the executor's read-only tools.
    pub async fn ask(
        &self,
        prompt: &Prompt,
        question: &str,
        tools: &dyn ToolExecutor,
        trace_id: &TraceId,
    ) -> Result<AskOutcome, CallError> {
        let mut redactor = Redactor::new();
        let q = redactor.redact(question);
        let key = cache_key(
            &prompt.name,
            prompt.version,
            &self.config.model,
            &json!({ "question": q.to_lowercase() }),
        );
        let base = CallSpec {
            purpose: "ask",
            prompt: prompt.clone(),
            messages: vec![ChatMessage::User(q.clone())],
            schema: None,
            tools: Vec::new(),
            trace_id: trace_id.clone(),
        };
        if let Some(hit) = self.cache_get(&key)
            && let Ok(mut outcome) = serde_json::from_value::<CachedAsk>(hit)
        {
            self.record(
                &base,
                Usage::default(),
                Decimal::ZERO,
                Duration::ZERO,
                "cache_hit",
            )
            .await;
            outcome.0.cached = true;
            outcome.0.usage = Usage::default();
            return Ok(outcome.0);
        }
        let registry = tools.registry();
        let mut spec = base;
        spec.tools = registry.specs().to_vec();
        let mut state = ToolLoop::new(self.config.max_tool_steps, &q);
        let mut usage = Usage::default();
        let classify = |r: &ChatResponse| -> &'static str {
            if matches!(r.content, Content::Refusal(_)) {
                "refusal"
            } else {
                "ok"
            }
        };
        loop {
            let response = self.call(&spec, &classify).await?;
            usage.input_tokens += response.usage.input_tokens;
            usage.output_tokens += response.usage.output_tokens;
            let (status, text) = match state.on_reply(&registry, &response.content) {
                Next::Execute { accepted, refused } => {
                    let Content::ToolCalls { text, calls } = &response.content else {
                        return Err(CallError::Provider(LlmError::Malformed(
                            "tool step without calls".to_owned(),
                        )));
                    };
                    spec.messages.push(ChatMessage::Assistant {
                        text: text.clone(),
                        tool_calls: calls.clone(),
                    });
                    for call in calls {
                        let result = if let Some((_, reason)) =
                            refused.iter().find(|(c, _)| c.id == call.id)
                        {
                            reason.clone()
                        } else if accepted.iter().any(|c| c.id == call.id) {
                            match tools.run(&call.name, &call.arguments).await {
                                Ok(out) => {
                                    let data = redactor.redact(&out.data.to_string());
                                    state.record(call, &data, redactor.redact(&out.summary));
                                    data
                                }
                                Err(message) => {
                                    let m = format!("error: {message}");
                                    state.record(call, "", m.clone());
                                    m
                                }
                            }
                        } else {
                            continue;
                        };
                        spec.messages.push(ChatMessage::ToolResult {
                            call_id: call.id.clone(),
                            content: result,
                        });
                    }
                    continue;
                }
                Next::Repair(message) => {
                    spec.messages.push(ChatMessage::Assistant {
                        text: Some(text_of(&response.content)),
                        tool_calls: Vec::new(),
                    });
                    spec.messages.push(ChatMessage::User(message));
                    continue;
                }
                Next::Answer(t) => (AskStatus::Answered, t),
                Next::Refused(t) => (AskStatus::Refused, t),
                Next::Abstain(t) => (AskStatus::Abstained, t),
            };
            let outcome = AskOutcome {
                answer: redactor.restore(&text),
                status,
                tool_calls: state.records.clone(),
                usage,
                cached: false,
            };
            if status == AskStatus::Answered
                && let Ok(v) = serde_json::to_value(CachedAsk(outcome.clone()))
            {
                self.cache_put(key, v);
            }
            return Ok(outcome);
        }
    }
}

/// The cached form of an ask outcome.
#[derive(Serialize, serde::Deserialize)]
struct CachedAsk(AskOutcome);

#[cfg(test)]
mod tests;

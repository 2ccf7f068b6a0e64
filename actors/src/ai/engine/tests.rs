//! The engine against a scripted provider: retries, breaker, budget, cache, repair, tools.

use super::*;
use crate::ai::budget::Price;
use crate::ai::provider::ToolCall;
use rust_decimal::dec;
use std::collections::VecDeque;

#[derive(Default)]
struct Scripted {
    replies: Mutex<VecDeque<Result<ChatResponse, LlmError>>>,
    seen: Mutex<Vec<ChatRequest>>,
}

impl Scripted {
    fn new(replies: Vec<Result<ChatResponse, LlmError>>) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.into()),
            seen: Mutex::default(),
        })
    }
    fn calls(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl LlmProvider for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        if let Ok(mut s) = self.seen.lock() {
            s.push(request.clone());
        }
        let next = self.replies.lock().ok().and_then(|mut r| r.pop_front());
        next.unwrap_or(Err(LlmError::Server {
            status: 500,
            retry_after: None,
        }))
    }
}

#[derive(Default)]
struct MemStore {
    rows: Mutex<Vec<CallRecord>>,
    /// (month, limit, spent) of each budget-reached alarm.
    alarms: Mutex<Vec<(String, Decimal, Decimal)>>,
}

impl MemStore {
    fn outcomes(&self) -> Vec<String> {
        self.rows
            .lock()
            .map(|r| r.iter().map(|c| c.outcome.clone()).collect())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl LlmCallStore for MemStore {
    async fn record(&self, call: &CallRecord) -> Result<(), DependencyError> {
        if let Ok(mut r) = self.rows.lock() {
            r.push(call.clone());
        }
        Ok(())
    }
    async fn spent(&self, _month: &str) -> Result<Decimal, DependencyError> {
        Ok(Decimal::ZERO)
    }
    async fn budget_reached(&self, r: &BudgetReached) {
        if let Ok(mut a) = self.alarms.lock() {
            a.push((r.month.clone(), r.limit, r.spent));
        }
    }
}

fn ok(content: Content) -> Result<ChatResponse, LlmError> {
    Ok(ChatResponse {
        content,
        usage: Usage {
            input_tokens: 1000,
            output_tokens: 100,
        },
        request_id: None,
    })
}

fn config() -> EngineConfig {
    EngineConfig {
        model: "m".into(),
        retry: RetryPolicy {
            max_retries: 2,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_retry_after: Duration::from_secs(1),
        },
        breaker_threshold: 3,
        breaker_cool_down: Duration::from_secs(60),
        max_tokens: 100,
        ..EngineConfig::default()
    }
}

fn prompt() -> Prompt {
    Prompt {
        name: "test".into(),
        version: 1,
        system: "be strict".into(),
    }
}

fn spec() -> CallSpec {
    CallSpec {
        purpose: "test",
        prompt: prompt(),
        messages: vec![ChatMessage::User("hi".into())],
        schema: Some(OutputSchema {
            name: "answer".into(),
            schema: json!({"type": "object", "properties": {"n": {"type": "integer"}},
                           "required": ["n"], "additionalProperties": false}),
        }),
        tools: Vec::new(),
        trace_id: TraceId::new("t"),
    }
}

fn engine(p: Arc<Scripted>, config: EngineConfig) -> (Engine, Arc<MemStore>) {
    let store = Arc::new(MemStore::default());
    (Engine::new(p, store.clone(), config), store)
}

#[tokio::test]
async fn retries_rate_limits_but_not_quota() {
    let p = Scripted::new(vec![
        Err(LlmError::RateLimited {
            retry_after: Some(Duration::from_millis(5)),
        }),
        Err(LlmError::Overloaded { retry_after: None }),
        ok(Content::Json(json!({"n": 1}))),
    ]);
    let (e, store) = engine(p.clone(), config());
    assert_eq!(
        e.structured(spec(), None).await,
        Ok(Structured::Valid(json!({"n": 1})))
    );
    assert_eq!(p.calls(), 3);
    assert_eq!(store.outcomes(), vec!["rate_limited", "overloaded", "ok"]);

    let p = Scripted::new(vec![Err(LlmError::Quota("insufficient_quota".into()))]);
    let (e, _) = engine(p.clone(), config());
    assert!(matches!(
        e.structured(spec(), None).await,
        Err(CallError::Provider(LlmError::Quota(_)))
    ));
    assert_eq!(p.calls(), 1, "quota is never retried");
}

#[tokio::test]
async fn invalid_answer_is_repaired_once_then_abstains() {
    let p = Scripted::new(vec![
        ok(Content::Json(json!({"n": "one"}))),
        ok(Content::Json(json!({"n": 1}))),
    ]);
    let (e, store) = engine(p.clone(), config());
    assert_eq!(
        e.structured(spec(), None).await,
        Ok(Structured::Valid(json!({"n": 1})))
    );
    let repair = p.seen.lock().map(|s| s[1].clone()).expect("second request");
    assert!(matches!(repair.messages.last(), Some(ChatMessage::User(m)) if m.contains("/n")));
    assert_eq!(store.outcomes(), vec!["invalid", "ok"]);

    let p = Scripted::new(vec![
        ok(Content::Unparsable("{n:".into())),
        ok(Content::Json(json!({}))),
    ]);
    let (e, _) = engine(p.clone(), config());
    assert!(matches!(
        e.structured(spec(), None).await,
        Ok(Structured::Abstained(_))
    ));
    assert_eq!(p.calls(), 2);

    let p = Scripted::new(vec![ok(Content::Refusal("no".into()))]);
    let (e, _) = engine(p, config());
    assert_eq!(
        e.structured(spec(), None).await,
        Ok(Structured::Refused("no".into()))
    );
}

#[tokio::test]
async fn breaker_opens_and_stops_calls() {
    let p = Scripted::new(vec![]);
    let (e, store) = engine(
        p.clone(),
        EngineConfig {
            retry: RetryPolicy {
                max_retries: 0,
                ..config().retry
            },
            ..config()
        },
    );
    for _ in 0..3 {
        assert!(matches!(
            e.structured(spec(), None).await,
            Err(CallError::Provider(_))
        ));
    }
    assert_eq!(e.status().breaker, "open");
    assert_eq!(
        e.structured(spec(), None).await,
        Err(CallError::BreakerOpen("scripted"))
    );
    assert_eq!(p.calls(), 3, "no call while open");
    assert_eq!(
        store.outcomes().last().map(String::as_str),
        Some("breaker_open")
    );
}

#[tokio::test]
async fn budget_stops_calls_and_cache_does_not_pay_twice() {
    // Single-threaded test runtime: the local recorder sees every metric of this test.
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let price = Price {
        input_per_mtok: dec!(1000),
        output_per_mtok: dec!(1000),
    };
    // Each call: estimate ≈ (small input + 100 output) × 0.001 ≈ 0.13; real 1100 tokens = 1.10.
    let p = Scripted::new(vec![
        ok(Content::Json(json!({"n": 1}))),
        ok(Content::Json(json!({"n": 2}))),
    ]);
    let (e, store) = engine(
        p.clone(),
        EngineConfig {
            price,
            monthly_budget_usd: Some(dec!(1.00)),
            ..config()
        },
    );
    let input = json!({"q": "x"});
    let spent_before = cost_usd_total();
    assert!(e.structured(spec(), Some(&input)).await.is_ok());
    // Same input: served from the cache, no call, no cost.
    assert_eq!(
        e.structured(spec(), Some(&json!({"q": " x "}))).await,
        Ok(Structured::Valid(json!({"n": 1})))
    );
    assert_eq!(p.calls(), 1);
    // Budget now overshot by that one call only: the next is refused before it goes out.
    assert!(matches!(
        e.structured(spec(), None).await,
        Err(CallError::Budget(_))
    ));
    assert_eq!(p.calls(), 1);
    // Refused again: the alarm (audit row, notification) went out once for the month.
    for _ in 0..2 {
        assert!(matches!(
            e.structured(spec(), None).await,
            Err(CallError::Budget(b)) if b.reached
        ));
    }
    assert_eq!(
        store.outcomes(),
        vec![
            "ok",
            "cache_hit",
            "budget_exhausted",
            "budget_exhausted",
            "budget_exhausted"
        ]
    );
    let alarms = store.alarms.lock().map(|a| a.clone()).unwrap_or_default();
    assert_eq!(alarms, vec![(current_month(), dec!(1.00), dec!(1.10))]);
    assert_eq!(e.status().budget_remaining_usd, Some(Decimal::ZERO));
    let gauge = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| match value {
            metrics_util::debugging::DebugValue::Gauge(v)
                if key.key().name() == LLM_BUDGET_REMAINING_USD =>
            {
                Some(v.into_inner())
            }
            _ => None,
        });
    assert_eq!(gauge, Some(0.0), "llm_budget_remaining_usd reads 0");
    // llm_cost_usd_total counts the one call's real cost exactly (other tests of this process
    // may add theirs concurrently, never subtract).
    assert!(
        cost_usd_total() - spent_before >= dec!(1.10),
        "{} - {spent_before}",
        cost_usd_total()
    );
}

#[tokio::test]
async fn concurrent_reservations_refuse_without_the_budget_alarm() {
    // Two calls at once: the second's reservation does not fit beside the first's, yet the
    // month's budget is not used up (the first may cost less than reserved): no alarm.
    #[derive(Default)]
    struct Gate {
        open: tokio::sync::Notify,
        entered: std::sync::atomic::AtomicUsize,
    }
    #[async_trait::async_trait]
    impl LlmProvider for Gate {
        fn name(&self) -> &'static str {
            "gate"
        }
        async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, LlmError> {
            self.entered
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.open.notified().await;
            ok(Content::Json(json!({"n": 1})))
        }
    }
    let gate = Arc::new(Gate::default());
    let store = Arc::new(MemStore::default());
    let e = Arc::new(Engine::new(
        gate.clone(),
        store.clone(),
        EngineConfig {
            price: Price {
                input_per_mtok: dec!(1000),
                output_per_mtok: dec!(1000),
            },
            // One reservation (≈ 0.15) fits, two do not.
            monthly_budget_usd: Some(dec!(0.20)),
            max_concurrency: 2,
            ..config()
        },
    ));
    let first = tokio::spawn({
        let e = Arc::clone(&e);
        async move { e.structured(spec(), None).await }
    });
    // Wait until the first call holds its reservation (it is at the provider).
    while gate.entered.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let second = e.structured(spec(), None).await;
    assert!(
        matches!(&second, Err(CallError::Budget(b)) if !b.reached),
        "{second:?}"
    );
    gate.open.notify_one();
    assert!(first.await.expect("joined").is_ok());
    assert!(store.alarms.lock().map(|a| a.is_empty()).unwrap_or(false));
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    struct Slow;
    #[async_trait::async_trait]
    impl LlmProvider for Slow {
        fn name(&self) -> &'static str {
            "slow"
        }
        async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, LlmError> {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Err(LlmError::Timeout)
        }
    }
    let store = Arc::new(MemStore::default());
    let e = Engine::new(
        Arc::new(Slow),
        store.clone(),
        EngineConfig {
            timeout: Duration::from_millis(20),
            ..config()
        },
    );
    assert_eq!(
        e.structured(spec(), None).await,
        Err(CallError::Provider(LlmError::Timeout))
    );
    assert_eq!(store.outcomes(), vec!["timeout", "timeout", "timeout"]);
}

struct Tools;

#[async_trait::async_trait]
impl ToolExecutor for Tools {
    fn registry(&self) -> ToolRegistry {
        ToolRegistry::new(vec![ToolSpec {
            name: "spending".into(),
            description: "spending".into(),
            parameters: json!({"type": "object", "properties": {"month": {"type": "string"}},
                               "required": ["month"], "additionalProperties": false}),
        }])
    }
    async fn run(&self, _: &str, args: &Value) -> Result<ToolOutput, String> {
        Ok(ToolOutput {
            data: json!({"month": args["month"], "restaurants": "-182.40", "payee": "ES91 2100 0418 4502 0005 1332"}),
            summary: "restaurants -182.40".into(),
        })
    }
}

fn tool_call(id: &str, name: &str, args: Value) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args,
    }
}

#[tokio::test]
async fn ask_runs_tools_refuses_mutations_and_redacts() {
    let p = Scripted::new(vec![
        ok(Content::ToolCalls {
            text: None,
            calls: vec![
                tool_call("a", "delete_transaction", json!({"id": "x"})),
                tool_call("b", "spending", json!({"month": "2026-10"})),
            ],
        }),
        ok(Content::Text(
            "You spent 182.40 on restaurants, paid to [IBAN_1].".into(),
        )),
    ]);
    let (e, _) = engine(p.clone(), config());
    let out = e
        .ask(
            &prompt(),
            "How much on restaurants? my IBAN is ES91 2100 0418 4502 0005 1332",
            &Tools,
            &TraceId::new("t"),
        )
        .await
        .expect("answer");
    assert_eq!(out.status, AskStatus::Answered);
    assert_eq!(
        out.answer,
        "You spent 182.40 on restaurants, paid to ES91 2100 0418 4502 0005 1332."
    );
    assert_eq!(out.tool_calls.len(), 2);
    assert!(out.tool_calls[0].refused);
    assert_eq!(out.usage.input_tokens, 2000);
    let sent = format!("{:?}", p.seen.lock().map(|s| s.clone()).unwrap_or_default());
    assert!(!sent.contains("2100 0418"), "IBAN left the process: {sent}");
    // The same question again is free.
    let again = e
        .ask(
            &prompt(),
            "how much on restaurants?  My IBAN is ES91 2100 0418 4502 0005 1332",
            &Tools,
            &TraceId::new("t"),
        )
        .await
        .expect("cached");
    assert!(again.cached);
    assert_eq!(p.calls(), 2);
}

#[tokio::test]
async fn ask_stops_at_the_step_limit() {
    let looping: Vec<_> = (0..10)
        .map(|i| {
            ok(Content::ToolCalls {
                text: None,
                calls: vec![tool_call(
                    &format!("c{i}"),
                    "spending",
                    json!({"month": "2026-10"}),
                )],
            })
        })
        .collect();
    let p = Scripted::new(looping);
    let (e, _) = engine(
        p.clone(),
        EngineConfig {
            max_tool_steps: 3,
            ..config()
        },
    );
    let out = e
        .ask(&prompt(), "q", &Tools, &TraceId::new("t"))
        .await
        .expect("outcome");
    assert_eq!(out.status, AskStatus::Abstained);
    assert_eq!(p.calls(), 4);
}

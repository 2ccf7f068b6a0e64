//! A year of transactions replayed through the categorizer with the LLM tier: the user
//! confirms what the LLM chose, the local model learns it, and later transactions of the same
//! merchants never reach the LLM. Prints LLM calls per month and the year's estimated tokens
//! and cost (the figures `bench/ai.sh` shows).

use actix::Actor;
use actors::TraceId;
use actors::ai::budget::{Price, estimate_tokens};
use actors::ai::categorize::{self, LlmCandidate, MAX_BATCH, Verdict};
use actors::ai::redact::Redactor;
use actors::finance::categorize::{LlmCategorizer, Tier};
use actors::finance::categorizer::{
    Candidate, CategorizeBatch, CategorizerActor, CategorizerConfig, Learn, Selection,
};
use actors::ports::DependencyError;
use actors::testkit::{MemoryCategoryStore, StoredTransaction, eventually};
use rust_decimal::{Decimal, dec};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const MERCHANTS: [(&str, &str); 8] = [
    ("MERCADONA VALENCIA", "groceries"),
    ("NETFLIX.COM", "subscriptions"),
    ("REPSOL ESTACION", "fuel"),
    ("IBERDROLA CLIENTES", "utilities"),
    ("VODAFONE ESPANA", "phone"),
    ("ZARA TIENDA", "clothes"),
    ("UBER TRIP", "transport"),
    ("AMAZON MARKETPLACE", "shopping"),
];

/// A model that knows every merchant (0.9) and is unsure about one-off shops (0.5).
#[derive(Default)]
struct FakeLlm {
    calls: AtomicU64,
    /// Tokens a real model would bill, estimated as the engine does (characters / 4) over
    /// what would be sent (system prompt, redacted batch, strict schema) and answered.
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

const SYSTEM_PROMPT: &str = include_str!("../../../prompts/categorize.txt");

/// An example price for the replay's total: a small hosted model, USD per million tokens.
const EXAMPLE_PRICE: Price = Price {
    input_per_mtok: dec!(0.15),
    output_per_mtok: dec!(0.60),
};

#[async_trait::async_trait]
impl LlmCategorizer for FakeLlm {
    async fn categorize(
        &self,
        batch: Vec<LlmCandidate>,
        categories: Vec<(String, String)>,
        _trace_id: &TraceId,
    ) -> Result<Vec<(String, Verdict)>, DependencyError> {
        assert!(batch.len() <= MAX_BATCH, "batch of {}", batch.len());
        self.calls.fetch_add(1, Ordering::SeqCst);
        let sent = categorize::prompt(&batch, &categories, &mut Redactor::new());
        self.input_tokens.fetch_add(
            estimate_tokens(
                SYSTEM_PROMPT.len() + sent.input.to_string().len() + sent.schema.to_string().len(),
            ),
            Ordering::SeqCst,
        );
        let verdicts: Vec<(String, Verdict)> = batch
            .into_iter()
            .map(|c| {
                let known = MERCHANTS.iter().find(|(m, _)| c.description.starts_with(m));
                let v = match known {
                    Some((_, cat)) => Verdict::Apply {
                        category_id: (*cat).to_owned(),
                        confidence: 0.9,
                    },
                    None => Verdict::Suggest {
                        category_id: categories[7].0.clone(),
                        confidence: 0.5,
                    },
                };
                (c.id, v)
            })
            .collect();
        // The answer as the strict schema has the model write it.
        let results: Vec<serde_json::Value> = sent
            .refs
            .iter()
            .zip(&verdicts)
            .map(|((r, _), (_, v))| {
                let (category, confidence) = match v {
                    Verdict::Apply {
                        category_id,
                        confidence,
                    }
                    | Verdict::Suggest {
                        category_id,
                        confidence,
                    } => (Some(category_id.clone()), *confidence),
                    Verdict::Abstain => (None, 0.0),
                };
                serde_json::json!({"ref": r, "category_id": category, "confidence": confidence})
            })
            .collect();
        self.output_tokens.fetch_add(
            estimate_tokens(serde_json::json!({ "results": results }).to_string().len()),
            Ordering::SeqCst,
        );
        Ok(verdicts)
    }
}

fn amount(i: usize) -> Decimal {
    dec!(-10) - Decimal::from(i % 7)
}

#[actix_rt::test]
async fn a_year_of_transactions_needs_the_llm_less_every_month() {
    let store = Arc::new(MemoryCategoryStore::new());
    store.set_categories(
        MERCHANTS
            .iter()
            .map(|(_, c)| ((*c).to_owned(), c.to_uppercase()))
            .collect(),
    );
    let llm = Arc::new(FakeLlm::default());
    let actor = CategorizerActor::new(
        store.clone(),
        CategorizerConfig {
            threshold: 0.6,
            min_examples: 10,
            batch: 500,
        },
    )
    .with_llm(llm.clone())
    .start();
    let mut per_month = Vec::new();
    for month in 1..=12u32 {
        let import = format!("imp-{month:02}");
        let mut ids = Vec::new();
        let mut rows: Vec<(String, String)> = Vec::new();
        for (n, (m, _)) in MERCHANTS.iter().enumerate() {
            for k in 0..4 {
                rows.push((format!("{m} {month:02}{k}"), format!("{n}")));
            }
        }
        // One-off shops in the first months only.
        if month <= 4 {
            for k in 0..2 {
                rows.push((format!("NEWSHOP {month}-{k}"), "new".to_owned()));
            }
        }
        for (i, (description, _)) in rows.iter().enumerate() {
            let id = format!("m{month:02}-{i:03}");
            let mut t = StoredTransaction::new(
                Candidate {
                    id: id.clone(),
                    account_id: "acc".to_owned(),
                    description: description.clone(),
                    counterparty: None,
                    amount: amount(i),
                    date: String::new(),
                },
                &format!("2026-{month:02}-15"),
            );
            t.import_id = Some(import.clone());
            store.add_transaction(t);
            ids.push(id);
        }
        let before = llm.calls.load(Ordering::SeqCst);
        eventually(Duration::from_secs(5), "a categorized month", || async {
            actor
                .send(CategorizeBatch {
                    selection: Selection::ImportBatch(import.clone()),
                    after: None,
                    trace_id: TraceId::new("replay"),
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        })
        .await;
        per_month.push(llm.calls.load(Ordering::SeqCst) - before);
        // The user confirms every automatic choice and picks the suggested one for new shops:
        // each choice trains the local model.
        let suggestions = store.suggestions();
        for (i, id) in ids.iter().enumerate() {
            let tx = store.transaction(id).expect("stored");
            let chosen = match (tx.category_id.clone(), tx.tier) {
                (Some(c), Some(Tier::Llm | Tier::Model | Tier::Rule)) => Some(c),
                _ => suggestions
                    .iter()
                    .find(|s| &s.transaction_id == id)
                    .map(|s| s.category_id.clone()),
            };
            if let Some(category_id) = chosen {
                actor
                    .send(Learn {
                        description: tx.candidate.description.clone(),
                        counterparty: None,
                        amount: amount(i),
                        previous_user_category: None,
                        category_id: category_id.clone(),
                    })
                    .await
                    .expect("learn");
                store.user_sets(id, &category_id);
            }
        }
    }
    #[allow(clippy::print_stdout)]
    {
        println!("LLM calls per month: {per_month:?}");
        let (input, output) = (
            llm.input_tokens.load(Ordering::SeqCst),
            llm.output_tokens.load(Ordering::SeqCst),
        );
        println!(
            "LLM total for the year: {} calls, ~{input} input + ~{output} output tokens, \
             ~{} USD at {}/{} USD per Mtok",
            per_month.iter().sum::<u64>(),
            EXAMPLE_PRICE.cost(input, output).round_dp(4),
            EXAMPLE_PRICE.input_per_mtok,
            EXAMPLE_PRICE.output_per_mtok,
        );
    }
    assert!(
        per_month[0] >= 2,
        "month 1 sends everything (36 transactions): {per_month:?}"
    );
    assert!(
        per_month.windows(2).all(|w| w[1] <= w[0]),
        "never rising: {per_month:?}"
    );
    assert_eq!(
        per_month[4..].iter().sum::<u64>(),
        0,
        "known merchants stay local: {per_month:?}"
    );
}

/// Our side of one categorization batch (redaction, prompt, schema, validation, verdicts,
/// budget, breaker, cache lookup, the call record) against a provider that answers at once.
/// Run by `bench/ai.sh` (release build): prints p50/p99 and fails above 2 ms p99.
#[tokio::test]
#[ignore = "benchmark: run with bench/ai.sh"]
async fn bench_categorization_batch_overhead() {
    use actors::ai::engine::{CallRecord, Engine, EngineConfig, LlmCallStore, Prompt};
    use actors::ai::{ChatRequest, ChatResponse, Content, LlmError, LlmProvider, Usage};

    struct Instant0;
    #[async_trait::async_trait]
    impl LlmProvider for Instant0 {
        fn name(&self) -> &'static str {
            "fake"
        }
        async fn chat(&self, r: &ChatRequest) -> Result<ChatResponse, LlmError> {
            let refs = r.schema.as_ref().map_or(Vec::new(), |s| {
                s.schema["properties"]["results"]["items"]["properties"]["ref"]["enum"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            });
            let results: Vec<serde_json::Value> = refs
                .iter()
                .map(|r| serde_json::json!({"ref": r, "category_id": "groceries", "confidence": 0.9}))
                .collect();
            Ok(ChatResponse {
                content: Content::Json(serde_json::json!({"results": results})),
                usage: Usage {
                    input_tokens: 900,
                    output_tokens: 200,
                },
                request_id: None,
            })
        }
    }
    struct NoStore;
    #[async_trait::async_trait]
    impl LlmCallStore for NoStore {
        async fn record(&self, _: &CallRecord) -> Result<(), DependencyError> {
            Ok(())
        }
        async fn spent(&self, _: &str) -> Result<Decimal, DependencyError> {
            Ok(Decimal::ZERO)
        }
    }
    let engine = Engine::new(
        Arc::new(Instant0),
        Arc::new(NoStore),
        EngineConfig {
            model: "m".into(),
            cache_capacity: 0,
            ..EngineConfig::default()
        },
    );
    let prompt = Prompt {
        name: "categorize".into(),
        version: 1,
        system: "x".into(),
    };
    let categories: Vec<(String, String)> = MERCHANTS
        .iter()
        .map(|(_, c)| ((*c).to_owned(), c.to_uppercase()))
        .collect();
    let batch: Vec<LlmCandidate> = (0..MAX_BATCH)
        .map(|i| LlmCandidate {
            id: format!("tx-{i}"),
            description: format!("TRANSFER ES91 2100 0418 4502 0005 1332 ref {i} ana@example.com"),
            counterparty: Some("Some Shop SL".into()),
            amount: amount(i),
            date: "2026-10-01".into(),
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..500 {
        let t = std::time::Instant::now();
        let v = engine
            .categorize_batch(&prompt, &batch, &categories, 0.8, &TraceId::new("b"))
            .await
            .expect("batch");
        times.push(t.elapsed());
        assert_eq!(v.len(), MAX_BATCH);
    }
    times.sort();
    let (p50, p99) = (times[times.len() / 2], times[times.len() * 99 / 100]);
    #[allow(clippy::print_stdout)]
    {
        println!("categorization batch of {MAX_BATCH}, our side: p50 {p50:?}, p99 {p99:?}");
    }
    assert!(p99 <= Duration::from_millis(2), "p99 {p99:?} > 2 ms");
}

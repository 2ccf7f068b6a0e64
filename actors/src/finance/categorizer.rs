//! `CategorizerActor`: categorizes transactions that are neither user-categorized nor locked
//! (rules first, then the learned model, which may abstain), learns from user corrections,
//! and measures itself (`categorization_latency_seconds`). Its rules and model live in memory;
//! the `CategoryStore` port persists them and the transactions.

use super::categorize::{Categorizer, LlmCategorizer, NaiveBayes, Rule, RuleSet, Tier, TxView};
use crate::TraceId;
use crate::ai::categorize::{LlmCandidate, MAX_BATCH, Verdict};
use crate::ports::DependencyError;
use actix::prelude::*;
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Instant;

/// In seconds, the base unit Prometheus names require (`promtool check metrics` rejects
/// an abbreviated `_ms`); decisions take microseconds, which the buckets resolve.
pub const CATEGORIZATION_LATENCY_SECONDS: &str = "categorization_latency_seconds";

/// The `tier` label values: who decided, or `none` when nobody did.
pub const TIERS: [&str; 4] = ["rule", "model", "llm", "none"];

/// Describes the metric and registers every tier's series, so `/metrics` shows them from
/// boot (empty histograms) instead of after the first categorization.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        CATEGORIZATION_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Time to decide one transaction's category (rules + model), by tier that decided."
    );
    for tier in TIERS {
        let _ = metrics::histogram!(CATEGORIZATION_LATENCY_SECONDS, "tier" => tier);
    }
}

/// A transaction as the categorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub account_id: String,
    pub description: String,
    pub counterparty: Option<String>,
    pub amount: Decimal,
    /// Booked date, `YYYY-MM-DD` (the LLM tier sends it: "monthly" payments read differently).
    pub date: String,
}

/// The LLM tier's answer below the threshold: shown to the user, never applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub transaction_id: String,
    pub category_id: String,
    pub confidence: f64,
}

/// Which transactions to (re)consider. Only uncategorized or automatically categorized,
/// unlocked ones are ever returned by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    ImportBatch(String),
    Ids(Vec<String>),
    /// Backfill: `YYYY-MM-DD` inclusive bounds, optionally one account.
    DateRange {
        from: String,
        to: String,
        account_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryChange {
    pub transaction_id: String,
    pub category_id: String,
    pub tier: Tier,
    pub rule_id: Option<String>,
    pub counterparty: Option<String>,
    pub notes: Option<String>,
}

/// A user-categorized transaction, as a training example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub description: String,
    pub counterparty: Option<String>,
    pub amount: Decimal,
    pub category_id: String,
}

#[async_trait]
pub trait CategoryStore: Send + Sync + 'static {
    async fn rules(&self) -> Result<Vec<Rule>, DependencyError>;
    async fn load_model(&self) -> Result<Option<NaiveBayes>, DependencyError>;
    async fn save_model(&self, model: &NaiveBayes) -> Result<(), DependencyError>;
    /// Every user-categorized transaction (to train a model from scratch).
    async fn examples(&self) -> Result<Vec<Example>, DependencyError>;
    /// Candidates in `selection`, `limit` at a time after `after` (an id), in id order.
    async fn candidates(
        &self,
        selection: &Selection,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Candidate>, DependencyError>;
    /// How many candidates `selection` has (for progress).
    async fn count(&self, selection: &Selection) -> Result<u64, DependencyError>;
    /// Writes the decisions (skipping any transaction a user locked meanwhile), with a
    /// `CategoryUpdated` outbox event per change. Returns how many were written.
    async fn apply(
        &self,
        changes: &[CategoryChange],
        trace_id: &TraceId,
    ) -> Result<u64, DependencyError>;
    /// The user's categories as (id, name), for the LLM tier. None: the tier is skipped.
    async fn categories(&self) -> Result<Vec<(String, String)>, DependencyError> {
        Ok(Vec::new())
    }
    /// Stores the LLM tier's low-confidence answers (skipping locked or user-set rows).
    async fn suggest(&self, _suggestions: &[Suggestion]) -> Result<u64, DependencyError> {
        Ok(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CategorizerConfig {
    /// Below this posterior the model abstains.
    pub threshold: f64,
    /// The model abstains until it has learned this many examples.
    pub min_examples: u64,
    pub batch: u32,
}

impl Default for CategorizerConfig {
    fn default() -> Self {
        Self {
            threshold: 0.6,
            min_examples: 10,
            batch: 500,
        }
    }
}

// ---- messages ------------------------------------------------------------------------

/// Categorize one batch of a selection (the job handler loops, reporting progress).
#[derive(Message)]
#[rtype(result = "Result<BatchResult, DependencyError>")]
pub struct CategorizeBatch {
    pub selection: Selection,
    pub after: Option<String>,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchResult {
    pub seen: u64,
    pub by_rule: u64,
    pub by_model: u64,
    /// Applied from the LLM tier (confidence at or above the threshold).
    pub by_llm: u64,
    /// Stored as suggestions (the LLM tier below the threshold); counted in `abstained` too.
    pub suggested: u64,
    pub abstained: u64,
    /// The last candidate id: pass as `after` for the next batch; `None` = done.
    pub next: Option<String>,
}

/// Rules changed: reload them.
#[derive(Message)]
#[rtype(result = "Result<usize, DependencyError>")]
pub struct ReloadRules;

/// A user set (or changed) a transaction's category: learn it, unlearning the old one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Learn {
    pub description: String,
    pub counterparty: Option<String>,
    pub amount: Decimal,
    /// The category the user replaced, if the model had learned it from them before.
    pub previous_user_category: Option<String>,
    pub category_id: String,
}

/// Dry run of the current categorizer on one transaction.
#[derive(Message)]
#[rtype(result = "super::categorize::Decision")]
pub struct Explain(pub Candidate);

// ---- state ---------------------------------------------------------------------------

pub struct CategorizerActor {
    store: Arc<dyn CategoryStore>,
    /// Tier 3, when an AI provider is configured.
    llm: Option<Arc<dyn LlmCategorizer>>,
    config: CategorizerConfig,
    categorizer: Arc<Categorizer>,
    dirty_model: bool,
    /// Rules and model are in memory; until then batches fail (retryably).
    loaded: bool,
}

impl CategorizerActor {
    pub fn new(store: Arc<dyn CategoryStore>, config: CategorizerConfig) -> Self {
        describe_metrics();
        Self {
            store,
            llm: None,
            config,
            categorizer: Arc::new(Categorizer {
                rules: RuleSet::default(),
                model: NaiveBayes::new(),
                threshold: config.threshold,
                min_examples: config.min_examples,
            }),
            dirty_model: false,
            loaded: false,
        }
    }

    /// Adds tier 3: what rules and model leave uncategorized goes to the LLM in batches.
    pub fn with_llm(mut self, llm: Arc<dyn LlmCategorizer>) -> Self {
        self.llm = Some(llm);
        self
    }

    fn categorizer_mut(&mut self) -> &mut Categorizer {
        Arc::make_mut(&mut self.categorizer)
    }
}

/// Loads rules and the model (training one from the user's categorized history when none
/// is stored yet).
async fn load(
    store: Arc<dyn CategoryStore>,
) -> Result<(RuleSet, NaiveBayes, bool), DependencyError> {
    let rules = RuleSet::new(store.rules().await?);
    if let Some(model) = store.load_model().await? {
        return Ok((rules, model, false));
    }
    let mut model = NaiveBayes::new();
    for e in store.examples().await? {
        let f = NaiveBayes::features(&e.description, e.counterparty.as_deref(), e.amount);
        model.learn(&f, &e.category_id);
    }
    Ok((rules, model, true))
}

// ---- actor ---------------------------------------------------------------------------

impl Actor for CategorizerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The database may not be up yet at boot: keep trying; batches meanwhile fail
        // retryably rather than categorize with no rules.
        let store = Arc::clone(&self.store);
        ctx.spawn(
            async move {
                let mut delay = std::time::Duration::from_millis(200);
                loop {
                    match load(Arc::clone(&store)).await {
                        Ok(v) => return v,
                        Err(e) => {
                            tracing::warn!(error = %e, "categorizer: loading rules/model failed; retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(std::time::Duration::from_secs(5));
                        }
                    }
                }
            }
            .into_actor(self)
            .map(|(rules, model, trained), act, _| {
                let c = act.categorizer_mut();
                c.rules = rules;
                c.model = model;
                act.dirty_model = trained;
                act.loaded = true;
            }),
        );
        // Persist learned changes every few seconds rather than per correction.
        ctx.run_interval(std::time::Duration::from_secs(5), |act, ctx| {
            if !act.dirty_model {
                return;
            }
            act.dirty_model = false;
            let (store, model) = (Arc::clone(&act.store), act.categorizer.model.clone());
            ctx.spawn(
                async move { store.save_model(&model).await }
                    .into_actor(act)
                    .map(|res, act, _| {
                        if let Err(e) = res {
                            tracing::warn!(error = %e, "categorizer: model not saved; will retry");
                            act.dirty_model = true;
                        }
                    }),
            );
        });
    }
}

// ---- handlers ------------------------------------------------------------------------

impl Handler<CategorizeBatch> for CategorizerActor {
    type Result = ResponseFuture<Result<BatchResult, DependencyError>>;

    fn handle(&mut self, msg: CategorizeBatch, _: &mut Context<Self>) -> Self::Result {
        if !self.loaded {
            return Box::pin(async {
                Err(DependencyError(
                    "the categorizer is still loading its rules and model".to_owned(),
                ))
            });
        }
        let (store, categorizer, limit, llm) = (
            Arc::clone(&self.store),
            Arc::clone(&self.categorizer),
            self.config.batch,
            self.llm.clone(),
        );
        Box::pin(async move {
            let candidates = store
                .candidates(&msg.selection, msg.after.as_deref(), limit)
                .await?;
            let mut out = BatchResult {
                seen: candidates.len() as u64,
                next: (candidates.len() as u32 == limit)
                    .then(|| candidates.last().map(|c| c.id.clone()))
                    .flatten(),
                ..BatchResult::default()
            };
            let mut changes = Vec::new();
            let mut left: Vec<(&Candidate, super::categorize::Decision)> = Vec::new();
            for c in &candidates {
                let started = Instant::now();
                let d = categorizer.decide(&TxView {
                    account_id: &c.account_id,
                    description: &c.description,
                    counterparty: c.counterparty.as_deref(),
                    amount: c.amount,
                });
                let tier = d.tier.map_or(TIERS[3], |t| match t {
                    Tier::Rule => TIERS[0],
                    Tier::Model => TIERS[1],
                    Tier::Llm => TIERS[2],
                });
                metrics::histogram!(CATEGORIZATION_LATENCY_SECONDS, "tier" => tier)
                    .record(started.elapsed().as_secs_f64());
                match (d.category.clone(), d.tier) {
                    (Some(category_id), Some(tier)) => {
                        match tier {
                            Tier::Rule => out.by_rule += 1,
                            Tier::Model => out.by_model += 1,
                            Tier::Llm => out.by_llm += 1,
                        }
                        changes.push(CategoryChange {
                            transaction_id: c.id.clone(),
                            category_id,
                            tier,
                            rule_id: d.rule_id.clone(),
                            counterparty: d.counterparty.clone(),
                            notes: d.notes.clone(),
                        });
                    }
                    _ => {
                        out.abstained += 1;
                        left.push((c, d));
                    }
                }
            }
            let mut suggestions = Vec::new();
            if let Some(llm) = llm.filter(|_| !left.is_empty()) {
                llm_tier(
                    llm.as_ref(),
                    store.as_ref(),
                    &left,
                    &msg.trace_id,
                    &mut out,
                    &mut changes,
                    &mut suggestions,
                )
                .await?;
            }
            store.apply(&changes, &msg.trace_id).await?;
            if !suggestions.is_empty() {
                store.suggest(&suggestions).await?;
            }
            Ok(out)
        })
    }
}

/// Tier 3 over what tiers 1-2 left: batches of at most 25. A failing provider (down, over
/// budget, breaker open) ends the tier for this batch without failing it: the transactions
/// simply stay uncategorized, as they would without AI.
async fn llm_tier(
    llm: &dyn LlmCategorizer,
    store: &dyn CategoryStore,
    left: &[(&Candidate, super::categorize::Decision)],
    trace_id: &TraceId,
    out: &mut BatchResult,
    changes: &mut Vec<CategoryChange>,
    suggestions: &mut Vec<Suggestion>,
) -> Result<(), DependencyError> {
    let categories = store.categories().await?;
    if categories.is_empty() {
        return Ok(());
    }
    for chunk in left.chunks(MAX_BATCH) {
        let batch: Vec<LlmCandidate> = chunk
            .iter()
            .map(|(c, d)| LlmCandidate {
                id: c.id.clone(),
                description: c.description.clone(),
                counterparty: d.counterparty.clone().or_else(|| c.counterparty.clone()),
                amount: c.amount,
                date: c.date.clone(),
            })
            .collect();
        let verdicts = match llm.categorize(batch, categories.clone(), trace_id).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "LLM categorization tier unavailable; transactions stay uncategorized");
                return Ok(());
            }
        };
        for (id, verdict) in verdicts {
            let Some((_, d)) = chunk.iter().find(|(c, _)| c.id == id) else {
                continue;
            };
            match verdict {
                Verdict::Apply { category_id, .. } => {
                    out.by_llm += 1;
                    out.abstained = out.abstained.saturating_sub(1);
                    changes.push(CategoryChange {
                        transaction_id: id,
                        category_id,
                        tier: Tier::Llm,
                        rule_id: None,
                        counterparty: d.counterparty.clone(),
                        notes: d.notes.clone(),
                    });
                }
                Verdict::Suggest {
                    category_id,
                    confidence,
                } => {
                    out.suggested += 1;
                    suggestions.push(Suggestion {
                        transaction_id: id,
                        category_id,
                        confidence,
                    });
                }
                Verdict::Abstain => {}
            }
        }
    }
    Ok(())
}

impl Handler<ReloadRules> for CategorizerActor {
    type Result = ResponseActFuture<Self, Result<usize, DependencyError>>;

    fn handle(&mut self, _: ReloadRules, _: &mut Context<Self>) -> Self::Result {
        let store = Arc::clone(&self.store);
        Box::pin(
            async move { store.rules().await }
                .into_actor(self)
                .map(|res, act, _| {
                    let rules = RuleSet::new(res?);
                    let n = rules.len();
                    act.categorizer_mut().rules = rules;
                    Ok(n)
                }),
        )
    }
}

impl Handler<Learn> for CategorizerActor {
    type Result = ();

    fn handle(&mut self, msg: Learn, _: &mut Context<Self>) {
        let f = NaiveBayes::features(&msg.description, msg.counterparty.as_deref(), msg.amount);
        let model = &mut self.categorizer_mut().model;
        if let Some(prev) = &msg.previous_user_category {
            model.unlearn(&f, prev);
        }
        model.learn(&f, &msg.category_id);
        self.dirty_model = true;
    }
}

impl Handler<Explain> for CategorizerActor {
    type Result = MessageResult<Explain>;

    fn handle(&mut self, msg: Explain, _: &mut Context<Self>) -> Self::Result {
        let c = msg.0;
        MessageResult(self.categorizer.decide(&TxView {
            account_id: &c.account_id,
            description: &c.description,
            counterparty: c.counterparty.as_deref(),
            amount: c.amount,
        }))
    }
}

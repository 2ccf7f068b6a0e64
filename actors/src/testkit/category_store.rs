//! `MemoryCategoryStore`: the `CategoryStore` port in memory.

use super::unavailable;
use crate::TraceId;
use crate::finance::categorize::{NaiveBayes, Rule, Tier};
use crate::finance::categorizer::{
    Candidate, CategoryChange, CategoryStore, Example, Selection, Suggestion,
};
use crate::ports::DependencyError;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A transaction as the fake stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTransaction {
    pub candidate: Candidate,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub import_id: Option<String>,
    pub category_id: Option<String>,
    /// Who set the category: a tier, or `None` with a category = the user.
    pub tier: Option<Tier>,
    /// A user's choice: never considered again, never overwritten.
    pub locked: bool,
}

impl StoredTransaction {
    /// An uncategorized, unlocked transaction.
    pub fn new(mut candidate: Candidate, date: &str) -> Self {
        candidate.date = date.to_owned();
        Self {
            candidate,
            date: date.to_owned(),
            import_id: None,
            category_id: None,
            tier: None,
            locked: false,
        }
    }

    /// Whether the categorizer may (re)consider it: not the user's and not locked.
    fn open(&self) -> bool {
        !self.locked && (self.category_id.is_none() || self.tier.is_some())
    }

    fn selected(&self, selection: &Selection) -> bool {
        match selection {
            Selection::ImportBatch(id) => self.import_id.as_ref() == Some(id),
            Selection::Ids(ids) => ids.contains(&self.candidate.id),
            Selection::DateRange {
                from,
                to,
                account_id,
            } => {
                self.date.as_str() >= from.as_str()
                    && self.date.as_str() <= to.as_str()
                    && account_id
                        .as_ref()
                        .is_none_or(|a| *a == self.candidate.account_id)
            }
        }
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    model: Option<NaiveBayes>,
    saved_models: u32,
    examples: Vec<Example>,
    /// By id (ids order candidates, as in the SQL store).
    transactions: BTreeMap<String, StoredTransaction>,
    applied: Vec<CategoryChange>,
    /// (id, name) offered to the LLM tier; empty = the tier is skipped.
    categories: Vec<(String, String)>,
    suggestions: Vec<Suggestion>,
    down: bool,
}

/// Rules, the model, training examples and transactions, in memory.
#[derive(Default)]
pub struct MemoryCategoryStore {
    state: Mutex<State>,
}

impl MemoryCategoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn up(&self) -> Result<MutexGuard<'_, State>, DependencyError> {
        let state = self.lock();
        if state.down {
            return Err(unavailable());
        }
        Ok(state)
    }

    /// Every call fails while `down` (a database outage).
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    pub fn set_categories(&self, categories: Vec<(String, String)>) {
        self.lock().categories = categories;
    }

    /// The LLM tier's suggestions, in order.
    pub fn suggestions(&self) -> Vec<Suggestion> {
        self.lock().suggestions.clone()
    }

    pub fn set_rules(&self, rules: Vec<Rule>) {
        self.lock().rules = rules;
    }

    pub fn add_example(&self, example: Example) {
        self.lock().examples.push(example);
    }

    pub fn add_transaction(&self, tx: StoredTransaction) {
        self.lock().transactions.insert(tx.candidate.id.clone(), tx);
    }

    /// The user picks `category_id` for the transaction: theirs, locked.
    pub fn user_sets(&self, id: &str, category_id: &str) {
        if let Some(tx) = self.lock().transactions.get_mut(id) {
            tx.category_id = Some(category_id.to_owned());
            tx.tier = None;
            tx.locked = true;
        }
    }

    pub fn transaction(&self, id: &str) -> Option<StoredTransaction> {
        self.lock().transactions.get(id).cloned()
    }

    /// Every change written, in order.
    pub fn applied(&self) -> Vec<CategoryChange> {
        self.lock().applied.clone()
    }

    /// The model as last saved, and how many times one was saved.
    pub fn saved_model(&self) -> (Option<NaiveBayes>, u32) {
        let state = self.lock();
        (state.model.clone(), state.saved_models)
    }
}

#[async_trait]
impl CategoryStore for MemoryCategoryStore {
    async fn rules(&self) -> Result<Vec<Rule>, DependencyError> {
        Ok(self.up()?.rules.clone())
    }

    async fn load_model(&self) -> Result<Option<NaiveBayes>, DependencyError> {
        Ok(self.up()?.model.clone())
    }

    async fn save_model(&self, model: &NaiveBayes) -> Result<(), DependencyError> {
        let mut state = self.up()?;
        state.model = Some(model.clone());
        state.saved_models += 1;
        Ok(())
    }

    async fn examples(&self) -> Result<Vec<Example>, DependencyError> {
        Ok(self.up()?.examples.clone())
    }

    async fn candidates(
        &self,
        selection: &Selection,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Candidate>, DependencyError> {
        Ok(self
            .up()?
            .transactions
            .values()
            .filter(|t| t.open() && t.selected(selection))
            .filter(|t| after.is_none_or(|a| t.candidate.id.as_str() > a))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|t| t.candidate.clone())
            .collect())
    }

    async fn count(&self, selection: &Selection) -> Result<u64, DependencyError> {
        Ok(self
            .up()?
            .transactions
            .values()
            .filter(|t| t.open() && t.selected(selection))
            .count() as u64)
    }

    async fn apply(
        &self,
        changes: &[CategoryChange],
        _trace_id: &TraceId,
    ) -> Result<u64, DependencyError> {
        let mut state = self.up()?;
        let mut written = 0;
        for change in changes {
            let Some(tx) = state.transactions.get_mut(&change.transaction_id) else {
                continue;
            };
            if !tx.open() {
                continue;
            }
            tx.category_id = Some(change.category_id.clone());
            tx.tier = Some(change.tier);
            state.applied.push(change.clone());
            written += 1;
        }
        Ok(written)
    }

    async fn categories(&self) -> Result<Vec<(String, String)>, DependencyError> {
        Ok(self.up()?.categories.clone())
    }

    async fn suggest(&self, suggestions: &[Suggestion]) -> Result<u64, DependencyError> {
        let mut state = self.up()?;
        state.suggestions.extend_from_slice(suggestions);
        Ok(suggestions.len() as u64)
    }
}

//! `[finance]`: categorization and imports.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinanceSettings {
    /// The learned model only categorizes when its best guess has at least this probability
    /// (0-1); below it the transaction stays uncategorized for you (or a rule) to decide.
    pub model_threshold: f64,
    /// The model stays silent until it has learned from this many of your categorizations.
    pub model_min_examples: u64,
    /// The LLM tier's answer is applied (tier `llm`) at this confidence or above (0-1);
    /// below it, it is stored as a suggestion for you to accept.
    pub llm_threshold: f64,
}

impl Default for FinanceSettings {
    fn default() -> Self {
        Self {
            model_threshold: 0.6,
            model_min_examples: 10,
            llm_threshold: 0.8,
        }
    }
}

//! Tiered categorisation: tier 1 user rules ([`RuleSet`]), tier 2 the local learned model
//! ([`NaiveBayes`]), tier 3 an LLM behind the [`LlmCategorizer`] seam, asked only about what
//! the first two left uncategorised (it is slow, costs money and sends data out).

pub mod model;
pub mod rules;

pub use model::{NaiveBayes, Prediction};
pub use rules::{Condition, Direction, Rule, RuleActions, RuleOutcome, RuleSet, TxView};

use serde::{Deserialize, Serialize};

/// Who categorised a transaction; matches the DB's `categorized_by` values besides `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Rule,
    Model,
    Llm,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Category id, `None` when every tier abstained.
    pub category: Option<String>,
    pub tier: Option<Tier>,
    /// The rule that set the category (tier 1 only).
    pub rule_id: Option<String>,
    /// The model's posterior (tier 2 only); rules are not probabilistic.
    pub confidence: Option<f64>,
    /// From rule actions, whichever tier decided the category.
    pub counterparty: Option<String>,
    pub notes: Option<String>,
}

/// Tiers 1 and 2 together, with the model's acceptance settings.
#[derive(Debug, Clone)]
pub struct Categorizer {
    pub rules: RuleSet,
    pub model: NaiveBayes,
    /// Minimum posterior for the model's answer to be used.
    pub threshold: f64,
    /// The model abstains until it has learned this many examples.
    pub min_examples: u64,
}

impl Categorizer {
    /// Tier 1 rules (category from the last matching rule that sets one); if no rule sets a
    /// category, tier 2 the model (may abstain). Rule actions for counterparty/notes are
    /// returned regardless. Tier 3 (LLM) is not called here (see [`LlmCategorizer`]).
    ///
    /// The model sees the counterparty a rule set, if any, in place of the line's own: that is
    /// what gets stored and later learned from, so features match between learn and predict.
    pub fn decide(&self, tx: &TxView<'_>) -> Decision {
        let outcome = self.rules.apply(tx);
        let mut decision = Decision {
            category: None,
            tier: None,
            rule_id: None,
            confidence: None,
            counterparty: outcome.counterparty,
            notes: outcome.notes,
        };
        if let Some((category, rule_id)) = outcome.category {
            decision.category = Some(category);
            decision.tier = Some(Tier::Rule);
            decision.rule_id = Some(rule_id);
            return decision;
        }
        let counterparty = decision.counterparty.as_deref().or(tx.counterparty);
        let features = NaiveBayes::features(tx.description, counterparty, tx.amount);
        if let Some(p) = self
            .model
            .predict(&features, self.threshold, self.min_examples)
        {
            decision.category = Some(p.category);
            decision.tier = Some(Tier::Model);
            decision.confidence = Some(p.confidence);
        }
        decision
    }
}

/// Tier 3: asked only about transactions tiers 1-2 left uncategorized, one batch (at most
/// [`crate::ai::categorize::MAX_BATCH`]) at a time, with the (category id, name) pairs to
/// choose from. Every transaction of the batch gets a verdict (apply, suggest or abstain).
#[async_trait::async_trait]
pub trait LlmCategorizer: Send + Sync + 'static {
    async fn categorize(
        &self,
        batch: Vec<crate::ai::categorize::LlmCandidate>,
        categories: Vec<(String, String)>,
        trace_id: &crate::TraceId,
    ) -> Result<Vec<(String, crate::ai::categorize::Verdict)>, crate::ports::DependencyError>;
}

#[cfg(test)]
mod tests {
    use rust_decimal::{Decimal, dec};

    use super::*;

    fn tx<'a>(description: &'a str, amount: Decimal) -> TxView<'a> {
        TxView {
            account_id: "acc",
            description,
            counterparty: None,
            amount,
        }
    }

    fn model() -> NaiveBayes {
        let mut m = NaiveBayes::new();
        for (d, a, c) in [
            ("mercadona", dec!(-30), "groceries"),
            ("lidl", dec!(-20), "groceries"),
            ("mercadona centro", dec!(-40), "groceries"),
            ("uber trip", dec!(-10), "transport"),
            ("renfe", dec!(-25), "transport"),
            ("uber", dec!(-12), "transport"),
        ] {
            m.learn(&NaiveBayes::features(d, None, a), c);
        }
        m
    }

    fn rule(value: &str, actions: RuleActions) -> Rule {
        Rule {
            id: "r1".into(),
            name: "r1".into(),
            position: 1,
            enabled: true,
            match_all: true,
            conditions: vec![Condition::DescriptionContains {
                value: value.into(),
            }],
            actions,
            stop_processing: false,
        }
    }

    fn categorizer(rules: Vec<Rule>) -> Categorizer {
        Categorizer {
            rules: RuleSet::new(rules),
            model: model(),
            threshold: 0.6,
            min_examples: 5,
        }
    }

    #[test]
    fn rule_beats_model() {
        let c = categorizer(vec![rule(
            "mercadona",
            RuleActions {
                set_category: Some("eating_out".into()),
                ..RuleActions::default()
            },
        )]);
        let d = c.decide(&tx("MERCADONA 12", dec!(-30)));
        assert_eq!(d.category.as_deref(), Some("eating_out"));
        assert_eq!(d.tier, Some(Tier::Rule));
        assert_eq!(d.rule_id.as_deref(), Some("r1"));
        assert_eq!(d.confidence, None);
    }

    #[test]
    fn model_used_when_no_rule_sets_a_category() {
        let c = categorizer(vec![rule(
            "mercadona",
            RuleActions {
                set_notes: Some("weekly shop".into()),
                ..RuleActions::default()
            },
        )]);
        let d = c.decide(&tx("MERCADONA 12", dec!(-30)));
        assert_eq!(d.category.as_deref(), Some("groceries"));
        assert_eq!(d.tier, Some(Tier::Model));
        assert_eq!(d.rule_id, None);
        assert!(d.confidence.is_some_and(|p| p >= 0.6));
        assert_eq!(d.notes.as_deref(), Some("weekly shop"));
    }

    #[test]
    fn none_when_both_abstain() {
        let c = categorizer(vec![]);
        let d = c.decide(&tx("something else entirely", dec!(-30)));
        assert_eq!(
            d,
            Decision {
                category: None,
                tier: None,
                rule_id: None,
                confidence: None,
                counterparty: None,
                notes: None,
            }
        );
    }

    #[test]
    fn tier_serde_matches_db_values() {
        let json = serde_json::to_string(&[Tier::Rule, Tier::Model, Tier::Llm]).expect("json");
        assert_eq!(json, r#"["rule","model","llm"]"#);
    }
}

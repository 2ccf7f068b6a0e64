//! Tier 2: a local learned model, multinomial naive Bayes over tokens of the description and
//! counterparty. Small, incremental (every user categorisation is one `learn`, a correction an
//! `unlearn` + `learn`), explainable, and serialisable to JSON so the root crate can persist it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::dec;
use serde::{Deserialize, Serialize};

use super::rules::Direction;

/// Prefixes of the tokens that are not words. They sharpen a prediction, but alone they are
/// no evidence: a text with no known word abstains.
const META_PREFIXES: [&str; 2] = ["dir:", "amt:"];

/// Counts per category and token. `BTreeMap`s keep the JSON deterministic (stable diffs, equal
/// models serialise equally). The field names are the persisted format.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NaiveBayes {
    /// Examples learned per category (entries at zero are removed).
    docs: BTreeMap<String, u64>,
    /// Token counts per category.
    tokens: BTreeMap<String, BTreeMap<String, u64>>,
    /// Sum of `tokens[category]`, kept to avoid summing on every prediction.
    totals: BTreeMap<String, u64>,
    /// Token counts over all categories; its keys are the vocabulary.
    vocab: BTreeMap<String, u64>,
    examples: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub category: String,
    /// Posterior of the best class, 0..1.
    pub confidence: f64,
}

fn decrement(map: &mut BTreeMap<String, u64>, key: &str, by: u64) -> u64 {
    let Some(n) = map.get_mut(key) else { return 0 };
    let taken = by.min(*n);
    *n -= taken;
    if *n == 0 {
        map.remove(key);
    }
    taken
}

fn amount_bucket(amount: Decimal) -> &'static str {
    let abs = amount.abs();
    if abs < dec!(1) {
        "amt:0-1"
    } else if abs < dec!(10) {
        "amt:1-10"
    } else if abs < dec!(100) {
        "amt:10-100"
    } else if abs < dec!(1000) {
        "amt:100-1000"
    } else if abs < dec!(10000) {
        "amt:1000-10000"
    } else {
        "amt:10000+"
    }
}

/// Lowercase runs of letters of at least 2 characters. Digits split and vanish, so
/// "AMAZON 1234" and "AMAZON*5678" both give `amazon`.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
}

impl NaiveBayes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Features: lowercase word tokens of the description and counterparty (letters only,
    /// ≥ 2 chars), counterparty tokens prefixed `cp:`, a direction token (`dir:debit` /
    /// `dir:credit`) and an amount-magnitude bucket (`amt:10-100`, by powers of ten).
    pub fn features(description: &str, counterparty: Option<&str>, amount: Decimal) -> Vec<String> {
        let mut out: Vec<String> = words(description).collect();
        if let Some(cp) = counterparty {
            out.extend(words(cp).map(|w| format!("cp:{w}")));
        }
        out.push(
            match Direction::of(amount) {
                Direction::Debit => "dir:debit",
                Direction::Credit => "dir:credit",
            }
            .to_string(),
        );
        out.push(amount_bucket(amount).to_string());
        out
    }

    /// Adds one example (incremental).
    pub fn learn(&mut self, features: &[String], category: &str) {
        *self.docs.entry(category.to_string()).or_default() += 1;
        self.examples += 1;
        let counts = self.tokens.entry(category.to_string()).or_default();
        for f in features {
            *counts.entry(f.clone()).or_default() += 1;
            *self.vocab.entry(f.clone()).or_default() += 1;
        }
        *self.totals.entry(category.to_string()).or_default() += features.len() as u64;
    }

    /// Undoes an earlier `learn` of the same features and category (a user correction moves
    /// an example). Counts never go below zero; a category with no examples is left alone.
    pub fn unlearn(&mut self, features: &[String], category: &str) {
        if decrement(&mut self.docs, category, 1) == 0 {
            return;
        }
        self.examples = self.examples.saturating_sub(1);
        let mut removed = 0;
        if let Some(counts) = self.tokens.get_mut(category) {
            for f in features {
                let taken = decrement(counts, f, 1);
                decrement(&mut self.vocab, f, taken);
                removed += taken;
            }
            if counts.is_empty() {
                self.tokens.remove(category);
            }
        }
        decrement(&mut self.totals, category, removed);
        // Its last example gone (features that did not match what was learned can leave
        // strays): drop the category's remaining tokens so the vocabulary stays consistent.
        if !self.docs.contains_key(category)
            && let Some(counts) = self.tokens.remove(category)
        {
            for (token, n) in counts {
                decrement(&mut self.vocab, &token, n);
            }
            self.totals.remove(category);
        }
    }

    pub fn examples(&self) -> u64 {
        self.examples
    }

    /// Laplace smoothing, log-space. Abstains (`None`) with fewer than 2 categories, fewer than
    /// `min_examples` examples, no known word among the features (only direction/amount
    /// tokens, or nothing seen before: "unrelated text"), or when the best posterior is below
    /// `threshold`. Unknown tokens are ignored rather than smoothed: they carry no evidence
    /// and would only penalise the categories with more tokens.
    pub fn predict(
        &self,
        features: &[String],
        threshold: f64,
        min_examples: u64,
    ) -> Option<Prediction> {
        if self.docs.len() < 2 || self.examples < min_examples || self.examples == 0 {
            return None;
        }
        let known: Vec<&String> = features
            .iter()
            .filter(|f| self.vocab.contains_key(f.as_str()))
            .collect();
        if !known
            .iter()
            .any(|f| !META_PREFIXES.iter().any(|p| f.starts_with(p)))
        {
            return None;
        }
        let vocab = self.vocab.len() as f64;
        let total = self.examples as f64;
        let empty = BTreeMap::new();
        let scores: Vec<(&String, f64)> = self
            .docs
            .iter()
            .map(|(category, &docs)| {
                let counts = self.tokens.get(category).unwrap_or(&empty);
                let denom = (self.totals.get(category).copied().unwrap_or(0) as f64 + vocab).ln();
                let likelihood: f64 = known
                    .iter()
                    .map(|f| {
                        (counts.get(f.as_str()).copied().unwrap_or(0) as f64 + 1.0).ln() - denom
                    })
                    .sum();
                (category, (docs as f64 / total).ln() + likelihood)
            })
            .collect();
        let (best, best_score) = scores.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
        // Softmax of the best class, shifted by its own score so nothing overflows.
        let norm: f64 = scores.iter().map(|(_, s)| (s - best_score).exp()).sum();
        let confidence = 1.0 / norm;
        (confidence >= threshold).then(|| Prediction {
            category: best.clone(),
            confidence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(description: &str, amount: Decimal) -> Vec<String> {
        NaiveBayes::features(description, None, amount)
    }

    fn trained() -> NaiveBayes {
        let mut m = NaiveBayes::new();
        let examples: [(&str, Decimal, &str); 21] = [
            ("MERCADONA VALENCIA 1234", dec!(-45.20), "groceries"),
            ("Mercadona Madrid", dec!(-23.10), "groceries"),
            ("CARREFOUR MARKET 77", dec!(-61.00), "groceries"),
            ("Lidl supermarket 0921", dec!(-18.75), "groceries"),
            ("LIDL BARCELONA", dec!(-33.40), "groceries"),
            ("Carrefour express", dec!(-12.30), "groceries"),
            ("ALDI supermarket", dec!(-27.80), "groceries"),
            ("UBER TRIP 8812", dec!(-14.50), "transport"),
            ("Uber trip help.uber.com", dec!(-9.90), "transport"),
            ("RENFE VIAJEROS billete", dec!(-34.00), "transport"),
            ("Renfe cercanias", dec!(-2.40), "transport"),
            ("METRO MADRID recarga", dec!(-12.20), "transport"),
            ("Cabify ride", dec!(-11.35), "transport"),
            ("Shell gasolinera 44", dec!(-60.00), "transport"),
            ("NOMINA ACME SL", dec!(2450.00), "salary"),
            ("Nomina marzo ACME", dec!(2450.00), "salary"),
            ("TRANSFERENCIA NOMINA", dec!(2510.00), "salary"),
            ("Nomina abril", dec!(2450.00), "salary"),
            ("PAYROLL ACME", dec!(2600.00), "salary"),
            ("Salary ACME SL", dec!(2450.00), "salary"),
            ("Nomina mayo ACME SL", dec!(2450.00), "salary"),
        ];
        for (d, a, c) in examples {
            m.learn(&f(d, a), c);
        }
        m
    }

    #[test]
    fn features_shape() {
        let fs = NaiveBayes::features("AMAZON*1234 Mktp", Some("Amazon EU"), dec!(-42.5));
        assert_eq!(
            fs,
            vec![
                "amazon",
                "mktp",
                "cp:amazon",
                "cp:eu",
                "dir:debit",
                "amt:10-100"
            ]
        );
        assert_eq!(
            NaiveBayes::features("AMAZON 1234", None, dec!(5)),
            NaiveBayes::features("amazon 5678", None, dec!(7))
        );
        assert!(NaiveBayes::features("x", None, dec!(0)).contains(&"dir:credit".to_string()));
        assert!(NaiveBayes::features("x", None, dec!(-12000)).contains(&"amt:10000+".to_string()));
    }

    #[test]
    fn predicts_similar_descriptions() {
        let m = trained();
        assert_eq!(m.examples(), 21);
        let p = m
            .predict(&f("MERCADONA ALICANTE 999", dec!(-38.00)), 0.7, 10)
            .expect("groceries predicted");
        assert_eq!(p.category, "groceries");
        assert!(p.confidence > 0.7 && p.confidence <= 1.0, "{p:?}");
        let p = m
            .predict(&f("UBER TRIP 4411", dec!(-8.00)), 0.7, 10)
            .expect("transport predicted");
        assert_eq!(p.category, "transport");
        let p = m
            .predict(&f("NOMINA JUNIO", dec!(2450)), 0.7, 10)
            .expect("salary predicted");
        assert_eq!(p.category, "salary");
    }

    #[test]
    fn abstains() {
        let m = trained();
        // Unrelated text: no known word, only direction/amount tokens.
        assert_eq!(m.predict(&f("zzz qqq 123", dec!(-20)), 0.7, 10), None);
        // Below min_examples.
        assert_eq!(m.predict(&f("mercadona", dec!(-20)), 0.7, 100), None);
        // Below threshold.
        let p = m
            .predict(&f("carrefour", dec!(-20)), 0.0, 10)
            .expect("predicted without threshold");
        assert!(p.confidence < 1.0, "{p:?}");
        let above = (p.confidence + 1.0) / 2.0;
        assert_eq!(m.predict(&f("carrefour", dec!(-20)), above, 10), None);
        // One category only.
        let mut one = NaiveBayes::new();
        for _ in 0..20 {
            one.learn(&f("mercadona", dec!(-20)), "groceries");
        }
        assert_eq!(one.predict(&f("mercadona", dec!(-20)), 0.5, 1), None);
        assert_eq!(NaiveBayes::new().predict(&f("x", dec!(1)), 0.0, 0), None);
    }

    #[test]
    fn unlearn_moves_a_correction() {
        let mut m = trained();
        let fs = f("DECATHLON sport", dec!(-55.00));
        for _ in 0..3 {
            m.learn(&fs, "transport");
        }
        let before = m.predict(&fs, 0.5, 1).expect("predicted");
        assert_eq!(before.category, "transport");
        for _ in 0..3 {
            m.unlearn(&fs, "transport");
            m.learn(&fs, "shopping");
        }
        let after = m.predict(&fs, 0.5, 1).expect("predicted");
        assert_eq!(after.category, "shopping");
        assert_eq!(m.examples(), 24);
    }

    #[test]
    fn unlearn_restores_and_never_goes_below_zero() {
        let base = trained();
        let mut m = base.clone();
        let fs = f("new thing", dec!(-5));
        m.learn(&fs, "other");
        m.unlearn(&fs, "other");
        assert_eq!(m, base);
        m.unlearn(&fs, "other");
        m.unlearn(&fs, "nonexistent");
        assert_eq!(m, base);
        // Unlearning different features than were learned leaves no stray tokens behind.
        m.learn(&fs, "other");
        m.unlearn(&f("something", dec!(-5)), "other");
        assert_eq!(m, base);
    }

    #[test]
    fn serde_round_trip() {
        let m = trained();
        let json = serde_json::to_string(&m).expect("serialises");
        let back: NaiveBayes = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, m);
        let fs = f("lidl 12", dec!(-20));
        assert_eq!(back.predict(&fs, 0.5, 1), m.predict(&fs, 0.5, 1));
    }

    #[test]
    fn many_predictions_run() {
        // Sanity that prediction stays cheap enough for bulk imports; no timing assertion.
        let m = trained();
        let fs = f("MERCADONA 1", dec!(-30));
        let hits = (0..10_000)
            .filter(|_| m.predict(&fs, 0.5, 1).is_some())
            .count();
        assert_eq!(hits, 10_000);
    }
}

//! The LLM categorization tier, pure parts: batches of at most [`MAX_BATCH`] transactions,
//! each referred to by a short ref (`t1`…) so the model can neither invent a transaction nor
//! see our ids; the user's categories passed as an enum (plus `null`) in a strict schema so
//! it cannot invent a category; descriptions and counterparties redacted; only the amount's
//! sign is sent. The answer splits by confidence into applied (`>= threshold`) and
//! suggestions; a missing, duplicated or `null` answer means abstain.

use super::redact::Redactor;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Maybe Finance's batch size: small enough for a reliable strict answer.
pub const MAX_BATCH: usize = 25;

/// A transaction the rules and the local model left uncategorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmCandidate {
    pub id: String,
    pub description: String,
    pub counterparty: Option<String>,
    pub amount: Decimal,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// What the model said about one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// `confidence >= threshold`: written with tier `llm` (never over a locked category).
    Apply {
        category_id: String,
        confidence: f64,
    },
    /// Below the threshold: stored as a suggestion for the user.
    Suggest {
        category_id: String,
        confidence: f64,
    },
    Abstain,
}

/// The request for one batch: the user message (JSON) and the schema the answer must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPrompt {
    pub input: Value,
    pub schema: Value,
    /// ref → transaction id.
    pub refs: Vec<(String, String)>,
}

pub fn batches(candidates: &[LlmCandidate]) -> impl Iterator<Item = &[LlmCandidate]> {
    candidates.chunks(MAX_BATCH)
}

/// Builds the (redacted) input and strict schema for one batch of at most [`MAX_BATCH`].
pub fn prompt(
    batch: &[LlmCandidate],
    categories: &[(String, String)],
    redactor: &mut Redactor,
) -> BatchPrompt {
    let refs: Vec<(String, String)> = batch
        .iter()
        .take(MAX_BATCH)
        .enumerate()
        .map(|(i, c)| (format!("t{}", i + 1), c.id.clone()))
        .collect();
    let transactions: Vec<Value> = batch
        .iter()
        .zip(&refs)
        .map(|(c, (r, _))| {
            json!({
                "ref": r,
                "description": redactor.redact(&c.description),
                "counterparty": c.counterparty.as_deref().map(|p| redactor.redact(p)),
                "direction": if c.amount.is_sign_negative() { "out" } else { "in" },
                "date": c.date,
            })
        })
        .collect();
    let cats: Vec<Value> = categories
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    let mut cat_enum: Vec<Value> = categories.iter().map(|(id, _)| json!(id)).collect();
    cat_enum.push(Value::Null);
    let ref_enum: Vec<Value> = refs.iter().map(|(r, _)| json!(r)).collect();
    let schema = json!({
        "type": "object",
        "properties": {
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "ref": {"type": "string", "enum": ref_enum},
                        "category_id": {"type": ["string", "null"], "enum": cat_enum},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1}
                    },
                    "required": ["ref", "category_id", "confidence"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["results"],
        "additionalProperties": false
    });
    BatchPrompt {
        input: json!({"categories": cats, "transactions": transactions}),
        schema,
        refs,
    }
}

/// Maps a schema-valid answer back to transaction ids. Every transaction of the batch gets
/// a verdict; one answered twice is treated as not answered (abstain).
pub fn verdicts(prompt: &BatchPrompt, answer: &Value, threshold: f64) -> Vec<(String, Verdict)> {
    let mut seen: HashMap<&str, Option<(String, f64)>> = HashMap::new();
    let mut twice: Vec<String> = Vec::new();
    for item in answer["results"].as_array().into_iter().flatten() {
        let Some(r) = item["ref"].as_str() else {
            continue;
        };
        let choice = item["category_id"]
            .as_str()
            .zip(item["confidence"].as_f64())
            .map(|(c, p)| (c.to_owned(), p));
        if seen.insert(r, choice).is_some() {
            twice.push(r.to_owned());
        }
    }
    prompt
        .refs
        .iter()
        .map(|(r, id)| {
            let v = match seen.get(r.as_str()) {
                Some(Some((c, p))) if !twice.contains(r) => {
                    if *p >= threshold {
                        Verdict::Apply {
                            category_id: c.clone(),
                            confidence: *p,
                        }
                    } else {
                        Verdict::Suggest {
                            category_id: c.clone(),
                            confidence: *p,
                        }
                    }
                }
                _ => Verdict::Abstain,
            };
            (id.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::schema::validate;
    use rust_decimal::dec;

    fn cand(i: usize, description: &str) -> LlmCandidate {
        LlmCandidate {
            id: format!("tx-{i}"),
            description: description.to_owned(),
            counterparty: None,
            amount: dec!(-12.5),
            date: "2026-10-01".into(),
        }
    }

    fn cats() -> Vec<(String, String)> {
        vec![
            ("food".into(), "Food".into()),
            ("rent".into(), "Rent".into()),
        ]
    }

    #[test]
    fn batches_of_at_most_25() {
        let c: Vec<_> = (0..60).map(|i| cand(i, "x")).collect();
        let sizes: Vec<usize> = batches(&c).map(<[_]>::len).collect();
        assert_eq!(sizes, vec![25, 25, 10]);
    }

    #[test]
    fn prompt_is_redacted_and_only_sends_the_sign() {
        let mut r = Redactor::new();
        let p = prompt(
            &[cand(1, "TRANSFER ES91 2100 0418 4502 0005 1332")],
            &cats(),
            &mut r,
        );
        let text = p.input.to_string();
        assert!(!text.contains("2100 0418"), "{text}");
        assert!(!text.contains("12.5"), "{text}");
        assert!(!text.contains("tx-1"), "{text}");
        assert!(text.contains("\"direction\":\"out\""), "{text}");
    }

    #[test]
    fn schema_refuses_invented_categories_and_refs() {
        let mut r = Redactor::new();
        let p = prompt(&[cand(1, "a"), cand(2, "b")], &cats(), &mut r);
        let bad = json!({"results": [{"ref": "t3", "category_id": "cars", "confidence": 0.9}]});
        assert_eq!(validate(&p.schema, &bad).len(), 2);
        let good = json!({"results": [{"ref": "t1", "category_id": null, "confidence": 0.2}]});
        assert!(validate(&p.schema, &good).is_empty());
    }

    #[test]
    fn thresholds_split_apply_suggest_abstain() {
        let mut r = Redactor::new();
        let p = prompt(
            &[cand(1, "a"), cand(2, "b"), cand(3, "c"), cand(4, "d")],
            &cats(),
            &mut r,
        );
        let answer = json!({"results": [
            {"ref": "t1", "category_id": "food", "confidence": 0.95},
            {"ref": "t2", "category_id": "rent", "confidence": 0.4},
            {"ref": "t3", "category_id": null, "confidence": 0.9},
            {"ref": "t4", "category_id": "food", "confidence": 0.9},
            {"ref": "t4", "category_id": "rent", "confidence": 0.9}
        ]});
        let v = verdicts(&p, &answer, 0.8);
        assert_eq!(
            v,
            vec![
                (
                    "tx-1".into(),
                    Verdict::Apply {
                        category_id: "food".into(),
                        confidence: 0.95
                    }
                ),
                (
                    "tx-2".into(),
                    Verdict::Suggest {
                        category_id: "rent".into(),
                        confidence: 0.4
                    }
                ),
                ("tx-3".into(), Verdict::Abstain),
                ("tx-4".into(), Verdict::Abstain),
            ]
        );
    }
}

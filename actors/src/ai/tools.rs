//! The "ask your money" tool loop, pure parts: which tool calls are allowed (only the
//! registered read-only tools, arguments valid against their schema), how many steps the
//! model gets, and whether the final answer's numbers all come from tool results (or the
//! question): an answer with an invented number gets one repair, then the loop abstains.

use super::provider::{Content, ToolCall, ToolSpec};
use super::schema;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The tools the model may call. Every one is read-only by construction: the registry is
/// built from the read functions only, so a mutating name is simply unknown.
#[derive(Debug, Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<ToolSpec>,
}

impl ToolRegistry {
    pub fn new(tools: Vec<ToolSpec>) -> Self {
        Self { tools }
    }

    pub fn specs(&self) -> &[ToolSpec] {
        &self.tools
    }

    /// `Ok` when `call` names a registered tool with valid arguments; otherwise the reason,
    /// which goes back to the model as the tool's result.
    pub fn check(&self, call: &ToolCall) -> Result<(), String> {
        let Some(spec) = self.tools.iter().find(|t| t.name == call.name) else {
            return Err(format!(
                "refused: `{}` is not an available tool; only these read-only tools exist: {}",
                call.name,
                self.tools
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let violations = schema::validate(&spec.parameters, &call.arguments);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "refused: invalid arguments for `{}`: {}",
                call.name,
                schema::summary(&violations)
            ))
        }
    }
}

/// One tool call as reported to the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    pub name: String,
    pub arguments: serde_json::Value,
    /// A short summary of the result (or the refusal).
    pub result: String,
    pub refused: bool,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Run the accepted calls; send the refusals back as their results.
    Execute {
        accepted: Vec<ToolCall>,
        refused: Vec<(ToolCall, String)>,
    },
    /// Ask the model again with this correction.
    Repair(String),
    Answer(String),
    /// The model declined to answer.
    Refused(String),
    /// No grounded answer within the limits.
    Abstain(String),
}

#[allow(clippy::expect_used)]
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d+(?:[.,]\d+)*").expect("number regex"));

/// A number's digits without separators or trailing zeros, so `1,234.50`, `1234.5` and
/// `-1234.50` compare equal.
fn digits(n: &str) -> String {
    let d: String = n.chars().filter(char::is_ascii_digit).collect();
    let t = d.trim_end_matches('0');
    if t.is_empty() {
        "0".to_owned()
    } else {
        t.to_owned()
    }
}

/// Numbers in `answer` that appear neither in the evidence (tool results, question) nor
/// are small counting words (≤ 12: list numbering, "2 strategies" from a list's length).
pub fn ungrounded_numbers(answer: &str, evidence: &[&str]) -> Vec<String> {
    let known: std::collections::HashSet<String> = evidence
        .iter()
        .flat_map(|e| NUMBER.find_iter(e).map(|m| digits(m.as_str())))
        .collect();
    NUMBER
        .find_iter(answer)
        .map(|m| m.as_str())
        .filter(|n| !(n.parse::<u32>().is_ok_and(|v| v <= 12)))
        .filter(|n| !known.contains(&digits(n)))
        .map(str::to_owned)
        .collect()
}

#[derive(Debug, Clone)]
pub struct ToolLoop {
    pub max_steps: u32,
    steps: u32,
    repaired: bool,
    pub records: Vec<ToolCallRecord>,
    /// Tool results and the question: the only allowed sources of numbers.
    evidence: Vec<String>,
}

impl ToolLoop {
    pub fn new(max_steps: u32, question: &str) -> Self {
        Self {
            max_steps,
            steps: 0,
            repaired: false,
            records: Vec::new(),
            evidence: vec![question.to_owned()],
        }
    }

    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The model's reply → what to do next.
    pub fn on_reply(&mut self, registry: &ToolRegistry, content: &Content) -> Next {
        match content {
            Content::ToolCalls { calls, .. } => {
                self.steps += 1;
                if self.steps > self.max_steps {
                    return Next::Abstain(format!(
                        "I could not answer within {} tool steps.",
                        self.max_steps
                    ));
                }
                let (mut accepted, mut refused) = (Vec::new(), Vec::new());
                for call in calls {
                    match registry.check(call) {
                        Ok(()) => accepted.push(call.clone()),
                        Err(reason) => {
                            self.records.push(ToolCallRecord {
                                name: call.name.clone(),
                                arguments: call.arguments.clone(),
                                result: reason.clone(),
                                refused: true,
                            });
                            refused.push((call.clone(), reason));
                        }
                    }
                }
                Next::Execute { accepted, refused }
            }
            Content::Refusal(text) => Next::Refused(text.clone()),
            Content::Text(text) => self.check_answer(text),
            Content::Json(v) => self.check_answer(&v.to_string()),
            Content::Unparsable(text) => self.check_answer(text),
        }
    }

    fn check_answer(&mut self, text: &str) -> Next {
        let evidence: Vec<&str> = self.evidence.iter().map(String::as_str).collect();
        let bad = ungrounded_numbers(text, &evidence);
        if bad.is_empty() {
            return Next::Answer(text.to_owned());
        }
        if self.repaired {
            return Next::Abstain(
                "I could not give an answer whose figures all come from your data.".to_owned(),
            );
        }
        self.repaired = true;
        Next::Repair(format!(
            "Your answer contains numbers that are not in any tool result: {}. Use only figures \
             returned by the tools (call a tool if you need one) and answer again.",
            bad.join(", ")
        ))
    }

    /// Records an executed call and adds its full result to the evidence.
    pub fn record(&mut self, call: &ToolCall, result: &str, summary: String) {
        self.evidence.push(result.to_owned());
        self.records.push(ToolCallRecord {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            result: summary,
            refused: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> ToolRegistry {
        ToolRegistry::new(vec![ToolSpec {
            name: "spending_report".into(),
            description: "spending by category".into(),
            parameters: json!({
                "type": "object",
                "properties": {"month": {"type": "string", "maxLength": 7}},
                "required": ["month"],
                "additionalProperties": false
            }),
        }])
    }

    fn call(name: &str, args: serde_json::Value) -> ToolCall {
        ToolCall {
            id: "c1".into(),
            name: name.into(),
            arguments: args,
        }
    }

    fn calls(c: Vec<ToolCall>) -> Content {
        Content::ToolCalls {
            text: None,
            calls: c,
        }
    }

    #[test]
    fn unknown_mutating_and_invalid_calls_are_refused() {
        let mut l = ToolLoop::new(4, "q");
        let next = l.on_reply(
            &registry(),
            &calls(vec![
                call("delete_transaction", json!({"id": "x"})),
                call("spending_report", json!({"month": 10})),
                call("spending_report", json!({"month": "2026-10"})),
            ]),
        );
        let Next::Execute { accepted, refused } = next else {
            panic!("expected execute, got {next:?}");
        };
        assert_eq!(accepted.len(), 1);
        assert_eq!(refused.len(), 2);
        assert!(refused[0].1.contains("not an available tool"));
        assert!(refused[1].1.contains("invalid arguments"));
        assert_eq!(l.records.iter().filter(|r| r.refused).count(), 2);
    }

    #[test]
    fn step_limit() {
        let mut l = ToolLoop::new(2, "q");
        let c = calls(vec![call("spending_report", json!({"month": "2026-10"}))]);
        assert!(matches!(l.on_reply(&registry(), &c), Next::Execute { .. }));
        assert!(matches!(l.on_reply(&registry(), &c), Next::Execute { .. }));
        assert!(matches!(l.on_reply(&registry(), &c), Next::Abstain(_)));
    }

    #[test]
    fn invented_numbers_get_one_repair_then_abstain() {
        let mut l = ToolLoop::new(4, "how much on food in October 2026?");
        let c = call("spending_report", json!({"month": "2026-10"}));
        l.record(&c, r#"{"food": "-1234.50"}"#, "food -1234.50".into());
        assert_eq!(
            l.on_reply(
                &registry(),
                &Content::Text("You spent 1,234.50 on food in October 2026.".into())
            ),
            Next::Answer("You spent 1,234.50 on food in October 2026.".into())
        );
        let mut l2 = l.clone();
        assert!(matches!(
            l2.on_reply(&registry(), &Content::Text("About 1500 EUR.".into())),
            Next::Repair(m) if m.contains("1500")
        ));
        assert!(matches!(
            l2.on_reply(&registry(), &Content::Text("Roughly 1400.".into())),
            Next::Abstain(_)
        ));
    }

    #[test]
    fn refusal_is_an_outcome() {
        let mut l = ToolLoop::new(4, "q");
        assert_eq!(
            l.on_reply(&registry(), &Content::Refusal("no".into())),
            Next::Refused("no".into())
        );
    }
}

//! `/ask QUESTION` and plain text to the bot: the same tool loop as `POST /v1/ai/ask`, with
//! the Telegram update's trace id. The reply is the answer, then a compact list of the tools
//! behind it; a service that cannot answer says so in a plain sentence, never as an error.

use super::backend::{SqlChatBackend, unavailable};
use actors::TraceId;
use actors::ai::LlmError;
use actors::ai::actor::Ask;
use actors::ai::engine::{AskOutcome, AskStatus, CallError};
use actors::telegram::command::Invocation;
use actors::telegram::ports::{Handled, Reply};
use actors::telegram::text::escape_html as esc;

/// The same limit as the REST route.
const MAX_QUESTION: usize = 1000;

/// Tool arguments longer than this are cut in the list (it is a hint, not the data).
const MAX_ARGS_CHARS: usize = 80;

pub const NOT_CONFIGURED: &str = "AI is not configured on this service (ai.provider = \"none\"), \
so I cannot answer questions. The commands still work: /help.";

impl SqlChatBackend {
    pub(super) async fn ask(&self, inv: &Invocation, trace: &TraceId) -> Handled {
        let question = inv.args.join(" ");
        let chars = question.chars().count();
        if chars == 0 {
            return Handled::text(
                "invalid",
                "Usage: /ask QUESTION, e.g. <code>/ask how much did I spend on restaurants in October?</code> \
                 (or just write the question).",
            );
        }
        if chars > MAX_QUESTION {
            return Handled::text(
                "invalid",
                format!("That question is too long ({chars} characters; at most {MAX_QUESTION})."),
            );
        }
        let state = match self.state() {
            Ok(s) => s,
            Err(e) => return unavailable(e),
        };
        let Some(ai) = &state.ai else {
            return Handled::text("unavailable", NOT_CONFIGURED);
        };
        let answered = ai
            .actor
            .send(Ask {
                question,
                trace_id: trace.clone(),
            })
            .await;
        match answered {
            Ok(Ok(outcome)) => Handled::ok(Reply::Text(render(&outcome))),
            Ok(Err(e)) => Handled::text("unavailable", sentence(&e)),
            Err(e) => {
                tracing::warn!(error = %e, "the AI actor did not take the question");
                Handled::text(
                    "unavailable",
                    "The AI is restarting; ask again in a moment.",
                )
            }
        }
    }
}

/// The answer (or why there is none), then the tools used, one line each.
fn render(o: &AskOutcome) -> String {
    let mut out = match o.status {
        AskStatus::Answered => esc(&o.answer),
        AskStatus::Refused => format!("The model declined to answer: {}", esc(&o.answer)),
        AskStatus::Abstained => {
            "I could not find an answer in your data within the steps I may take. \
                                 Try a narrower question (a period, a category, an account)."
                .to_owned()
        }
    };
    if !o.tool_calls.is_empty() {
        out.push_str("\n\n<i>Tools used:</i>");
        for t in &o.tool_calls {
            let args = compact_args(&t.arguments);
            out.push_str(&format!(
                "\n• {}{} — {}{}",
                esc(&t.name),
                if args.is_empty() {
                    String::new()
                } else {
                    format!(" <code>{}</code>", esc(&args))
                },
                esc(&t.result),
                if t.refused { " (refused)" } else { "" },
            ));
        }
    }
    if o.cached {
        out.push_str("\n<i>(from the answer cache)</i>");
    }
    out
}

/// `{"from":"2026-10-01","to":"2026-10-31"}` → `from=2026-10-01 to=2026-10-31`.
fn compact_args(v: &serde_json::Value) -> String {
    let s = match v.as_object() {
        Some(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v.as_str() {
                Some(s) => format!("{k}={s}"),
                None => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => v.to_string(),
    };
    match s.char_indices().nth(MAX_ARGS_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s,
    }
}

/// Why there is no answer, as a sentence for the chat (the REST route's problem codes).
fn sentence(e: &CallError) -> String {
    match e {
        CallError::Budget(b) if b.reached => format!(
            "This month's AI budget ({} USD) is used up, so I cannot answer questions until next month \
             (an admin can raise ai.monthly_budget_usd).",
            b.limit
        ),
        CallError::Budget(_) => {
            "The AI is busy with other questions right now; ask again in a moment.".to_owned()
        }
        CallError::BreakerOpen(p) => {
            format!("The AI provider ({p}) is failing right now; ask again in a minute.")
        }
        CallError::Provider(LlmError::Quota(_)) => {
            "The AI provider refused: its quota or billing limit is reached.".to_owned()
        }
        CallError::Provider(LlmError::Auth(_)) => {
            "The AI provider rejected the API key; an admin needs to check it.".to_owned()
        }
        CallError::Provider(LlmError::RateLimited { .. } | LlmError::Overloaded { .. }) => {
            "The AI provider is busy (rate limited or overloaded); ask again in a minute."
                .to_owned()
        }
        CallError::Provider(e) => {
            tracing::warn!(error = %e, "AI provider call failed (telegram)");
            "The AI provider did not answer usably; ask again later.".to_owned()
        }
        CallError::Store(e) => {
            tracing::warn!(error = %e, "AI call records unavailable (telegram)");
            "The AI cannot run right now (its records are unavailable); ask again shortly."
                .to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::ai::Usage;
    use actors::ai::budget::BudgetExhausted;
    use actors::ai::tools::ToolCallRecord;
    use rust_decimal::Decimal;
    use serde_json::json;

    fn outcome(status: AskStatus) -> AskOutcome {
        AskOutcome {
            answer: "You spent 42.50 EUR on <food>.".to_owned(),
            status,
            tool_calls: vec![
                ToolCallRecord {
                    name: "spending_by_category".to_owned(),
                    arguments: json!({"from": "2026-10-01", "to": "2026-10-31", "account_id": null}),
                    result: "2 month/category rows".to_owned(),
                    refused: false,
                },
                ToolCallRecord {
                    name: "delete_transaction".to_owned(),
                    arguments: json!({"id": "x"}),
                    result: "not an available tool".to_owned(),
                    refused: true,
                },
            ],
            usage: Usage::default(),
            cached: false,
        }
    }

    #[test]
    fn answer_then_the_tools_used() {
        let text = render(&outcome(AskStatus::Answered));
        assert!(
            text.starts_with("You spent 42.50 EUR on &lt;food&gt;."),
            "{text}"
        );
        assert!(text.contains(
            "• spending_by_category <code>from=2026-10-01 to=2026-10-31</code> — 2 month/category rows"
        ), "{text}");
        assert!(
            text.contains("delete_transaction <code>id=x</code> — not an available tool (refused)")
        );
    }

    #[test]
    fn abstaining_and_budget_are_plain_sentences() {
        let text = render(&outcome(AskStatus::Abstained));
        assert!(text.starts_with("I could not find an answer"), "{text}");
        let reached = CallError::Budget(BudgetExhausted {
            limit: Decimal::from(5),
            committed: Decimal::from(5),
            spent: Decimal::from(5),
            reached: true,
        });
        assert!(sentence(&reached).contains("budget (5 USD) is used up"));
        assert!(sentence(&CallError::BreakerOpen("openai")).contains("failing right now"));
    }
}

//! OpenAI-compatible Chat Completions (`POST {base_url}/chat/completions`): OpenAI itself and
//! the local servers that copy its API (Ollama, llama.cpp server, vLLM, LM Studio).
//! Structured answers use `response_format: json_schema` with `strict: true`; tool calls
//! come back in `message.tool_calls` (arguments as a JSON string) with `finish_reason:
//! "tool_calls"`; a refusal in `message.refusal`.
//!
//! A thin reqwest client rather than `async-openai`: that crate's errors keep the status
//! but drop the response headers, and the retry policy needs `retry-after(-ms)`; the wire
//! format is one endpoint's JSON.

use super::llm_http::{KeySource, classify, transport};
use actors::ai::{
    ChatMessage, ChatRequest, ChatResponse, Content, LlmError, LlmProvider, ToolCall, Usage,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

pub const PROVIDER: &str = "openai";

#[derive(Debug)]
pub struct OpenAi {
    client: reqwest::Client,
    base_url: String,
    key: KeySource,
}

impl OpenAi {
    pub fn new(client: reqwest::Client, base_url: &str, key: KeySource) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
        }
    }
}

/// The request body (public for the tests that check what leaves the process).
pub fn body(r: &ChatRequest) -> Value {
    let mut messages = vec![json!({"role": "system", "content": r.system})];
    for m in &r.messages {
        messages.push(match m {
            ChatMessage::User(text) => json!({"role": "user", "content": text}),
            ChatMessage::Assistant { text, tool_calls } if tool_calls.is_empty() => {
                json!({"role": "assistant", "content": text})
            }
            ChatMessage::Assistant { text, tool_calls } => json!({
                "role": "assistant",
                "content": text,
                "tool_calls": tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments.to_string()},
                })).collect::<Vec<_>>(),
            }),
            ChatMessage::ToolResult { call_id, content } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        });
    }
    let mut body = json!({
        "model": r.model,
        "messages": messages,
        "max_tokens": r.max_tokens,
    });
    if let Some(s) = &r.schema {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": s.name, "strict": true, "schema": s.schema},
        });
    }
    if !r.tools.is_empty() {
        body["tools"] = r
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
    }
    body
}

#[derive(Debug, Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: WireError,
}

#[derive(Debug, Deserialize)]
struct WireError {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
}

/// Maps a 2xx body to the neutral response.
pub fn parse(body: &str, structured: bool) -> Result<(Content, Usage), LlmError> {
    let c: Completion = serde_json::from_str(body)
        .map_err(|e| LlmError::Malformed(format!("chat completion: {e}")))?;
    let usage = c.usage.map_or_else(Usage::default, |u| Usage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
    });
    let Some(choice) = c.choices.into_iter().next() else {
        return Err(LlmError::Malformed("no choices".to_owned()));
    };
    let m = choice.message;
    if let Some(r) = m.refusal.filter(|r| !r.is_empty()) {
        return Ok((Content::Refusal(r), usage));
    }
    if !m.tool_calls.is_empty() {
        let calls = m
            .tool_calls
            .into_iter()
            .map(|t| ToolCall {
                id: t.id,
                name: t.function.name,
                // Unparsable arguments stay a string: the tool's schema check then refuses them.
                arguments: serde_json::from_str(&t.function.arguments)
                    .unwrap_or(Value::String(t.function.arguments)),
            })
            .collect();
        return Ok((
            Content::ToolCalls {
                text: m.content,
                calls,
            },
            usage,
        ));
    }
    let text = m.content.unwrap_or_default();
    if choice.finish_reason.as_deref() == Some("content_filter") {
        return Ok((Content::Refusal(text), usage));
    }
    Ok((
        if structured {
            serde_json::from_str(&text).map_or(Content::Unparsable(text), Content::Json)
        } else {
            Content::Text(text)
        },
        usage,
    ))
}

#[async_trait::async_trait]
impl LlmProvider for OpenAi {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    #[tracing::instrument(skip_all, fields(model = %request.model))]
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut req = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .json(&body(request));
        if let Some(key) = self.key.get().await? {
            req = req.bearer_auth(key.expose_secret());
        }
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.map_err(|e| transport(&e))?;
        if !(200..300).contains(&status) {
            let (code, message) = serde_json::from_str::<ErrorBody>(&text).map_or_else(
                |_| (String::new(), text.chars().take(200).collect()),
                |b| {
                    let code = b
                        .error
                        .code
                        .and_then(|c| c.as_str().map(str::to_owned))
                        .or(b.error.kind)
                        .unwrap_or_default();
                    (code, b.error.message)
                },
            );
            return Err(classify(status, &code, &message, &headers));
        }
        let (content, usage) = parse(&text, request.schema.is_some())?;
        Ok(ChatResponse {
            content,
            usage,
            request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_and_usage() {
        let body = r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,
            "message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_1",
            "type":"function","function":{"name":"spending_report","arguments":"{\"month\":\"2026-10\"}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":50,"completion_tokens":7,"total_tokens":57}}"#;
        let (content, usage) = parse(body, false).expect("parses");
        assert_eq!(
            usage,
            Usage {
                input_tokens: 50,
                output_tokens: 7
            }
        );
        let Content::ToolCalls { calls, .. } = content else {
            panic!("tool calls expected")
        };
        assert_eq!(calls[0].arguments, json!({"month": "2026-10"}));
    }

    #[test]
    fn refusal_and_unparsable() {
        let r = r#"{"choices":[{"message":{"content":null,"refusal":"I can't"},"finish_reason":"stop"}]}"#;
        assert_eq!(
            parse(r, true).expect("ok").0,
            Content::Refusal("I can't".into())
        );
        let u = r#"{"choices":[{"message":{"content":"{\"a\":"},"finish_reason":"length"}]}"#;
        assert!(matches!(
            parse(u, true).expect("ok").0,
            Content::Unparsable(_)
        ));
    }
}

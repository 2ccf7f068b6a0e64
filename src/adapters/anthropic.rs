//! Anthropic Messages (`POST {base_url}/v1/messages`, headers `x-api-key` and
//! `anthropic-version: 2023-06-01`). A structured answer is a forced tool: the schema becomes
//! a tool's `input_schema`, `tool_choice: {"type": "tool", "name": …}`, and the answer is the
//! `tool_use` block's `input`. Errors are `{"type": "error", "error": {type, message}}`;
//! 429 and 529 carry `retry-after`, a spend-cap 429 does not. No official Rust crate exists:
//! a thin reqwest client for the one endpoint.

use super::llm_http::{KeySource, classify, transport};
use actors::ai::{
    ChatMessage, ChatRequest, ChatResponse, Content, LlmError, LlmProvider, ToolCall, Usage,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

pub const PROVIDER: &str = "anthropic";
pub const API_VERSION: &str = "2023-06-01";

#[derive(Debug)]
pub struct Anthropic {
    client: reqwest::Client,
    base_url: String,
    key: KeySource,
}

impl Anthropic {
    pub fn new(client: reqwest::Client, base_url: &str, key: KeySource) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
        }
    }
}

/// The request body. Consecutive tool results are merged into one user turn (the API wants
/// user and assistant turns to alternate).
pub fn body(r: &ChatRequest) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for m in &r.messages {
        match m {
            ChatMessage::User(text) => messages.push(json!({"role": "user", "content": text})),
            ChatMessage::Assistant { text, tool_calls } => {
                let mut blocks: Vec<Value> = Vec::new();
                if let Some(t) = text.as_ref().filter(|t| !t.is_empty()) {
                    blocks.push(json!({"type": "text", "text": t}));
                }
                for c in tool_calls {
                    blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}));
                }
                messages.push(json!({"role": "assistant", "content": blocks}));
            }
            ChatMessage::ToolResult { call_id, content } => {
                let block =
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"]
                                .as_array()
                                .is_some_and(|c| c.iter().all(|b| b["type"] == "tool_result")) =>
                    {
                        if let Some(a) = last["content"].as_array_mut() {
                            a.push(block);
                        }
                    }
                    _ => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
        }
    }
    let mut body = json!({
        "model": r.model,
        "max_tokens": r.max_tokens,
        "system": r.system,
        "messages": messages,
    });
    let mut tools: Vec<Value> = r
        .tools
        .iter()
        .map(
            |t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}),
        )
        .collect();
    if let Some(s) = &r.schema {
        tools.push(json!({
            "name": s.name,
            "description": "Record your answer. Call this exactly once with the complete answer.",
            "input_schema": s.schema,
        }));
        body["tool_choice"] = json!({"type": "tool", "name": s.name});
    }
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools);
    }
    body
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: WireError,
}

#[derive(Debug, Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// Maps a 2xx body; `schema_tool` is the forced tool's name for a structured call.
pub fn parse(body: &str, schema_tool: Option<&str>) -> Result<(Content, Usage), LlmError> {
    let m: Message =
        serde_json::from_str(body).map_err(|e| LlmError::Malformed(format!("message: {e}")))?;
    let usage = Usage {
        input_tokens: m.usage.input_tokens,
        output_tokens: m.usage.output_tokens,
    };
    let text: String = m
        .content
        .iter()
        .filter_map(|b| match b {
            Block::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("");
    if m.stop_reason.as_deref() == Some("refusal") {
        return Ok((Content::Refusal(text), usage));
    }
    let calls: Vec<ToolCall> = m
        .content
        .into_iter()
        .filter_map(|b| match b {
            Block::ToolUse { id, name, input } => Some(ToolCall {
                id,
                name,
                arguments: input,
            }),
            _ => None,
        })
        .collect();
    if let Some(tool) = schema_tool {
        return Ok((
            match calls.into_iter().find(|c| c.name == tool) {
                Some(c) => Content::Json(c.arguments),
                None => Content::Unparsable(text),
            },
            usage,
        ));
    }
    if !calls.is_empty() {
        let text = (!text.is_empty()).then_some(text);
        return Ok((Content::ToolCalls { text, calls }, usage));
    }
    Ok((Content::Text(text), usage))
}

#[async_trait::async_trait]
impl LlmProvider for Anthropic {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    #[tracing::instrument(skip_all, fields(model = %request.model))]
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut req = self
            .client
            .post(format!("{}/v1/messages", self.base_url))
            .header("anthropic-version", API_VERSION)
            .json(&body(request));
        if let Some(key) = self.key.get().await? {
            req = req.header("x-api-key", key.expose_secret());
        }
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let request_id = headers
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.map_err(|e| transport(&e))?;
        if !(200..300).contains(&status) {
            let (kind, message) = serde_json::from_str::<ErrorBody>(&text).map_or_else(
                |_| (String::new(), text.chars().take(200).collect()),
                |b| (b.error.kind, b.error.message),
            );
            return Err(classify(status, &kind, &message, &headers));
        }
        let (content, usage) = parse(&text, request.schema.as_ref().map(|s| s.name.as_str()))?;
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
    use actors::ai::OutputSchema;

    #[test]
    fn forced_tool_is_the_structured_answer() {
        let b = r#"{"id":"msg_1","type":"message","role":"assistant","content":[
            {"type":"tool_use","id":"toolu_1","name":"categorization","input":{"results":[]}}],
            "stop_reason":"tool_use","usage":{"input_tokens":30,"output_tokens":5}}"#;
        let (c, u) = parse(b, Some("categorization")).expect("parses");
        assert_eq!(c, Content::Json(json!({"results": []})));
        assert_eq!(u.output_tokens, 5);
    }

    #[test]
    fn request_forces_the_schema_tool_and_merges_tool_results() {
        let r = ChatRequest {
            model: "claude".into(),
            system: "s".into(),
            messages: vec![
                ChatMessage::User("q".into()),
                ChatMessage::Assistant {
                    text: None,
                    tool_calls: vec![
                        ToolCall {
                            id: "a".into(),
                            name: "x".into(),
                            arguments: json!({}),
                        },
                        ToolCall {
                            id: "b".into(),
                            name: "x".into(),
                            arguments: json!({}),
                        },
                    ],
                },
                ChatMessage::ToolResult {
                    call_id: "a".into(),
                    content: "1".into(),
                },
                ChatMessage::ToolResult {
                    call_id: "b".into(),
                    content: "2".into(),
                },
            ],
            schema: Some(OutputSchema {
                name: "answer".into(),
                schema: json!({"type": "object"}),
            }),
            tools: Vec::new(),
            max_tokens: 10,
        };
        let b = body(&r);
        assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "answer"}));
        assert_eq!(b["messages"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            b["messages"][2]["content"].as_array().map(Vec::len),
            Some(2)
        );
    }
}

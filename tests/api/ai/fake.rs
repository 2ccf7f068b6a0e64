//! A local fake of the OpenAI Chat Completions and Anthropic Messages APIs on 127.0.0.1:0,
//! speaking their wire formats (bodies, error shapes, `retry-after`), scripted per test and
//! recording every request it receives (path, headers, body).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    pub delay: Duration,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn retry_after(mut self, secs: &str) -> Self {
        self.headers.push(("retry-after", secs.to_owned()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

// ---- OpenAI wire format ---------------------------------------------------------------

pub fn openai_usage() -> Value {
    json!({"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100})
}

pub fn openai_content(content: &str) -> Reply {
    Reply::ok(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1764300000, "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null},
                     "finish_reason": "stop"}],
        "usage": openai_usage(),
    }))
}

pub fn openai_tool_calls(calls: &[(&str, &str, Value)]) -> Reply {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| {
            json!({"id": id, "type": "function",
            "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    Reply::ok(json!({
        "id": "chatcmpl-2", "object": "chat.completion", "created": 1764300000, "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
                     "tool_calls": calls}, "finish_reason": "tool_calls"}],
        "usage": openai_usage(),
    }))
}

pub fn openai_error(status: u16, kind: &str, code: &str) -> Reply {
    Reply {
        status,
        headers: vec![("x-request-id", "req_123".to_owned())],
        body: json!({"error": {"message": format!("fake {code}"), "type": kind, "param": null, "code": code}}),
        delay: Duration::ZERO,
    }
}

// ---- Anthropic wire format ------------------------------------------------------------

pub fn anthropic(content: Value, stop_reason: &str) -> Reply {
    Reply::ok(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": content, "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 800, "output_tokens": 60},
    }))
}

pub fn anthropic_text(text: &str) -> Reply {
    anthropic(json!([{"type": "text", "text": text}]), "end_turn")
}

pub fn anthropic_tool_use(calls: &[(&str, &str, Value)]) -> Reply {
    let blocks: Vec<Value> = calls
        .iter()
        .map(
            |(id, name, input)| json!({"type": "tool_use", "id": id, "name": name, "input": input}),
        )
        .collect();
    anthropic(Value::Array(blocks), "tool_use")
}

pub fn anthropic_error(status: u16, kind: &str) -> Reply {
    Reply {
        status,
        headers: vec![("request-id", "req_abc".to_owned())],
        body: json!({"type": "error", "error": {"type": kind, "message": format!("fake {kind}")}}),
        delay: Duration::ZERO,
    }
}

// ---- the server -----------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub raw: String,
}

type Responder = Box<dyn Fn(&Value) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    responder: Option<Responder>,
    seen: Vec<Recorded>,
}

#[derive(Clone)]
pub struct FakeLlm {
    pub address: String,
    state: Arc<Mutex<State>>,
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let raw = String::from_utf8_lossy(&body).into_owned();
    let parsed: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let reply = {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        s.seen.push(Recorded {
            path: req.path().to_owned(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body: parsed.clone(),
            raw,
        });
        match s.script.pop_front() {
            Some(r) => r,
            None => match &s.responder {
                Some(f) => f(&parsed),
                None => openai_error(500, "server_error", "no_script"),
            },
        }
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut res = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(reply.status)
            .unwrap_or(actix_web::http::StatusCode::OK),
    );
    for (k, v) in &reply.headers {
        res.insert_header((*k, v.as_str()));
    }
    res.json(reply.body)
}

impl FakeLlm {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::new(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind fake");
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
        Self {
            address: format!("http://{addr}"),
            state,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn push(&self, reply: Reply) {
        self.lock().script.push_back(reply);
    }

    /// Answers every request not covered by the script.
    pub fn respond(&self, f: impl Fn(&Value) -> Reply + Send + Sync + 'static) {
        self.lock().responder = Some(Box::new(f));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().seen.clone()
    }

    pub fn count(&self) -> usize {
        self.lock().seen.len()
    }
}

//! A local fake of the Telegram Bot API serving real-shaped JSON: `{"ok":true,"result":…}`,
//! errors with `error_code`, `description` and `parameters.retry_after`. Long polls hold until
//! an update is queued or the poll's `timeout` passes (unless told to ignore `timeout`).

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub const TOKEN: &str = "123456:TEST-token-for-the-fake";
pub const BOT_USERNAME: &str = "ai_service_test_bot";

#[derive(Default)]
pub struct State {
    next_update_id: i64,
    next_message_id: i64,
    queue: VecDeque<Value>,
    /// `(when, offset)` of every getUpdates call.
    pub polls: Vec<(Instant, Option<i64>)>,
    /// Answer getUpdates at once, whatever `timeout` says.
    pub ignore_timeout: bool,
    /// getUpdates answers 409 while this is true.
    pub conflict: bool,
    /// The next this-many sendMessage calls answer 429 with `retry_after` 1.
    pub send_429: u32,
    /// Every call by method name with its JSON body (sendPhoto: `{}`).
    pub calls: Vec<(Instant, String, Value)>,
    /// Files served by getFile/download: file_id -> bytes.
    pub files: Vec<(String, Vec<u8>)>,
}

#[derive(Clone)]
pub struct FakeBotApi {
    pub state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    pub url: String,
}

fn ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "result": result}))
}

impl FakeBotApi {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            next_update_id: 815_000_000,
            next_message_id: 1000,
            ..State::default()
        }));
        let wake = Arc::new(Notify::new());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake");
        let port = listener.local_addr().expect("addr").port();
        let fake = Self {
            state,
            wake,
            url: format!("http://127.0.0.1:{port}"),
        };
        let data = web::Data::new(fake.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(20 * 1024 * 1024))
                .route("/bot{token}/{method}", web::post().to(method))
                .route("/file/bot{token}/{path:.*}", web::get().to(file))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        fake
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an update (given its `message` or `callback_query`); returns its update_id.
    pub fn push(&self, kind: &str, content: Value) -> i64 {
        let id = {
            let mut s = self.lock();
            s.next_update_id += 1;
            let id = s.next_update_id;
            s.queue.push_back(json!({"update_id": id, kind: content}));
            id
        };
        self.wake.notify_waiters();
        id
    }

    /// A private-chat text message from `user_id` (dated `age_secs` ago).
    pub fn text_from(&self, user_id: i64, text: &str, age_secs: i64) -> i64 {
        let date = chrono::Utc::now().timestamp() - age_secs;
        let message_id = {
            let mut s = self.lock();
            s.next_message_id += 1;
            s.next_message_id
        };
        self.push(
            "message",
            json!({"message_id": message_id,
                "from": {"id": user_id, "is_bot": false, "first_name": "Ana", "username": format!("user{user_id}")},
                "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
                "date": date, "text": text}),
        )
    }

    /// A button press by `user_id` on message `message_id` in chat `chat_id`.
    pub fn press(&self, user_id: i64, chat_id: i64, message_id: i64, data: &str) -> i64 {
        self.push(
            "callback_query",
            json!({"id": format!("cb{message_id}{user_id}{data}"),
                "from": {"id": user_id, "is_bot": false, "first_name": "Bo"},
                "message": {"message_id": message_id, "chat": {"id": chat_id, "type": "private"},
                    "date": chrono::Utc::now().timestamp(), "text": "?"},
                "chat_instance": "-6270345612345678901", "data": data}),
        )
    }

    /// Calls of `method`, in order.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.lock()
            .calls
            .iter()
            .filter(|(_, m, _)| m == method)
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    /// Messages sent to `chat`.
    pub fn sent_to(&self, chat: i64) -> Vec<Value> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|b| b["chat_id"] == chat)
            .collect()
    }

    /// Waits for the `n`-th message to `chat` whose text contains `needle`.
    pub async fn matching(&self, chat: i64, needle: &str, n: usize) -> Value {
        crate::helpers::eventually(
            Duration::from_secs(15),
            &format!("message #{n} to {chat} with {needle}"),
            || async {
                let sent: Vec<Value> = self
                    .sent_to(chat)
                    .into_iter()
                    .filter(|m| m["text"].as_str().is_some_and(|t| t.contains(needle)))
                    .collect();
                sent.get(n - 1).cloned().ok_or(sent)
            },
        )
        .await
    }

    /// Waits for the `n`-th message to `chat` and returns it.
    pub async fn reply(&self, chat: i64, n: usize) -> Value {
        crate::helpers::eventually(
            Duration::from_secs(15),
            &format!("message #{n} to {chat}"),
            || async {
                let sent = self.sent_to(chat);
                sent.get(n - 1).cloned().ok_or(sent)
            },
        )
        .await
    }
}

async fn file(fake: web::Data<FakeBotApi>, path: web::Path<(String, String)>) -> HttpResponse {
    let (_, file_path) = path.into_inner();
    let found = fake
        .lock()
        .files
        .iter()
        .find(|(id, _)| format!("documents/{id}") == file_path)
        .map(|(_, b)| b.clone());
    match found {
        Some(b) => HttpResponse::Ok().body(b),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn method(
    fake: web::Data<FakeBotApi>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (token, method) = path.into_inner();
    if token != TOKEN {
        return HttpResponse::Unauthorized()
            .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    fake.lock()
        .calls
        .push((Instant::now(), method.clone(), body.clone()));
    match method.as_str() {
        "getMe" => ok(
            json!({"id": 123456, "is_bot": true, "first_name": "Test", "username": BOT_USERNAME}),
        ),
        "getUpdates" => get_updates(&fake, &body).await,
        "sendMessage" => {
            let mut s = fake.lock();
            if s.send_429 > 0 {
                s.send_429 -= 1;
                return HttpResponse::TooManyRequests().json(json!({"ok": false, "error_code": 429,
                    "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}));
            }
            s.next_message_id += 1;
            ok(
                json!({"message_id": s.next_message_id, "chat": {"id": body["chat_id"], "type": "private"},
                "date": chrono::Utc::now().timestamp(), "text": body["text"]}),
            )
        }
        "editMessageText" => {
            // Same text twice is an error Telegram really sends.
            let s = fake.lock();
            let same = s
                .calls
                .iter()
                .rev()
                .skip(1)
                .any(|(_, m, b)| m == "editMessageText" && b == &body);
            if same {
                return HttpResponse::BadRequest().json(json!({"ok": false, "error_code": 400,
                    "description": "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}));
            }
            ok(json!(true))
        }
        "getFile" => {
            let id = body["file_id"].as_str().unwrap_or_default().to_owned();
            let size = fake
                .lock()
                .files
                .iter()
                .find(|(f, _)| *f == id)
                .map(|(_, b)| b.len());
            match size {
                Some(n) => ok(json!({"file_id": id, "file_unique_id": "u", "file_size": n, "file_path": format!("documents/{id}")})),
                None => HttpResponse::BadRequest().json(json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid file_id"})),
            }
        }
        "sendPhoto" => {
            let mut s = fake.lock();
            s.next_message_id += 1;
            ok(
                json!({"message_id": s.next_message_id, "chat": {"id": 0, "type": "private"},
                "date": chrono::Utc::now().timestamp(),
                "photo": [{"file_id": "p", "file_unique_id": "p", "width": 960, "height": 480}]}),
            )
        }
        "answerCallbackQuery" | "setMyCommands" | "setWebhook" | "deleteWebhook" => ok(json!(true)),
        _ => HttpResponse::NotFound()
            .json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
    }
}

async fn get_updates(fake: &FakeBotApi, body: &Value) -> HttpResponse {
    let offset = body["offset"].as_i64();
    let timeout = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
    let deadline = Instant::now() + timeout;
    {
        let mut s = fake.lock();
        s.polls.push((Instant::now(), offset));
        if s.conflict {
            return HttpResponse::Conflict().json(json!({"ok": false, "error_code": 409,
                "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}));
        }
    }
    loop {
        let wait = fake.wake.notified();
        {
            let mut s = fake.lock();
            // The offset confirms every update before it: they are gone for good.
            if let Some(o) = offset {
                s.queue
                    .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
            }
            if !s.queue.is_empty() || s.ignore_timeout || Instant::now() >= deadline {
                let updates: Vec<Value> = s.queue.iter().take(100).cloned().collect();
                return ok(json!(updates));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, wait).await;
    }
}

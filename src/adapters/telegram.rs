//! The Telegram Bot API over plain reqwest (`POST {base}/bot{token}/{method}` with a JSON
//! body; `sendPhoto` as multipart; files from `{base}/file/bot{token}/{path}`).
//!
//! Why not `frankenstein`: we use ten methods and map every type to the actor's own anyway;
//! we need each call's timeout to follow the long-poll timeout, the raw error body
//! (`error_code`, `parameters.retry_after`) for 409/429 handling, and file downloads with a
//! size cap — and no new dependency on two shared build cores. The token is never logged:
//! transport errors are reported without their URL.

use actors::telegram::ports::TelegramApi;
use actors::telegram::types::{
    CallbackQuery, Document, IncomingMessage, OutMessage, TelegramError, TgUser, Update, UpdateKind,
};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

pub const PROVIDER: &str = "telegram";
pub const ENVIRONMENT: &str = "default";
pub const TOKEN_SECRET: &str = "bot_token";
/// A settings secret holding the public base URL: when set, the bot runs as a webhook.
pub const PUBLIC_URL_SECRET: &str = "public_url";

pub struct BotApi {
    client: reqwest::Client,
    base: String,
    token: SecretString,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// `{"ok":…,"result":…}` or `{"ok":false,"error_code":…,"description":…,"parameters":…}`.
#[derive(Deserialize)]
struct Envelope<T> {
    ok: bool,
    result: Option<T>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

impl BotApi {
    pub fn new(base: &str, token: SecretString) -> Result<Self, TelegramError> {
        let client = crate::adapters::http_client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TelegramError::Network(e.without_url().to_string()))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{method}", self.base, self.token.expose_secret())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<T, TelegramError> {
        let res = self
            .client
            .post(self.url(method))
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| TelegramError::Network(e.without_url().to_string()))?;
        decode(res).await
    }
}

async fn decode<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, TelegramError> {
    let status = res.status().as_u16();
    let bytes = res
        .bytes()
        .await
        .map_err(|e| TelegramError::Network(e.without_url().to_string()))?;
    let env: Envelope<T> = serde_json::from_slice(&bytes)
        .map_err(|e| TelegramError::Network(format!("undecodable answer (HTTP {status}): {e}")))?;
    match (env.ok, env.result) {
        (true, Some(r)) => Ok(r),
        _ => Err(TelegramError::Api {
            code: env.error_code.unwrap_or(i64::from(status)),
            description: env.description.unwrap_or_else(|| format!("HTTP {status}")),
            retry_after: env.parameters.and_then(|p| p.retry_after),
        }),
    }
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn keyboard(message: &OutMessage) -> Option<Value> {
    (!message.keyboard.is_empty()).then(|| {
        json!({"inline_keyboard": message.keyboard.iter().map(|row| row.iter().map(|b| json!({
            "text": b.text, "callback_data": b.callback_data
        })).collect::<Vec<_>>()).collect::<Vec<_>>()})
    })
}

#[derive(Deserialize)]
struct SentMessage {
    message_id: i64,
}

#[derive(Deserialize)]
struct FileInfo {
    file_path: Option<String>,
    file_size: Option<u64>,
}

#[async_trait]
impl TelegramApi for BotApi {
    async fn get_me(&self) -> Result<TgUser, TelegramError> {
        let u: WireUser = self.call("getMe", &json!({}), CALL_TIMEOUT).await?;
        Ok(u.into())
    }

    async fn get_updates(
        &self,
        offset: Option<i64>,
        timeout: Duration,
        allowed_updates: &[&str],
    ) -> Result<Vec<Update>, TelegramError> {
        let mut body = json!({
            "timeout": timeout.as_secs(),
            "limit": 100,
            "allowed_updates": allowed_updates,
        });
        if let Some(o) = offset {
            body["offset"] = json!(o);
        }
        // The HTTP timeout must outlast the long poll.
        let raw: Vec<Value> = self
            .call("getUpdates", &body, timeout + Duration::from_secs(10))
            .await?;
        Ok(raw.into_iter().filter_map(|v| parse_update(&v)).collect())
    }

    async fn send_message(&self, message: &OutMessage) -> Result<i64, TelegramError> {
        let mut body = json!({
            "chat_id": message.chat_id,
            "text": message.text,
            "parse_mode": "HTML",
            "disable_notification": message.silent,
            "link_preview_options": {"is_disabled": true},
        });
        if let Some(k) = keyboard(message) {
            body["reply_markup"] = k;
        }
        let sent: SentMessage = self.call("sendMessage", &body, CALL_TIMEOUT).await?;
        Ok(sent.message_id)
    }

    async fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: &str,
    ) -> Result<(), TelegramError> {
        let body = json!({"chat_id": chat_id, "message_id": message_id, "text": text, "parse_mode": "HTML"});
        self.call::<Value>("editMessageText", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    async fn answer_callback_query(
        &self,
        id: &str,
        text: Option<&str>,
    ) -> Result<(), TelegramError> {
        let mut body = json!({"callback_query_id": id});
        if let Some(t) = text {
            body["text"] = json!(t.chars().take(200).collect::<String>());
        }
        self.call::<Value>("answerCallbackQuery", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    async fn send_photo(
        &self,
        chat_id: i64,
        png: Vec<u8>,
        caption: &str,
    ) -> Result<i64, TelegramError> {
        let part = reqwest::multipart::Part::bytes(png)
            .file_name("chart.png")
            .mime_str("image/png")
            .map_err(|e| TelegramError::Network(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .text("chat_id", chat_id.to_string())
            .text("caption", caption.chars().take(1024).collect::<String>())
            .text("parse_mode", "HTML")
            .part("photo", part);
        let res = self
            .client
            .post(self.url("sendPhoto"))
            .multipart(form)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| TelegramError::Network(e.without_url().to_string()))?;
        let sent: SentMessage = decode(res).await?;
        Ok(sent.message_id)
    }

    async fn set_my_commands(&self, commands: &[(String, String)]) -> Result<(), TelegramError> {
        let list: Vec<Value> = commands
            .iter()
            .map(|(c, d)| json!({"command": c, "description": d}))
            .collect();
        self.call::<Value>("setMyCommands", &json!({"commands": list}), CALL_TIMEOUT)
            .await
            .map(drop)
    }

    async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), TelegramError> {
        let body = json!({
            "url": url,
            "secret_token": secret,
            "allowed_updates": ["message", "callback_query"],
            "drop_pending_updates": false,
        });
        self.call::<Value>("setWebhook", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    async fn delete_webhook(&self) -> Result<(), TelegramError> {
        self.call::<Value>("deleteWebhook", &json!({}), CALL_TIMEOUT)
            .await
            .map(drop)
    }

    async fn download(&self, file_id: &str, max_bytes: u64) -> Result<Vec<u8>, TelegramError> {
        let info: FileInfo = self
            .call("getFile", &json!({"file_id": file_id}), CALL_TIMEOUT)
            .await?;
        if info.file_size.is_some_and(|s| s > max_bytes) {
            return Err(TelegramError::Api {
                code: 413,
                description: "file too large".to_owned(),
                retry_after: None,
            });
        }
        let path = info.file_path.ok_or_else(|| TelegramError::Api {
            code: 400,
            description: "no file_path in getFile".to_owned(),
            retry_after: None,
        })?;
        let url = format!(
            "{}/file/bot{}/{path}",
            self.base,
            self.token.expose_secret()
        );
        let mut res = self
            .client
            .get(url)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| TelegramError::Network(e.without_url().to_string()))?;
        if !res.status().is_success() {
            return Err(TelegramError::Api {
                code: i64::from(res.status().as_u16()),
                description: "file download failed".to_owned(),
                retry_after: None,
            });
        }
        let mut out = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| TelegramError::Network(e.without_url().to_string()))?
        {
            if (out.len() + chunk.len()) as u64 > max_bytes {
                return Err(TelegramError::Api {
                    code: 413,
                    description: "file too large".to_owned(),
                    retry_after: None,
                });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

// ---- wire types (only the fields we read) ----------------------------------------------

#[derive(Deserialize)]
struct WireUser {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: String,
    username: Option<String>,
}

impl From<WireUser> for TgUser {
    fn from(u: WireUser) -> Self {
        Self {
            id: u.id,
            is_bot: u.is_bot,
            first_name: u.first_name,
            username: u.username,
        }
    }
}

#[derive(Deserialize)]
struct WireChat {
    id: i64,
}

#[derive(Deserialize)]
struct WireDocument {
    file_id: String,
    file_name: Option<String>,
    mime_type: Option<String>,
    file_size: Option<u64>,
}

#[derive(Deserialize)]
struct WireMessage {
    message_id: i64,
    chat: WireChat,
    from: Option<WireUser>,
    #[serde(default)]
    date: i64,
    text: Option<String>,
    caption: Option<String>,
    document: Option<WireDocument>,
}

#[derive(Deserialize)]
struct WireCallback {
    id: String,
    from: WireUser,
    message: Option<WireMessage>,
    data: Option<String>,
}

/// One `Update` object as Telegram sends it (getUpdates result item or webhook body).
/// `None` when it has no `update_id` (not an update at all).
pub fn parse_update(v: &Value) -> Option<Update> {
    let update_id = v.get("update_id")?.as_i64()?;
    let kind = if let Some(m) = v.get("message") {
        match serde_json::from_value::<WireMessage>(m.clone()) {
            Ok(m) => UpdateKind::Message(IncomingMessage {
                message_id: m.message_id,
                chat_id: m.chat.id,
                from: m.from.map(Into::into),
                date: m.date,
                text: m.text.or(m.caption),
                document: m.document.map(|d| Document {
                    file_id: d.file_id,
                    file_name: d.file_name,
                    mime_type: d.mime_type,
                    file_size: d.file_size,
                }),
            }),
            Err(e) => {
                tracing::warn!(update_id, error = %e, "undecodable message update ignored");
                UpdateKind::Other
            }
        }
    } else if let Some(c) = v.get("callback_query") {
        match serde_json::from_value::<WireCallback>(c.clone()) {
            Ok(c) => UpdateKind::Callback(CallbackQuery {
                id: c.id,
                from: c.from.into(),
                // An InaccessibleMessage has date 0 and no content we may edit.
                message: c
                    .message
                    .filter(|m| m.date != 0)
                    .map(|m| (m.chat.id, m.message_id)),
                data: c.data,
            }),
            Err(e) => {
                tracing::warn!(update_id, error = %e, "undecodable callback update ignored");
                UpdateKind::Other
            }
        }
    } else {
        UpdateKind::Other
    };
    Some(Update { update_id, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shapes_parse() {
        let m = json!({"update_id":815000001,"message":{"message_id":42,
            "from":{"id":123456789,"is_bot":false,"first_name":"Ana","username":"ana_k"},
            "chat":{"id":123456789,"type":"private","first_name":"Ana"},
            "date":1764300000,"text":"/status","entities":[{"type":"bot_command","offset":0,"length":7}]}});
        let u = parse_update(&m).expect("update");
        assert_eq!(u.update_id, 815_000_001);
        let UpdateKind::Message(msg) = u.kind else {
            panic!("message expected")
        };
        assert_eq!(msg.text.as_deref(), Some("/status"));
        assert_eq!(msg.from.map(|f| f.id), Some(123_456_789));

        let c = json!({"update_id":815000002,"callback_query":{"id":"4382bfdwdsb323b2d9",
            "from":{"id":123456789,"is_bot":false,"first_name":"Ana"},
            "message":{"message_id":43,"chat":{"id":123456789,"type":"private"},"date":1764300005,"text":"Close #17?"},
            "chat_instance":"-6270345612345678901","data":"fx:17:y"}});
        let UpdateKind::Callback(cb) = parse_update(&c).expect("update").kind else {
            panic!("callback expected")
        };
        assert_eq!(cb.message, Some((123_456_789, 43)));
        assert_eq!(cb.data.as_deref(), Some("fx:17:y"));

        let inaccessible = json!({"update_id":3,"callback_query":{"id":"x","from":{"id":1,"is_bot":false,"first_name":"A"},
            "message":{"message_id":43,"chat":{"id":1,"type":"private"},"date":0},"chat_instance":"1","data":"t:a:0"}});
        let UpdateKind::Callback(cb) = parse_update(&inaccessible).expect("update").kind else {
            panic!("callback expected")
        };
        assert_eq!(cb.message, None);
    }
}

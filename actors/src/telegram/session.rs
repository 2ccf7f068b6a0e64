//! One running bot (token + mode): the update handler, the send queue and the poller.
//! The actor builds a new session whenever the settings change and drops the old one.

use super::command::{self, ChatCommand};
use super::pacing::Pacer;
use super::poll::{self, PollOutcome, PollPolicy};
use super::ports::{ChatAudit, ChatBackend, Handled, LinkRefused, LinkedUser, Reply, TelegramApi};
use super::text::{MAX_MESSAGE_LEN, escape_html, split_message};
use super::tokens::{self, CONFIRM_TTL, Press, TakeError, Tokens};
use super::types::{
    Button, CallbackQuery, IncomingMessage, OutMessage, TelegramError, TgUser, Update, UpdateKind,
};
use super::{TelegramConfig, metrics_names as m};
use crate::TraceId;
use crate::supervise::{ComponentKind, Readiness, Status};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The readiness entry (an optional dependency: never makes the service unready).
pub const READINESS_NAME: &str = "telegram";

/// Options a keyboard offers stay valid this long (confirmations: 60 s).
const CHOICE_TTL: Duration = Duration::from_secs(3600);

pub(super) enum Outgoing {
    Message(OutMessage),
    Photo {
        chat_id: i64,
        png: Vec<u8>,
        caption: String,
    },
}

impl Outgoing {
    fn chat_id(&self) -> i64 {
        match self {
            Self::Message(m) => m.chat_id,
            Self::Photo { chat_id, .. } => *chat_id,
        }
    }
}

pub(super) struct Session {
    pub api: Arc<dyn TelegramApi>,
    pub backend: Arc<dyn ChatBackend>,
    pub config: TelegramConfig,
    pub readiness: Readiness,
    pub bot_username: Option<String>,
    tokens: Mutex<Tokens>,
    /// When each unlinked sender last got the "not linked" hint.
    hints: Mutex<HashMap<i64, Instant>>,
    out: mpsc::UnboundedSender<Outgoing>,
}

pub(super) fn degraded(readiness: &Readiness, detail: impl Into<String>) {
    readiness.set(
        ComponentKind::Optional,
        READINESS_NAME,
        Status::Degraded,
        Some(detail.into()),
    );
}

pub(super) fn up(readiness: &Readiness, detail: &str) {
    readiness.set(
        ComponentKind::Optional,
        READINESS_NAME,
        Status::Up,
        Some(detail.to_owned()),
    );
}

fn trace_id() -> TraceId {
    TraceId::new(format!("tg-{:016x}", rand::rng().random::<u64>()))
}

impl Session {
    /// Builds the session and starts its send queue; returns the queue's task.
    pub fn start(
        api: Arc<dyn TelegramApi>,
        backend: Arc<dyn ChatBackend>,
        config: TelegramConfig,
        readiness: Readiness,
        bot_username: Option<String>,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (out, rx) = mpsc::unbounded_channel();
        let sender = actix::spawn(send_queue(Arc::clone(&api), config, rx));
        let session = Arc::new(Self {
            api,
            backend,
            config,
            readiness,
            bot_username,
            tokens: Mutex::default(),
            hints: Mutex::default(),
            out,
        });
        (session, sender)
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a reply to `chat_id` for `user` (the owner of any buttons in it).
    pub fn reply(
        &self,
        chat_id: i64,
        telegram_user_id: i64,
        command: &str,
        reply: Reply,
        silent: bool,
    ) {
        let now = Instant::now();
        let (text, keyboard) = match reply {
            Reply::Many(replies) => {
                for r in replies {
                    self.reply(chat_id, telegram_user_id, command, r, silent);
                }
                return;
            }
            Reply::Text(t) => (t, Vec::new()),
            Reply::Confirm { text, action } => {
                let tok =
                    self.tokens()
                        .issue(telegram_user_id, command, vec![action], CONFIRM_TTL, now);
                let row = [("Yes", "0"), ("No", "n")]
                    .iter()
                    .filter_map(|(label, choice)| {
                        tokens::callback_data(&tok, choice).map(|d| Button {
                            text: (*label).to_owned(),
                            callback_data: d,
                        })
                    })
                    .collect();
                (text, vec![row])
            }
            Reply::Choose { text, options } => {
                let (labels, actions): (Vec<String>, Vec<String>) = options.into_iter().unzip();
                let tok = self
                    .tokens()
                    .issue(telegram_user_id, command, actions, CHOICE_TTL, now);
                let mut rows: Vec<Vec<Button>> = labels
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, label)| {
                        tokens::callback_data(&tok, &i.to_string()).map(|d| Button {
                            text: label,
                            callback_data: d,
                        })
                    })
                    .collect::<Vec<_>>()
                    .chunks(2)
                    .map(<[Button]>::to_vec)
                    .collect();
                if let Some(d) = tokens::callback_data(&tok, "n") {
                    rows.push(vec![Button {
                        text: "Cancel".to_owned(),
                        callback_data: d,
                    }]);
                }
                (text, rows)
            }
            Reply::Photo { png, caption, text } => {
                let _ = self.out.send(Outgoing::Photo {
                    chat_id,
                    png,
                    caption,
                });
                (text, Vec::new())
            }
        };
        let parts = split_message(&text, MAX_MESSAGE_LEN);
        let last = parts.len().saturating_sub(1);
        let mut keyboard = Some(keyboard);
        for (i, part) in parts.into_iter().enumerate() {
            let _ = self.out.send(Outgoing::Message(OutMessage {
                chat_id,
                text: part,
                // Buttons go on the last part, under the whole text.
                keyboard: if i == last {
                    keyboard.take().unwrap_or_default()
                } else {
                    Vec::new()
                },
                silent,
            }));
        }
    }

    /// Handles one update (poller or webhook). Never panics; errors become replies.
    pub async fn handle(self: Arc<Self>, update: Update) {
        metrics::counter!(m::UPDATES_TOTAL, "kind" => update.kind_label()).increment(1);
        let now_unix = chrono_now();
        if update
            .date()
            .is_some_and(|d| poll::is_stale(d, now_unix, self.config.drop_pending_older_than))
        {
            tracing::info!(update_id = update.update_id, "dropped a stale update");
            metrics::counter!(m::UPDATES_DROPPED_TOTAL).increment(1);
            return;
        }
        match update.kind {
            UpdateKind::Message(msg) => self.on_message(msg).await,
            UpdateKind::Callback(cb) => self.on_callback(cb).await,
            UpdateKind::Other => {}
        }
    }

    #[tracing::instrument(skip_all, fields(chat_id = msg.chat_id))]
    async fn on_message(&self, msg: IncomingMessage) {
        let Some(from) = msg.from.clone().filter(|f| !f.is_bot) else {
            return;
        };
        let trace = trace_id();
        let invocation = msg
            .text
            .as_deref()
            .and_then(|t| command::parse(t, self.bot_username.as_deref()));
        if let Some(inv) = &invocation
            && inv.command == Some(ChatCommand::Link)
        {
            self.link(&msg, &from, inv.arg(0), &trace).await;
            return;
        }
        let user = match self.backend.linked_user(from.id).await {
            Ok(Some(u)) => u,
            Ok(None) => return self.unlinked(&msg, &from, &trace),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up the Telegram link");
                self.reply(
                    msg.chat_id,
                    from.id,
                    "",
                    Reply::Text("Temporarily unavailable; try again shortly.".into()),
                    false,
                );
                return;
            }
        };
        if let Some(doc) = msg.document.clone() {
            return self.document(&msg, &from, &user, doc, &trace).await;
        }
        // Plain text is a question for the AI (as `/ask`); anything else gets the hint.
        let Some(inv) =
            invocation.or_else(|| msg.text.as_deref().and_then(command::plain_question))
        else {
            self.reply(
                msg.chat_id,
                from.id,
                "",
                Reply::Text("Send /help for what I can do.".into()),
                false,
            );
            return;
        };
        let name = inv.command.map_or("unknown", ChatCommand::as_str);
        let handled = match inv.command {
            Some(ChatCommand::Help | ChatCommand::Start) => Handled::ok(Reply::Text(help_text())),
            None => Handled::text(
                "invalid",
                format!("Unknown command /{}. Send /help.", escape_html(&inv.name)),
            ),
            Some(_) => self.backend.command(&user, &inv, &trace).await,
        };
        metrics::counter!(m::COMMANDS_TOTAL, "command" => name, "outcome" => handled.outcome)
            .increment(1);
        // A question may hold anything (names, amounts): the audit row names the command
        // only; the trace id leads to its `llm_calls` rows.
        let target = if inv.command == Some(ChatCommand::Ask) {
            "/ask".to_owned()
        } else {
            std::iter::once(format!("/{}", inv.name))
                .chain(inv.args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        self.backend.audit(ChatAudit {
            trace_id: trace,
            telegram_user: from.label(),
            user: Some(format!("user:{}", user.username)),
            action: "telegram.command",
            target,
            outcome: handled.outcome.to_owned(),
        });
        self.reply(msg.chat_id, from.id, name, handled.reply, false);
    }

    async fn link(
        &self,
        msg: &IncomingMessage,
        from: &TgUser,
        code: Option<&str>,
        trace: &TraceId,
    ) {
        let result = match code {
            Some(code) => self.backend.link(code, from, msg.chat_id, trace).await,
            None => Err(LinkRefused::Unknown),
        };
        let (outcome, text) = match &result {
            Ok(u) => (
                "ok",
                format!(
                    "Linked to <b>{}</b> (role {}). Send /help.",
                    escape_html(&u.username),
                    escape_html(&u.role)
                ),
            ),
            Err(LinkRefused::Unavailable(_)) => (
                "error",
                "Temporarily unavailable; try again shortly.".to_owned(),
            ),
            Err(e) => (
                "refused",
                format!(
                    "Not linked: {e}. Create a code with POST /v1/telegram/link-codes, then send <code>/link CODE</code> within 10 minutes."
                ),
            ),
        };
        metrics::counter!(m::COMMANDS_TOTAL, "command" => "link", "outcome" => outcome)
            .increment(1);
        self.backend.audit(ChatAudit {
            trace_id: trace.clone(),
            telegram_user: from.label(),
            user: result.as_ref().ok().map(|u| format!("user:{}", u.username)),
            action: "telegram.link",
            target: "/link".to_owned(),
            outcome: outcome.to_owned(),
        });
        self.reply(msg.chat_id, from.id, "link", Reply::Text(text), false);
    }

    /// Someone not linked: one audit row each time, a fixed hint at most once per window.
    fn unlinked(&self, msg: &IncomingMessage, from: &TgUser, trace: &TraceId) {
        self.backend.audit(ChatAudit {
            trace_id: trace.clone(),
            telegram_user: from.label(),
            user: None,
            action: "telegram.unlinked",
            target: msg
                .text
                .as_deref()
                .map(|t| t.chars().take(64).collect())
                .unwrap_or_else(|| "(no text)".to_owned()),
            outcome: "refused".to_owned(),
        });
        metrics::counter!(m::COMMANDS_TOTAL, "command" => "unlinked", "outcome" => "refused")
            .increment(1);
        let now = Instant::now();
        let hint_due = {
            let mut hints = self.hints.lock().unwrap_or_else(PoisonError::into_inner);
            hints.retain(|_, at| now.duration_since(*at) < self.config.unlinked_hint_every);
            match hints.get(&from.id) {
                Some(_) => false,
                None => {
                    hints.insert(from.id, now);
                    true
                }
            }
        };
        if hint_due {
            self.reply(
                msg.chat_id,
                from.id,
                "",
                Reply::Text(NOT_LINKED.to_owned()),
                false,
            );
        }
    }

    async fn document(
        &self,
        msg: &IncomingMessage,
        from: &TgUser,
        user: &LinkedUser,
        doc: super::types::Document,
        trace: &TraceId,
    ) {
        let max = self.config.max_document_bytes;
        let handled = if doc.file_size.is_some_and(|s| s > max) {
            Handled::text(
                "invalid",
                format!("That file is larger than {} MB.", max / 1_000_000),
            )
        } else {
            match self.api.download(&doc.file_id, max).await {
                Ok(bytes) => self.backend.document(user, &doc, bytes, trace).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot download a document");
                    Handled::text("error", "I could not download that file; try again.")
                }
            }
        };
        metrics::counter!(m::COMMANDS_TOTAL, "command" => "document", "outcome" => handled.outcome)
            .increment(1);
        self.backend.audit(ChatAudit {
            trace_id: trace.clone(),
            telegram_user: from.label(),
            user: Some(format!("user:{}", user.username)),
            action: "telegram.document",
            target: doc
                .file_name
                .clone()
                .unwrap_or_else(|| "(unnamed)".to_owned()),
            outcome: handled.outcome.to_owned(),
        });
        self.reply(msg.chat_id, from.id, "document", handled.reply, false);
    }

    #[tracing::instrument(skip_all, fields(from = cb.from.id))]
    async fn on_callback(&self, cb: CallbackQuery) {
        let trace = trace_id();
        let press = cb.data.as_deref().and_then(Press::parse);
        let taken = match &press {
            Some(p) => self.tokens().take(&p.token, cb.from.id, Instant::now()),
            None => Err(TakeError::Unknown),
        };
        let (outcome, answer, outcome_text, command) = match taken {
            Err(TakeError::NotYours) => {
                ("refused", "This button is not yours.", None, String::new())
            }
            Err(TakeError::Expired) => (
                "expired",
                "Expired.",
                Some("Expired: nothing was done. Send the command again.".to_owned()),
                String::new(),
            ),
            Err(TakeError::Unknown) => (
                "expired",
                "No longer valid.",
                Some("No longer valid: nothing was done.".to_owned()),
                String::new(),
            ),
            Ok(pending) => {
                let choice = press.as_ref().map_or("n", |p| p.choice.as_str());
                let action = choice
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| pending.actions.get(i).cloned());
                match action {
                    None => (
                        "cancelled",
                        "Cancelled.",
                        Some("Cancelled: nothing was done.".to_owned()),
                        pending.command,
                    ),
                    Some(action) => match self.backend.linked_user(cb.from.id).await {
                        Ok(Some(user)) => {
                            // Answer at once: the client spins until we do, and the action may
                            // take seconds (a trading transition).
                            self.answer(&cb.id, Some("Working on it…")).await;
                            let handled = self.backend.choose(&user, &action, &trace).await;
                            self.finish_callback(
                                &cb,
                                &trace,
                                handled.outcome,
                                &pending.command,
                                Some(user.username.clone()),
                            );
                            match handled.reply {
                                Reply::Text(text) => self.edit(&cb, &text).await,
                                // A follow-up question (another keyboard): a new message.
                                other => {
                                    self.edit(&cb, "…").await;
                                    let chat = cb.message.map_or(cb.from.id, |(c, _)| c);
                                    self.reply(chat, cb.from.id, &pending.command, other, false);
                                }
                            }
                            return;
                        }
                        Ok(None) => ("refused", "You are not linked.", None, pending.command),
                        Err(_) => ("error", "Temporarily unavailable.", None, pending.command),
                    },
                }
            }
        };
        self.answer(&cb.id, Some(answer)).await;
        self.finish_callback(&cb, &trace, outcome, &command, None);
        if let Some(text) = outcome_text {
            self.edit(&cb, &text).await;
        }
    }

    fn finish_callback(
        &self,
        cb: &CallbackQuery,
        trace: &TraceId,
        outcome: &'static str,
        command: &str,
        user: Option<String>,
    ) {
        let command = if command.is_empty() {
            "unknown"
        } else {
            command
        };
        metrics::counter!(m::COMMANDS_TOTAL, "command" => format!("{command}:button"), "outcome" => outcome).increment(1);
        self.backend.audit(ChatAudit {
            trace_id: trace.clone(),
            telegram_user: cb.from.label(),
            user: user.map(|u| format!("user:{u}")),
            action: "telegram.callback",
            target: format!("{command} button"),
            outcome: outcome.to_owned(),
        });
    }

    async fn answer(&self, id: &str, text: Option<&str>) {
        if let Err(e) = self.api.answer_callback_query(id, text).await {
            count_send_error(&e);
            tracing::warn!(error = %e, "answerCallbackQuery failed");
        }
    }

    /// Edits the keyboard message to the outcome (which also removes its buttons).
    async fn edit(&self, cb: &CallbackQuery, text: &str) {
        let Some((chat, message)) = cb.message else {
            return;
        };
        let text: String = split_message(text, MAX_MESSAGE_LEN)
            .into_iter()
            .next()
            .unwrap_or_default();
        match self.api.edit_message_text(chat, message, &text).await {
            Ok(()) => {}
            Err(e) if e.is_not_modified() => {}
            Err(e) => {
                count_send_error(&e);
                tracing::warn!(error = %e, "editMessageText failed");
            }
        }
    }
}

const NOT_LINKED: &str = "This bot only answers linked accounts. Ask the owner for a link code \
(POST /v1/telegram/link-codes), then send /link CODE.";

pub(super) fn help_text() -> String {
    let mut s = String::from("<b>Commands</b>\n");
    for c in ChatCommand::registered() {
        let (usage, what) = c.describe();
        let usage = if usage.is_empty() {
            String::new()
        } else {
            format!(" {}", escape_html(usage))
        };
        s.push_str(&format!("/{}{usage} — {what}\n", c.as_str()));
    }
    s
}

fn chrono_now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(super) fn count_send_error(e: &TelegramError) {
    metrics::counter!(m::SEND_ERRORS_TOTAL, "code" => e.code_label()).increment(1);
}

/// The send queue: paced per chat and overall, 429s retried after `retry_after`.
async fn send_queue(
    api: Arc<dyn TelegramApi>,
    config: TelegramConfig,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut pacer = Pacer::new(config.pacing);
    let mut sent = 0u64;
    while let Some(item) = rx.recv().await {
        let chat = item.chat_id();
        for attempt in 0..5u32 {
            let at = pacer.reserve(chat, Instant::now());
            tokio::time::sleep_until(at.into()).await;
            let result = match &item {
                Outgoing::Message(m) => api.send_message(m).await.map(drop),
                Outgoing::Photo {
                    chat_id,
                    png,
                    caption,
                } => api
                    .send_photo(*chat_id, png.clone(), caption)
                    .await
                    .map(drop),
            };
            match result {
                Ok(()) => break,
                Err(e) => {
                    count_send_error(&e);
                    if let Some(after) = e.retry_after() {
                        tracing::info!(
                            chat,
                            retry_after_s = after.as_secs(),
                            "Telegram asked us to slow down"
                        );
                        pacer.retry_after(Some(chat), after, Instant::now());
                        continue;
                    }
                    if matches!(e, TelegramError::Network(_)) && attempt == 0 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    tracing::warn!(chat, error = %e, "message dropped");
                    break;
                }
            }
        }
        sent += 1;
        if sent.is_multiple_of(256) {
            pacer.housekeep(Instant::now());
        }
    }
}

/// Long polling until the task is aborted (a new session or shutdown).
pub(super) async fn poll_loop(session: Arc<Session>) {
    let mut policy = PollPolicy::new(session.config.poll);
    let mut offset: Option<i64> = None;
    let allowed = ["message", "callback_query"];
    let timeout = session.config.poll_timeout;
    loop {
        let started = Instant::now();
        let outcome = match session.api.get_updates(offset, timeout, &allowed).await {
            Ok(updates) => {
                up(&session.readiness, "polling");
                if updates.is_empty() {
                    PollOutcome::Empty(started.elapsed())
                } else {
                    for u in updates {
                        offset = Some(offset.map_or(u.update_id + 1, |o| o.max(u.update_id + 1)));
                        actix::spawn(Arc::clone(&session).handle(u));
                    }
                    PollOutcome::Updates
                }
            }
            Err(e) if e.is_conflict() => {
                metrics::counter!(m::CONFLICTS_TOTAL).increment(1);
                tracing::warn!(error = %e, "getUpdates conflict: another bot instance or a webhook uses this token");
                degraded(
                    &session.readiness,
                    format!("conflict (409): another poller or a webhook uses this bot token: {e}"),
                );
                PollOutcome::Conflict
            }
            Err(e) => match e.retry_after() {
                Some(after) => PollOutcome::RetryAfter(after),
                None => {
                    tracing::warn!(error = %e, "getUpdates failed");
                    degraded(&session.readiness, format!("getUpdates failed: {e}"));
                    if matches!(e, TelegramError::Network(_)) {
                        PollOutcome::Network
                    } else {
                        PollOutcome::Api
                    }
                }
            },
        };
        let delay = policy.next_delay(outcome, rand::rng().random::<f64>());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

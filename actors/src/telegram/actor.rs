//! `TelegramActor`: owns the running bot session. It (re)loads the bot's settings on start
//! and on `Reload` (the settings API sends one after a change), so a new token or mode
//! applies without a restart; it takes webhook updates and notifications as messages.

use super::TelegramConfig;
use super::command::ChatCommand;
use super::ports::{Bot, BotSource, ChatBackend, Reply};
use super::session::{self, Session, degraded, up};
use super::types::{BotMode, Update};
use actix::fut::{ActorFutureExt, WrapFuture};
use actix::{Actor, AsyncContext, Context, Handler, Message};
use std::sync::Arc;
use std::time::Duration;

// ---- messages -------------------------------------------------------------------------

/// An update pushed to the webhook. `false` when no bot is running to take it.
#[derive(Message, Debug)]
#[rtype(result = "bool")]
pub struct Incoming(pub Update);

/// Read the bot's settings again (token or mode may have changed).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Reload;

/// Send a notification (or any reply) to a linked user's chat.
#[derive(Message, Debug)]
#[rtype(result = "bool")]
pub struct Notify {
    pub chat_id: i64,
    pub telegram_user_id: i64,
    pub reply: Reply,
    pub silent: bool,
}

// ---- state ----------------------------------------------------------------------------

pub struct TelegramActor {
    source: Arc<dyn BotSource>,
    backend: Arc<dyn ChatBackend>,
    config: TelegramConfig,
    readiness: crate::supervise::Readiness,
    session: Option<Arc<Session>>,
    fingerprint: Option<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    loading: bool,
}

impl TelegramActor {
    pub fn new(
        source: Arc<dyn BotSource>,
        backend: Arc<dyn ChatBackend>,
        config: TelegramConfig,
        child: &crate::supervise::ChildContext,
    ) -> Self {
        Self {
            source,
            backend,
            config,
            readiness: child.readiness().clone(),
            session: None,
            fingerprint: None,
            tasks: Vec::new(),
            loading: false,
        }
    }

    fn stop_session(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.session = None;
    }

    fn apply(
        &mut self,
        loaded: Result<Option<Bot>, crate::ports::DependencyError>,
        ctx: &mut Context<Self>,
    ) {
        let bot = match loaded {
            Ok(Some(bot)) => bot,
            Ok(None) => {
                self.stop_session();
                self.fingerprint = None;
                degraded(
                    &self.readiness,
                    "no bot token: set the integration default/telegram secret bot_token (or APP__TELEGRAM__BOT_TOKEN)",
                );
                return;
            }
            Err(e) => {
                degraded(&self.readiness, format!("settings not readable yet: {e}"));
                ctx.run_later(self.config.reload_retry, |_, ctx| ctx.notify(Reload));
                return;
            }
        };
        if self.fingerprint.as_deref() == Some(bot.fingerprint.as_str()) && self.session.is_some() {
            return;
        }
        self.stop_session();
        self.fingerprint = Some(bot.fingerprint.clone());
        tracing::info!(mode = ?bot.mode, "Telegram bot starting");
        let (api, backend, config, readiness) = (
            Arc::clone(&bot.api),
            Arc::clone(&self.backend),
            self.config,
            self.readiness.clone(),
        );
        // Setting up is a few calls; the session exists once `getMe` answered (or failed:
        // the username then stays unknown and `/cmd@bot` mentions are accepted as ours).
        let setup = async move {
            let username = match api.get_me().await {
                Ok(me) => me.username,
                Err(e) => {
                    tracing::warn!(error = %e, "getMe failed; continuing without the bot's username");
                    None
                }
            };
            let commands: Vec<(String, String)> = ChatCommand::registered()
                .map(|c| (c.as_str().to_owned(), c.describe().1.to_owned()))
                .collect();
            // Optional: a failure is logged once and the bot carries on.
            if let Err(e) = api.set_my_commands(&commands).await {
                session::count_send_error(&e);
                tracing::warn!(error = %e, "setMyCommands failed; commands work, the menu may be stale");
            }
            let mode_ok = match &bot.mode {
                BotMode::Polling => api.delete_webhook().await,
                BotMode::Webhook { url, secret } => api.set_webhook(url, secret).await,
            };
            (username, mode_ok, bot.mode, api, backend, config, readiness)
        };
        ctx.spawn(setup.into_actor(self).map(
            |(username, mode_ok, mode, api, backend, config, readiness), act, _| {
                let (session, sender) =
                    Session::start(api, backend, config, readiness.clone(), username);
                act.tasks.push(sender);
                match (&mode, mode_ok) {
                    (BotMode::Polling, res) => {
                        if let Err(e) = res {
                            tracing::warn!(error = %e, "deleteWebhook failed; polling anyway");
                        }
                        act.tasks
                            .push(actix::spawn(session::poll_loop(Arc::clone(&session))));
                    }
                    (BotMode::Webhook { url, .. }, Ok(())) => {
                        up(&readiness, "webhook set");
                        tracing::info!(url, "Telegram webhook set");
                    }
                    (BotMode::Webhook { .. }, Err(e)) => {
                        degraded(&readiness, format!("setWebhook failed: {e}"));
                    }
                }
                act.session = Some(session);
            },
        ));
    }
}

impl Actor for TelegramActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        degraded(&self.readiness, "starting");
        ctx.notify(Reload);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.stop_session();
    }
}

impl Handler<Reload> for TelegramActor {
    type Result = ();

    #[tracing::instrument(skip_all)]
    fn handle(&mut self, _: Reload, ctx: &mut Self::Context) {
        if self.loading {
            // One load at a time; the running one reads the newest settings anyway... unless
            // they changed after it read them: check again once it is done.
            ctx.run_later(Duration::from_millis(200), |_, ctx| ctx.notify(Reload));
            return;
        }
        self.loading = true;
        let source = Arc::clone(&self.source);
        ctx.spawn(
            async move { source.load().await }
                .into_actor(self)
                .map(|loaded, act, ctx| {
                    act.loading = false;
                    act.apply(loaded, ctx);
                }),
        );
    }
}

impl Handler<Incoming> for TelegramActor {
    type Result = bool;

    fn handle(&mut self, msg: Incoming, _: &mut Self::Context) -> bool {
        match &self.session {
            Some(s) => {
                actix::spawn(Arc::clone(s).handle(msg.0));
                true
            }
            None => false,
        }
    }
}

impl Handler<Notify> for TelegramActor {
    type Result = bool;

    fn handle(&mut self, msg: Notify, _: &mut Self::Context) -> bool {
        match &self.session {
            Some(s) => {
                s.reply(
                    msg.chat_id,
                    msg.telegram_user_id,
                    "notify",
                    msg.reply,
                    msg.silent,
                );
                true
            }
            None => false,
        }
    }
}

//! The `ChatBackend` port on the database: links, and each command run with the linked
//! user's current role through the same access table as REST (each command names the REST
//! route it mirrors), lifecycle commands through the same durable jobs (with the chat's
//! trace id), confirmations for destructive ones.

use super::store;
use crate::api::AppState;
use crate::audit::Entry;
use crate::auth::Role;
use crate::auth::policy::{self, Access};
use crate::error::ApiError;
use actors::TraceId;
use actors::ports::DependencyError;
use actors::telegram::command::{ChatCommand, Invocation};
use actors::telegram::ports::{ChatAudit, ChatBackend, Handled, LinkRefused, LinkedUser, Reply};
use actors::telegram::resolve::{self, Resolved};
use actors::telegram::text::escape_html as esc;
use actors::telegram::types::{Document, TgUser};
use actors::trading::fsm::Command;
use async_trait::async_trait;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The application state appears after the actor starts (it holds the actor's address).
pub type StateCell = Arc<OnceLock<AppState>>;

pub struct SqlChatBackend {
    pub state: StateCell,
    /// How long a lifecycle command waits for its job before replying "still running".
    pub transition_wait: Duration,
    /// Statement files sent to the bot, waiting for the user to pick the account.
    pub pending: super::finance::PendingFiles,
}

/// The REST route a command mirrors: its access rule decides who may run it.
fn route(command: ChatCommand) -> Option<(&'static str, &'static str)> {
    use ChatCommand as C;
    Some(match command {
        C::Status => ("GET", "/v1/trading/strategies"),
        C::Deploy => ("POST", "/v1/trading/deploy"),
        C::Stop => ("POST", "/v1/trading/stop"),
        C::Pause => ("POST", "/v1/trading/pause"),
        C::Resume => ("POST", "/v1/trading/resume"),
        C::Balance => ("GET", "/v1/trading/connectors/{name}/balances"),
        C::Pnl => ("GET", "/v1/trading/pnl"),
        C::Report | C::Spent => ("GET", "/v1/financial/reports/spending"),
        C::Sync => ("POST", "/v1/financial/accounts/{id}/sync"),
        C::Uncategorized => ("GET", "/v1/financial/transactions"),
        C::Jobs => ("GET", "/v1/jobs"),
        C::Health => ("GET", "/health/ready"),
        C::Notify => ("PUT", "/v1/telegram/preferences"),
        C::Ask => ("POST", "/v1/ai/ask"),
        C::Help | C::Start | C::Link => return None,
    })
}

/// `None` when allowed; else the refusal text.
fn refusal(user: &LinkedUser, method: &str, path: &str) -> Option<String> {
    let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
    match policy::access_for(method, path) {
        Some(Access::Public) => None,
        Some(Access::Role(needed)) if role >= needed => None,
        Some(Access::Role(needed)) => Some(format!(
            "Refused: this needs role <b>{}</b>; you are <b>{}</b>.",
            needed.as_str(),
            role.as_str()
        )),
        None => Some("Refused: this operation is not in the access table.".to_owned()),
    }
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> Handled {
    tracing::warn!(error = %e, "telegram command failed");
    Handled::text(
        "error",
        "Something went wrong on our side; try again shortly.",
    )
}

fn api_error(e: ApiError) -> Handled {
    match e {
        ApiError::Conflict(m) => Handled::text("refused", format!("Not possible now: {}", esc(&m))),
        ApiError::NotFound(m) => Handled::text("not_found", esc(&m)),
        other => unavailable(other),
    }
}

fn fmt_since(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

impl SqlChatBackend {
    pub(super) fn state(&self) -> Result<&AppState, DependencyError> {
        self.state
            .get()
            .ok_or_else(|| DependencyError("starting".to_owned()))
    }

    pub(super) fn db(&self) -> Result<crate::db::Db, DependencyError> {
        self.state()?.db.port()
    }

    async fn status(&self) -> Handled {
        let (Ok(state), Ok(db)) = (self.state(), self.db()) else {
            return unavailable("not ready");
        };
        let report = match crate::api::trading::reads::pnl_report(&db, &state.trading.venues).await
        {
            Ok(r) => r,
            Err(e) => return api_error(e),
        };
        let rows = match crate::trading::strategies::list(&db).await {
            Ok(r) => r,
            Err(e) => return unavailable(e),
        };
        if rows.is_empty() {
            return Handled::ok(Reply::Text("No strategies yet.".to_owned()));
        }
        let mut out = String::from("<b>Strategies</b>\n");
        for r in &rows {
            let pnl = report
                .strategies
                .iter()
                .find(|p| p.strategy_id == r.id)
                .map(|p| format!("{} {}", p.pnl.total, p.currency))
                .unwrap_or_default();
            out.push_str(&format!(
                "• <b>{}</b> — {} since {} — PnL {}{}\n",
                esc(&r.name),
                esc(&r.state),
                fmt_since(r.state_since),
                esc(&pnl),
                if r.mode == "live" { " — LIVE" } else { "" },
            ));
        }
        Handled::ok(Reply::Text(out))
    }

    /// `/deploy|/stop|/pause|/resume NAME` (and `/stop all`).
    async fn lifecycle(
        &self,
        user: &LinkedUser,
        command: Command,
        inv: &Invocation,
        trace: &TraceId,
    ) -> Handled {
        let Some(name) = inv.arg(0) else {
            return Handled::text("invalid", format!("Usage: /{} NAME", command.as_str()));
        };
        let db = match self.db() {
            Ok(d) => d,
            Err(e) => return unavailable(e),
        };
        let rows = match crate::trading::strategies::list(&db).await {
            Ok(r) => r,
            Err(e) => return unavailable(e),
        };
        if command == Command::Stop && name.eq_ignore_ascii_case("all") {
            let running: Vec<&str> = rows
                .iter()
                .filter(|r| matches!(r.state.as_str(), "live" | "paused"))
                .map(|r| r.name.as_str())
                .collect();
            if running.is_empty() {
                return Handled::text("ok", "Nothing is running.");
            }
            return Handled::ok(Reply::Confirm {
                text: format!(
                    "Stop <b>all {}</b> running strategies ({})?",
                    running.len(),
                    esc(&running.join(", "))
                ),
                action: "stop-all".to_owned(),
            });
        }
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        let row = match resolve::resolve(name, &names) {
            Resolved::One(n) => rows.iter().find(|r| r.name == n).cloned(),
            Resolved::NotFound { suggestions } => {
                return Handled::text(
                    "not_found",
                    resolve::not_found_message("strategy", name, &suggestions, &names),
                );
            }
        };
        let Some(row) = row else {
            return unavailable("resolved name vanished");
        };
        // Destructive: stopping with open positions, or anything on a live strategy.
        let live = row.mode == "live";
        let open_positions = if command == Command::Stop {
            crate::trading::store::position_rows(&db, &row.id)
                .await
                .map(|ps| {
                    ps.iter()
                        .any(|p| p.record().is_ok_and(|r| !r.position.qty.is_zero()))
                })
                .unwrap_or(true)
        } else {
            false
        };
        let action = format!("{}:{}", command.as_str(), row.id);
        if live || open_positions {
            let why = if live {
                "it trades real money (live)"
            } else {
                "it has open positions (they stay open)"
            };
            return Handled::ok(Reply::Confirm {
                text: format!(
                    "{} <b>{}</b>? Note: {why}.",
                    capitalise(command.as_str()),
                    esc(&row.name)
                ),
                action,
            });
        }
        self.choose(user, &action, trace).await
    }

    async fn run_transition(
        &self,
        user: &LinkedUser,
        command: Command,
        strategy_id: &str,
        trace: &TraceId,
    ) -> Handled {
        let (Ok(state), Ok(db)) = (self.state(), self.db()) else {
            return unavailable("not ready");
        };
        let row = match crate::trading::strategies::get(&db, strategy_id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Handled::text("not_found", "That strategy no longer exists."),
            Err(e) => return unavailable(e),
        };
        let name = row.name.clone();
        let who = format!("user:{}", user.username);
        let requested = match crate::api::trading::commands::request(
            state,
            row,
            command,
            who.clone(),
            Some(format!(
                "{} requested by {who} via Telegram",
                command.as_str()
            )),
            trace.clone(),
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return api_error(e),
        };
        state.audit.record(Entry {
            trace_id: trace,
            principal: who,
            action: &format!("strategy.{}.request", command.as_str()),
            target: format!("strategy:{name}"),
            outcome: "accepted",
            client_ip: None,
            detail: Some(format!("job {} (telegram)", requested.job_id)),
        });
        // Reply when the transition happened (or failed), not when it was queued.
        let deadline = tokio::time::Instant::now() + self.transition_wait;
        loop {
            match crate::jobs::store::get(&db, &requested.job_id).await {
                Ok(Some(job)) if job.state == "completed" => {
                    let now = crate::trading::strategies::get(&db, strategy_id)
                        .await
                        .ok()
                        .flatten()
                        .map_or_else(String::new, |r| r.state);
                    return Handled::text(
                        "ok",
                        format!("<b>{}</b> is now <b>{}</b>.", esc(&name), esc(&now)),
                    );
                }
                Ok(Some(job)) if matches!(job.state.as_str(), "dead" | "cancelled") => {
                    return Handled::text(
                        "error",
                        format!(
                            "{} <b>{}</b> failed: {}",
                            capitalise(command.as_str()),
                            esc(&name),
                            esc(job.last_error.as_deref().unwrap_or("unknown error"))
                        ),
                    );
                }
                Ok(_) | Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Handled::text(
                        "ok",
                        format!(
                            "Requested ({} <b>{}</b>, job {}); still running.",
                            command.as_str(),
                            esc(&name),
                            requested.job_id
                        ),
                    );
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn stop_all(&self, user: &LinkedUser, trace: &TraceId) -> Handled {
        let db = match self.db() {
            Ok(d) => d,
            Err(e) => return unavailable(e),
        };
        let rows = match crate::trading::strategies::list(&db).await {
            Ok(r) => r,
            Err(e) => return unavailable(e),
        };
        let mut lines = Vec::new();
        for r in rows
            .iter()
            .filter(|r| matches!(r.state.as_str(), "live" | "paused"))
        {
            let h = self.run_transition(user, Command::Stop, &r.id, trace).await;
            if let Reply::Text(t) = h.reply {
                lines.push(t);
            }
        }
        if lines.is_empty() {
            lines.push("Nothing was running.".to_owned());
        }
        Handled::text("ok", lines.join("\n"))
    }

    async fn balance(&self, inv: &Invocation) -> Handled {
        let Ok(state) = self.state() else {
            return unavailable("not ready");
        };
        let venues = &state.trading.venues;
        let names: Vec<&str> = venues.keys().map(String::as_str).collect();
        let chosen: Vec<&str> = match inv.arg(0) {
            None => names.clone(),
            Some(v) => match resolve::resolve(v, &names) {
                Resolved::One(n) => vec![n],
                Resolved::NotFound { suggestions } => {
                    return Handled::text(
                        "not_found",
                        resolve::not_found_message("venue", v, &suggestions, &names),
                    );
                }
            },
        };
        let mut out = String::new();
        for name in chosen {
            let Some(venue) = venues.get(name) else {
                continue;
            };
            out.push_str(&format!("<b>{}</b>\n", esc(name)));
            match venue.balances().await {
                Ok(b) => {
                    for (asset, v) in b.iter().filter(|(_, v)| !v.is_zero()) {
                        out.push_str(&format!("  {} {}\n", esc(asset), v.normalize()));
                    }
                }
                Err(e) => out.push_str(&format!("  unavailable: {}\n", esc(&e.to_string()))),
            }
        }
        Handled::ok(Reply::Text(out))
    }

    /// `/pnl [day|week|month]`: cumulative realised PnL as a chart, plus the table of current
    /// PnL per strategy (realised / unrealised / total).
    async fn pnl(&self, inv: &Invocation) -> Handled {
        let (Ok(state), Ok(db)) = (self.state(), self.db()) else {
            return unavailable("not ready");
        };
        let period = inv.arg(0).unwrap_or("all").to_ascii_lowercase();
        let now = chrono::Utc::now();
        let from = match period.as_str() {
            "all" => None,
            "day" => Some(now - chrono::Duration::days(1)),
            "week" => Some(now - chrono::Duration::weeks(1)),
            "month" => Some(now - chrono::Duration::days(30)),
            _ => return Handled::text("invalid", "Usage: /pnl [day|week|month]"),
        };
        let report = match crate::api::trading::reads::pnl_report(&db, &state.trading.venues).await
        {
            Ok(r) => r,
            Err(e) => return api_error(e),
        };
        let rows: Vec<Vec<String>> = report
            .strategies
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.pnl.realised.clone(),
                    s.pnl.unrealised.clone(),
                    s.pnl.total.clone(),
                    s.currency.clone(),
                ]
            })
            .chain(report.totals.iter().map(|(c, p)| {
                vec![
                    "TOTAL".to_owned(),
                    p.realised.clone(),
                    p.unrealised.clone(),
                    p.total.clone(),
                    c.clone(),
                ]
            }))
            .collect();
        let table =
            crate::charts::text_table(&["strategy", "realised", "unrealised", "total", ""], &rows);
        let text = format!("<b>PnL</b>\n<pre>{}</pre>", esc(&table));
        let window = crate::trading::pnl_history::PnlWindow {
            strategy_id: None,
            from,
            to: None,
        };
        let curves = match crate::trading::pnl_history::cumulative_realised(&db, &window, now).await
        {
            Ok(c) => c,
            Err(e) => return unavailable(e),
        };
        let Some((currency, _)) = crate::charts::choose_currency(
            curves
                .iter()
                .map(|(c, p)| (c.as_str(), i64::try_from(p.len()).unwrap_or(i64::MAX))),
        ) else {
            return Handled::ok(Reply::Text(text));
        };
        let points = curves.get(&currency).cloned().unwrap_or_default();
        let title = format!("Realised PnL ({period}), {currency}");
        let caption = title.clone();
        match tokio::task::spawn_blocking(move || {
            crate::charts::cumulative_pnl_png(&title, &points, &currency)
        })
        .await
        {
            Ok(Ok(png)) => Handled::ok(Reply::Photo { png, caption, text }),
            other => {
                tracing::warn!(?other, "PnL chart not rendered; replying with text");
                Handled::ok(Reply::Text(text))
            }
        }
    }

    /// `/report [YYYY-MM]` and `/spent [category] [YYYY-MM]`: spending by category (a chart for
    /// `/report`) plus a text table.
    async fn report(&self, inv: &Invocation, category: Option<&str>) -> Handled {
        let db = match self.db() {
            Ok(d) => d,
            Err(e) => return unavailable(e),
        };
        let month = inv
            .args
            .iter()
            .find(|a| a.len() == 7 && a.as_bytes().get(4) == Some(&b'-'))
            .cloned()
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m").to_string());
        if chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_err() {
            return Handled::text("invalid", "Usage: /report [YYYY-MM]");
        }
        let range = crate::finance::reports::Range {
            from: Some(format!("{month}-01")),
            to: Some(format!("{month}-31")),
            account_id: None,
        };
        let rows = match crate::finance::spending_totals::by_category(&db, &range).await {
            Ok(r) => r,
            Err(e) => return unavailable(e),
        };
        let Some((currency, others)) =
            crate::charts::choose_currency(rows.iter().map(|r| (r.currency.as_str(), r.count)))
        else {
            return Handled::ok(Reply::Text(format!("No spending recorded for {month}.")));
        };
        let bars: Vec<(String, rust_decimal::Decimal)> = rows
            .iter()
            .filter(|r| r.currency == currency)
            .filter(|r| category.is_none_or(|c| r.name.eq_ignore_ascii_case(c)))
            .map(|r| (r.name.clone(), r.spent))
            .collect();
        if bars.is_empty() {
            return Handled::ok(Reply::Text(format!(
                "No spending in {} recorded for {month}.",
                esc(category.unwrap_or("any category"))
            )));
        }
        let mut text = format!(
            "<b>Spending {month}</b>\n<pre>{}</pre>",
            esc(&crate::charts::spending_table(&bars, &currency))
        );
        if !others.is_empty() {
            text.push_str(&format!(
                "\nAlso in {} (not converted).",
                esc(&others.join(", "))
            ));
        }
        if category.is_some() {
            return Handled::ok(Reply::Text(text));
        }
        let title = format!("Spending by category, {month}, {currency}");
        let caption = title.clone();
        match tokio::task::spawn_blocking(move || {
            crate::charts::spending_by_category_png(&title, &bars, &currency)
        })
        .await
        {
            Ok(Ok(png)) => Handled::ok(Reply::Photo { png, caption, text }),
            other => {
                tracing::warn!(?other, "spending chart not rendered; replying with text");
                Handled::ok(Reply::Text(text))
            }
        }
    }

    async fn jobs(&self) -> Handled {
        let db = match self.db() {
            Ok(d) => d,
            Err(e) => return unavailable(e),
        };
        let rows = match crate::jobs::store::list(&db, None, None, None, 10).await {
            Ok(r) => r,
            Err(e) => return unavailable(e),
        };
        let mut out = String::from("<b>Recent jobs</b>\n");
        for j in rows {
            out.push_str(&format!(
                "• {}/{} — {}{}\n",
                esc(&j.queue),
                esc(&j.name),
                esc(&j.state),
                j.last_error
                    .map(|e| format!(" ({})", esc(&e.chars().take(80).collect::<String>())))
                    .unwrap_or_default()
            ));
        }
        Handled::ok(Reply::Text(out))
    }

    fn health(&self) -> Handled {
        let Ok(state) = self.state() else {
            return unavailable("not ready");
        };
        let r = state.readiness.report();
        let mut out = format!("<b>{}</b>\n", if r.ready { "Ready" } else { "NOT ready" });
        for (name, c) in r.dependencies.iter().chain(r.optional.iter()) {
            out.push_str(&format!(
                "• {} — {:?}{}\n",
                esc(name),
                c.status,
                c.detail
                    .as_deref()
                    .map(|d| format!(": {}", esc(d)))
                    .unwrap_or_default()
            ));
        }
        let down: Vec<&String> = r
            .actors
            .iter()
            .filter(|(_, c)| c.status != actors::supervise::Status::Up)
            .map(|(n, _)| n)
            .collect();
        if !down.is_empty() {
            out.push_str(&format!(
                "Actors not up: {}\n",
                esc(&down
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
            ));
        }
        Handled::ok(Reply::Text(out))
    }

    async fn notify(&self, user: &LinkedUser, inv: &Invocation) -> Handled {
        use super::prefs::{Level, NotificationKind};
        let db = match self.db() {
            Ok(d) => d,
            Err(e) => return unavailable(e),
        };
        if let (Some(kind), Some(level)) = (inv.arg(0), inv.arg(1)) {
            let (Ok(kind), Ok(level)) = (kind.parse::<NotificationKind>(), level.parse::<Level>())
            else {
                return Handled::text(
                    "invalid",
                    "Usage: /notify KIND on|silent|off (kinds: trades, strategies, arbitrage, transactions, jobs, summary, ai)",
                );
            };
            if let Err(e) =
                store::set_preference(&db, &user.user_id, kind.as_str(), level.as_str()).await
            {
                return unavailable(e);
            }
        }
        let stored = store::preferences(&db, &user.user_id)
            .await
            .unwrap_or_default();
        let mut out = String::from("<b>Notifications</b>\n");
        for (k, l) in super::prefs::effective(&stored) {
            out.push_str(&format!("• {} — {}\n", k.as_str(), l.as_str()));
        }
        out.push_str("Change: /notify KIND on|silent|off");
        Handled::ok(Reply::Text(out))
    }

    /// `/sync ACCOUNT`: the one account (resolved by name, as `POST /v1/financial/accounts/{id}/sync`).
    async fn sync_one(&self, user: &LinkedUser, name: &str, trace: &TraceId) -> Handled {
        let (Ok(state), Ok(db)) = (self.state(), self.db()) else {
            return unavailable("not ready");
        };
        let rows = match crate::finance::accounts::list(&db, false).await {
            Ok(r) => r,
            Err(e) => return unavailable(e),
        };
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        let Some(a) = (match resolve::resolve(name, &names) {
            Resolved::One(n) => rows.iter().find(|r| r.name == n),
            Resolved::NotFound { suggestions } => {
                return Handled::text(
                    "not_found",
                    resolve::not_found_message("account", name, &suggestions, &names),
                );
            }
        }) else {
            return unavailable("resolved name vanished");
        };
        if a.external_ref.is_none() {
            return Handled::text(
                "invalid",
                format!(
                    "<b>{}</b> is not linked to a bank provider account (set its external_ref first).",
                    esc(&a.name)
                ),
            );
        }
        let mut spec = actors::jobs::JobSpec::of::<crate::finance::jobs::SyncBank>(
            &crate::finance::jobs::SyncBankPayload {
                account_id: a.id.clone(),
            },
            trace.clone(),
        );
        // The same double-tap window as the REST route.
        spec.idempotency_key = Some(format!("sync:{}", a.id));
        spec.idempotency_window = Duration::from_secs(2);
        match state.jobs.enqueue(&spec).await {
            Ok((id, _)) => {
                state.audit.record(Entry {
                    trace_id: trace,
                    principal: format!("user:{}", user.username),
                    action: "account.sync.request",
                    target: format!("account:{}", a.name),
                    outcome: "accepted",
                    client_ip: None,
                    detail: Some(format!("job {id} (telegram)")),
                });
                Handled::text(
                    "ok",
                    format!("Sync of <b>{}</b> requested (job {id}).", esc(&a.name)),
                )
            }
            Err(e) => unavailable(e),
        }
    }

    async fn sync(&self, user: &LinkedUser, trace: &TraceId) -> Handled {
        let Ok(state) = self.state() else {
            return unavailable("not ready");
        };
        let spec = actors::jobs::JobSpec::of::<crate::finance::jobs::SyncAll>(
            &Default::default(),
            trace.clone(),
        );
        match state.jobs.enqueue(&spec).await {
            Ok((id, _)) => {
                state.audit.record(Entry {
                    trace_id: trace,
                    principal: format!("user:{}", user.username),
                    action: "finance.sync.request",
                    target: "accounts:all".to_owned(),
                    outcome: "accepted",
                    client_ip: None,
                    detail: Some(format!("job {id} (telegram)")),
                });
                Handled::text("ok", format!("Bank sync requested (job {id})."))
            }
            Err(e) => unavailable(e),
        }
    }
}

impl SqlChatBackend {
    /// The daily summary: strategies with state and PnL, then totals.
    pub async fn summary(&self) -> String {
        let mut out = String::from("<b>Daily summary</b>\n");
        for h in [
            self.status().await,
            self.pnl(&Invocation {
                name: "pnl".into(),
                command: Some(ChatCommand::Pnl),
                args: vec![],
            })
            .await,
        ] {
            if let Reply::Text(t) = h.reply {
                out.push_str(&t);
                out.push('\n');
            }
        }
        out
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[async_trait]
impl ChatBackend for SqlChatBackend {
    async fn linked_user(
        &self,
        telegram_user_id: i64,
    ) -> Result<Option<LinkedUser>, DependencyError> {
        let db = self.db()?;
        let link = store::link_of(&db, telegram_user_id)
            .await
            .map_err(crate::db::port_error)?;
        // A disabled user's link stays but answers nothing, as their tokens do.
        Ok(link.filter(|l| !l.disabled).map(|l| LinkedUser {
            user_id: l.user_id,
            username: l.username,
            role: l.role,
        }))
    }

    async fn link(
        &self,
        code: &str,
        from: &TgUser,
        chat_id: i64,
        _trace: &TraceId,
    ) -> Result<LinkedUser, LinkRefused> {
        let db = self.db().map_err(|e| LinkRefused::Unavailable(e.0))?;
        match store::redeem(&db, code, from.id, from.username.as_deref(), chat_id).await {
            Ok(store::Redeem::Linked { .. }) => self
                .linked_user(from.id)
                .await
                .map_err(|e| LinkRefused::Unavailable(e.0))?
                .ok_or(LinkRefused::Unknown),
            Ok(store::Redeem::Unknown) => Err(LinkRefused::Unknown),
            Ok(store::Redeem::Expired) => Err(LinkRefused::Expired),
            Ok(store::Redeem::Used) => Err(LinkRefused::Used),
            Err(e) => Err(LinkRefused::Unavailable(e.to_string())),
        }
    }

    async fn command(&self, user: &LinkedUser, inv: &Invocation, trace: &TraceId) -> Handled {
        let Some(command) = inv.command else {
            return Handled::text("invalid", "Unknown command. Send /help.");
        };
        if let Some((method, path)) = route(command)
            && let Some(why) = refusal(user, method, path)
        {
            return Handled::text("refused", why);
        }
        use ChatCommand as C;
        match command {
            C::Status => self.status().await,
            C::Deploy => self.lifecycle(user, Command::Deploy, inv, trace).await,
            C::Stop => self.lifecycle(user, Command::Stop, inv, trace).await,
            C::Pause => self.lifecycle(user, Command::Pause, inv, trace).await,
            C::Resume => self.lifecycle(user, Command::Resume, inv, trace).await,
            C::Balance => self.balance(inv).await,
            C::Pnl => self.pnl(inv).await,
            C::Report => self.report(inv, None).await,
            C::Spent => {
                let category = inv
                    .arg(0)
                    .filter(|a| !(a.len() == 7 && a.as_bytes().get(4) == Some(&b'-')));
                self.report(inv, category).await
            }
            // Account names may contain spaces.
            C::Sync if !inv.args.is_empty() => {
                self.sync_one(user, &inv.args.join(" "), trace).await
            }
            C::Sync => self.sync(user, trace).await,
            C::Uncategorized => self.uncategorized().await,
            C::Jobs => self.jobs().await,
            C::Health => self.health(),
            C::Notify => self.notify(user, inv).await,
            C::Ask => self.ask(inv, trace).await,
            C::Help | C::Start | C::Link => Handled::text("invalid", "Send /help."),
        }
    }

    async fn choose(&self, user: &LinkedUser, action: &str, trace: &TraceId) -> Handled {
        // Authorized again at the press: the role may have changed since the question.
        let (verb, arg) = action.split_once(':').unwrap_or((action, ""));
        match verb {
            "import" => {
                return match refusal(user, "POST", "/v1/financial/imports") {
                    Some(why) => Handled::text("refused", why),
                    None => self.run_import(user, arg, trace).await,
                };
            }
            "cat" => {
                return match refusal(user, "PATCH", "/v1/financial/transactions/{id}") {
                    Some(why) => Handled::text("refused", why),
                    None => self.categorize(user, arg, trace).await,
                };
            }
            _ => {}
        }
        let command = match verb {
            "stop-all" => Some(Command::Stop),
            other => Command::parse(other).filter(|c| *c != Command::Fault),
        };
        let Some(command) = command else {
            return Handled::text("invalid", "Unknown action.");
        };
        let path = format!("/v1/trading/{}", command.as_str());
        if let Some(why) = refusal(user, "POST", &path) {
            return Handled::text("refused", why);
        }
        if verb == "stop-all" {
            return self.stop_all(user, trace).await;
        }
        self.run_transition(user, command, arg, trace).await
    }

    async fn document(
        &self,
        user: &LinkedUser,
        doc: &Document,
        bytes: Vec<u8>,
        _trace: &TraceId,
    ) -> Handled {
        if let Some(why) = refusal(user, "POST", "/v1/financial/imports") {
            return Handled::text("refused", why);
        }
        self.offer_import(doc, bytes).await
    }

    fn audit(&self, e: ChatAudit) {
        let Ok(state) = self.state() else { return };
        state.audit.record(Entry {
            trace_id: &e.trace_id,
            principal: e.user.clone().unwrap_or_else(|| e.telegram_user.clone()),
            action: e.action,
            target: e.target,
            outcome: &e.outcome,
            client_ip: None,
            detail: Some(format!(
                "telegram user {}{}",
                e.telegram_user,
                e.user
                    .map(|u| format!(", linked to {u}"))
                    .unwrap_or_default()
            )),
        });
    }
}

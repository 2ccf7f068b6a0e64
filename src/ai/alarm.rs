//! The monthly budget is used up: one audit row per month and one Telegram message per month
//! to each linked admin (by their `ai` notification preference). The engine raises the alarm
//! once per month and process; the audit row makes it once per month across restarts.

use crate::audit::{Audit, Entry};
use crate::db::DbHandle;
use crate::db::audit::{self, EventFilter};
use crate::telegram::notify::Notifier;
use crate::telegram::prefs::NotificationKind;
use actors::ai::engine::BudgetReached;
use chrono::{NaiveDate, TimeZone, Utc};
use std::sync::{Arc, OnceLock};

/// The audit action of the alarm.
pub const ACTION: &str = "ai.budget_reached";

#[derive(Clone)]
pub struct BudgetAlarm {
    pub db: DbHandle,
    pub audit: Audit,
    /// Set when the bot starts (after the AI core); empty without Telegram.
    pub notifier: Arc<OnceLock<Notifier>>,
}

impl BudgetAlarm {
    /// Raises the alarm before the refused call returns (once a month and process, a few
    /// milliseconds: one read, an audit event, queued messages), so whoever sees the refusal
    /// can also find the alarm.
    pub async fn raise(&self, reached: &BudgetReached) {
        if let Err(e) = self.announce(reached).await {
            tracing::warn!(error = %e, month = %reached.month, "AI budget alarm not raised");
        }
    }

    #[tracing::instrument(skip_all, fields(month = %r.month, trace_id = %r.trace_id))]
    async fn announce(&self, r: &BudgetReached) -> anyhow::Result<()> {
        let db = self.db.port()?;
        let start = NaiveDate::parse_from_str(&format!("{}-01", r.month), "%Y-%m-%d")?
            .and_hms_opt(0, 0, 0)
            .map(|t| Utc.from_utc_datetime(&t));
        let earlier = audit::list(
            &db,
            &EventFilter {
                action: Some(ACTION.to_owned()),
                since: start,
                limit: 1,
                ..EventFilter::default()
            },
        )
        .await?;
        if !earlier.is_empty() {
            return Ok(()); // announced before a restart
        }
        self.audit.record(Entry {
            trace_id: &r.trace_id,
            principal: "service:ai".to_owned(),
            action: ACTION,
            target: format!("ai:budget:{}", r.month),
            outcome: "refused",
            client_ip: None,
            detail: Some(format!(
                "monthly budget of {} USD reached ({} USD spent); AI calls are refused until next month",
                r.limit, r.spent
            )),
        });
        if let Some(n) = self.notifier.get() {
            let text = format!(
                "💸 The AI budget for {} is used up: {} USD spent of {} USD. Questions and LLM \
                 categorization stop until next month (raise ai.monthly_budget_usd to go on).",
                r.month, r.spent, r.limit
            );
            n.to_admins(&format!("{ACTION}:{}", r.month), NotificationKind::Ai, text)
                .await?;
        }
        Ok(())
    }
}

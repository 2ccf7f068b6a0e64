//! `telegram/daily_summary`: the daily summary, sent to every linked user who wants it. Run it
//! from a cron schedule: `POST /v1/schedules`
//! `{"name":"daily summary","cron":"0 0 8 * * *","queue":"telegram","job_name":"daily_summary"}`.

use super::backend::{SqlChatBackend, StateCell};
use super::notify::Notifier;
use super::prefs::NotificationKind;
use actors::jobs::{Claimed, JobError, JobHandler, JobKind, JobRegistry, Progress};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub struct DailySummary;
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoPayload {}
impl JobKind for DailySummary {
    const QUEUE: &'static str = "telegram";
    const NAME: &'static str = "daily_summary";
    type Payload = NoPayload;
}

pub struct TelegramJobs {
    pub state: StateCell,
    /// Set when the bot runs (`None` forever when Telegram is disabled).
    pub notifier: Arc<OnceLock<Notifier>>,
}

pub fn register(registry: &mut JobRegistry, handler: Arc<dyn JobHandler>) {
    registry.register::<DailySummary>(handler);
}

#[async_trait]
impl JobHandler for TelegramJobs {
    async fn run(&self, job: &Claimed, _: &Progress) -> Result<Value, JobError> {
        job.payload_as::<DailySummary>()?;
        let Some(notifier) = self.notifier.get() else {
            return Ok(json!({"sent": 0, "note": "telegram is disabled"}));
        };
        let backend = SqlChatBackend {
            state: Arc::clone(&self.state),
            transition_wait: Duration::ZERO,
            pending: Default::default(),
        };
        let text = backend.summary().await;
        let sent = notifier
            .fan_out(
                &format!("summary:{}", job.id),
                NotificationKind::Summary,
                text,
            )
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?;
        Ok(json!({ "sent": sent }))
    }
}

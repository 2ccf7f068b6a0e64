//! The `trading` queue's job handler: `deploy`, `stop`, `pause` and `resume` jobs become
//! [`Apply`] messages to the manager, which performs and persists the transition.

use super::manager::{Apply, TradingError, TradingManager};
use crate::jobs::{Claimed, JobError, JobHandler, Progress};
use crate::supervise::ActorRef;
use crate::trading::fsm::Command;
use async_trait::async_trait;

pub const QUEUE: &str = "trading";
/// Job names, one per user command.
pub const JOB_NAMES: [&str; 4] = ["deploy", "stop", "pause", "resume"];

pub struct TradingJobs {
    manager: ActorRef<TradingManager>,
}

impl TradingJobs {
    pub fn new(manager: ActorRef<TradingManager>) -> Self {
        Self { manager }
    }
}

#[async_trait]
impl JobHandler for TradingJobs {
    async fn run(&self, job: &Claimed, _: &Progress) -> Result<serde_json::Value, JobError> {
        let command = Command::parse(&job.name)
            .filter(|c| *c != Command::Fault)
            .ok_or_else(|| JobError::Permanent(format!("unknown trading job `{}`", job.name)))?;
        let field = |name: &str| {
            job.payload
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let strategy_id = field("strategy_id")
            .ok_or_else(|| JobError::Permanent("payload lacks `strategy_id`".to_owned()))?;
        let apply = Apply {
            strategy_id,
            command,
            principal: field("principal").unwrap_or_else(|| "system".to_owned()),
            reason: field("reason").unwrap_or_else(|| format!("{} requested", command.as_str())),
            trace_id: job.trace_id.clone(),
        };
        match self.manager.send(apply).await {
            Ok(Ok(outcome)) => {
                serde_json::to_value(outcome).map_err(|e| JobError::Permanent(e.to_string()))
            }
            Ok(Err(e @ (TradingError::Unavailable(_) | TradingError::Conflict(_)))) => {
                Err(JobError::Retryable(e.to_string()))
            }
            Ok(Err(e)) => Err(JobError::Permanent(e.to_string())),
            Err(e) => Err(JobError::Retryable(format!(
                "trading runtime unavailable: {e}"
            ))),
        }
    }
}

//! The `trading` queue's job handler: `deploy`, `stop`, `pause` and `resume` jobs become
//! [`Apply`] messages to the manager, which performs and persists the transition.

use super::manager::{Apply, TradingError, TradingManager};
use crate::jobs::{Claimed, JobError, JobHandler, JobKind, JobRegistry, Progress};
use crate::supervise::ActorRef;
use crate::trading::fsm::Command;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const QUEUE: &str = "trading";

/// The payload of every trading command job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandPayload {
    pub strategy_id: String,
    /// Who asked (`user:<name>`, `key:<prefix>`, `system`).
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

macro_rules! command_kinds {
    ($($kind:ident => $name:literal),+ $(,)?) => {
        $(
            #[doc = concat!("The `", $name, "` job.")]
            pub struct $kind;
            impl JobKind for $kind {
                const QUEUE: &'static str = QUEUE;
                const NAME: &'static str = $name;
                type Payload = CommandPayload;
            }
        )+

        /// Registers every trading job kind with `handler`.
        pub fn register(registry: &mut JobRegistry, handler: Arc<dyn JobHandler>) {
            $(registry.register::<$kind>(Arc::clone(&handler));)+
        }
    };
}

command_kinds!(Deploy => "deploy", Stop => "stop", Pause => "pause", Resume => "resume");

/// The job spec for a user command (`Fault` is the runtime's own, never a job).
pub fn spec_for(
    command: Command,
    payload: &CommandPayload,
    trace_id: crate::TraceId,
) -> Option<crate::jobs::JobSpec> {
    use crate::jobs::JobSpec;
    Some(match command {
        Command::Deploy => JobSpec::of::<Deploy>(payload, trace_id),
        Command::Stop => JobSpec::of::<Stop>(payload, trace_id),
        Command::Pause => JobSpec::of::<Pause>(payload, trace_id),
        Command::Resume => JobSpec::of::<Resume>(payload, trace_id),
        Command::Fault => return None,
    })
}

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
        // Every command kind has the same payload type.
        let payload = job.payload_as::<Deploy>()?;
        let apply = Apply {
            strategy_id: payload.strategy_id,
            command,
            principal: payload.principal.unwrap_or_else(|| "system".to_owned()),
            reason: payload
                .reason
                .unwrap_or_else(|| format!("{} requested", command.as_str())),
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

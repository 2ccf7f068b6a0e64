//! `LlmActor`: the supervised owner of the engine. Handlers hand the work to a future (a
//! model call takes seconds; the actor keeps answering), so they never block. Its readiness
//! entry is optional: a provider that is down makes the service `degraded`, never unready.

use super::categorize::{LlmCandidate, Verdict};
use super::engine::{AskOutcome, CallError, Engine, EngineStatus, Prompt, ToolExecutor};
use crate::TraceId;
use crate::supervise::{Readiness, Status};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// The readiness entry (optional) for the provider; the actor itself is `llm` under actors.
pub const NAME: &str = "llm-provider";

/// The prompts the actor uses, loaded once at start (embedded or overridden).
#[derive(Debug, Clone)]
pub struct Prompts {
    pub ask: Prompt,
    pub categorize: Prompt,
}

pub struct LlmActor {
    engine: Arc<Engine>,
    tools: Arc<dyn ToolExecutor>,
    prompts: Arc<Prompts>,
    readiness: Readiness,
}

impl LlmActor {
    pub fn new(
        engine: Arc<Engine>,
        tools: Arc<dyn ToolExecutor>,
        prompts: Prompts,
        readiness: Readiness,
    ) -> Self {
        Self {
            engine,
            tools,
            prompts: Arc::new(prompts),
            readiness,
        }
    }

    fn report(&self) {
        let s = self.engine.status();
        let (status, detail) = match s.breaker {
            "closed" => (Status::Up, format!("{} {}", s.provider, s.model)),
            other => (
                Status::Down,
                format!("{} circuit breaker {other}", s.provider),
            ),
        };
        self.readiness.set_optional(NAME, status, Some(detail));
    }
}

// ---- messages ------------------------------------------------------------------------

#[derive(Message)]
#[rtype(result = "Result<AskOutcome, CallError>")]
pub struct Ask {
    pub question: String,
    pub trace_id: TraceId,
}

/// One batch of at most 25 candidates for the categorization tier.
#[derive(Message)]
#[rtype(result = "Result<Vec<(String, Verdict)>, CallError>")]
pub struct CategorizeWithLlm {
    pub batch: Vec<LlmCandidate>,
    /// (id, name) of the user's categories.
    pub categories: Vec<(String, String)>,
    pub threshold: f64,
    pub trace_id: TraceId,
}

#[derive(Message)]
#[rtype(result = "EngineStatus")]
pub struct GetStatus;

// ---- actor ---------------------------------------------------------------------------

impl Actor for LlmActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.report();
        // The breaker changes state on calls and on the clock (open → half-open).
        ctx.run_interval(Duration::from_secs(5), |act, _| act.report());
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.readiness
            .set_optional(NAME, Status::Stopped, Some("stopped".to_owned()));
    }
}

impl Supervised for LlmActor {}

// ---- handlers ------------------------------------------------------------------------

impl Handler<Ask> for LlmActor {
    type Result = ResponseActFuture<Self, Result<AskOutcome, CallError>>;

    #[tracing::instrument(skip_all, fields(trace_id = %msg.trace_id))]
    fn handle(&mut self, msg: Ask, _: &mut Context<Self>) -> Self::Result {
        let (engine, tools, prompts) = (
            Arc::clone(&self.engine),
            Arc::clone(&self.tools),
            Arc::clone(&self.prompts),
        );
        Box::pin(
            async move {
                engine
                    .ask(&prompts.ask, &msg.question, tools.as_ref(), &msg.trace_id)
                    .await
            }
            .into_actor(self)
            .map(|res, act, _| {
                act.report();
                res
            }),
        )
    }
}

impl Handler<CategorizeWithLlm> for LlmActor {
    type Result = ResponseActFuture<Self, Result<Vec<(String, Verdict)>, CallError>>;

    #[tracing::instrument(skip_all, fields(trace_id = %msg.trace_id, batch = msg.batch.len()))]
    fn handle(&mut self, msg: CategorizeWithLlm, _: &mut Context<Self>) -> Self::Result {
        let (engine, prompts) = (Arc::clone(&self.engine), Arc::clone(&self.prompts));
        Box::pin(
            async move {
                engine
                    .categorize_batch(
                        &prompts.categorize,
                        &msg.batch,
                        &msg.categories,
                        msg.threshold,
                        &msg.trace_id,
                    )
                    .await
            }
            .into_actor(self)
            .map(|res, act, _| {
                act.report();
                res
            }),
        )
    }
}

impl Handler<GetStatus> for LlmActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.engine.status())
    }
}

//! `DependencyMonitor`: connects a [`Dependency`] with backoff, then keeps checking it.
//!
//! The process must stay live while a dependency is missing (boot before the database is up,
//! or the database restarting later): this actor owns that loop and writes the outcome into
//! the readiness registry, so `/health/ready` turns 503 and back without a restart.

use crate::TraceId;
use crate::ports::{Dependency, DependencyError};
use crate::supervise::{Backoff, Check, ChildContext, ComponentKind, Readiness, Status};
use actix::fut::{ActorFutureExt, WrapFuture};
use actix::{Actor, AsyncContext, Context, Handler, Message, ResponseActFuture};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

// ---- messages -------------------------------------------------------------------------

/// Check the dependency now and answer with the fresh result (used by `/health/ready`).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Check")]
pub struct CheckNow {
    pub trace_id: TraceId,
}

// ---- state ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
pub struct MonitorConfig {
    pub reconnect: Backoff,
    pub check_interval: Duration,
    pub check_timeout: Duration,
}

#[derive(Debug)]
enum Phase {
    Connecting { attempt: u32 },
    Connected,
}

pub struct DependencyMonitor {
    port: Arc<dyn Dependency>,
    config: MonitorConfig,
    readiness: Readiness,
    phase: Phase,
    /// A background check is running; the next interval tick skips instead of piling up.
    checking: bool,
}

impl DependencyMonitor {
    pub fn new(port: Arc<dyn Dependency>, config: MonitorConfig, child: &ChildContext) -> Self {
        Self {
            port,
            config,
            readiness: child.readiness().clone(),
            phase: Phase::Connecting { attempt: 0 },
            checking: false,
        }
    }

    fn name(&self) -> &'static str {
        self.port.name()
    }

    fn report(&self, status: Status, detail: Option<String>) -> Check {
        self.readiness
            .set(ComponentKind::Dependency, self.name(), status, detail);
        self.current()
    }

    fn current(&self) -> Check {
        self.readiness
            .get(ComponentKind::Dependency, self.name())
            .unwrap_or(Check {
                status: Status::Starting,
                detail: None,
                since_ms: 0,
            })
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let port = Arc::clone(&self.port);
        let span = tracing::info_span!("dependency_connect", dependency = self.name());
        let fut = async move { port.connect().await }.instrument(span);
        ctx.spawn(
            fut.into_actor(self)
                .map(|res, act, ctx| act.on_connected(res, ctx)),
        );
    }

    fn on_connected(&mut self, res: Result<(), DependencyError>, ctx: &mut Context<Self>) {
        match (res, &mut self.phase) {
            (Ok(()), _) => {
                tracing::info!(dependency = self.name(), "dependency connected");
                self.phase = Phase::Connected;
                self.report(Status::Up, None);
                ctx.run_interval(self.config.check_interval, |act, ctx| {
                    act.check_in_background(ctx)
                });
            }
            (Err(e), Phase::Connecting { attempt }) => {
                let delay = self.config.reconnect.delay(*attempt);
                *attempt = attempt.saturating_add(1);
                let attempt = *attempt;
                tracing::warn!(
                    dependency = self.name(),
                    attempt,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %e,
                    "dependency unreachable; retrying"
                );
                self.report(
                    Status::Down,
                    Some(format!("connecting (attempt {attempt}): {e}")),
                );
                ctx.run_later(delay, |act, ctx| act.connect(ctx));
            }
            (Err(_), Phase::Connected) => {}
        }
    }

    fn check_in_background(&mut self, ctx: &mut Context<Self>) {
        if self.checking {
            return;
        }
        self.checking = true;
        let fut = self.checked(TraceId::system());
        ctx.spawn(fut.into_actor(self).map(|res, act, _| {
            act.checking = false;
            act.apply(res);
        }));
    }

    /// The check as a future, bounded by the configured timeout.
    fn checked(
        &self,
        trace_id: TraceId,
    ) -> impl Future<Output = Result<(), DependencyError>> + 'static {
        let port = Arc::clone(&self.port);
        let timeout = self.config.check_timeout;
        let span = tracing::debug_span!("dependency_check", dependency = self.name(), %trace_id);
        async move {
            match tokio::time::timeout(timeout, port.check()).await {
                Ok(res) => res,
                Err(_) => Err(DependencyError(format!(
                    "no answer within {} ms",
                    timeout.as_millis()
                ))),
            }
        }
        .instrument(span)
    }

    fn apply(&mut self, res: Result<(), DependencyError>) -> Check {
        match res {
            Ok(()) => {
                if self.current().status != Status::Up {
                    tracing::info!(dependency = self.name(), "dependency answers again");
                }
                self.report(Status::Up, None)
            }
            Err(e) => {
                if self.current().status == Status::Up {
                    tracing::warn!(dependency = self.name(), error = %e, "dependency stopped answering");
                }
                self.report(Status::Down, Some(e.0))
            }
        }
    }
}

// ---- actor ----------------------------------------------------------------------------

impl Actor for DependencyMonitor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.report(Status::Starting, Some("connecting".to_owned()));
        self.connect(ctx);
    }
}

// ---- handlers -------------------------------------------------------------------------

impl Handler<CheckNow> for DependencyMonitor {
    type Result = ResponseActFuture<Self, Check>;

    #[tracing::instrument(skip_all, fields(dependency = self.name(), trace_id = %msg.trace_id))]
    fn handle(&mut self, msg: CheckNow, _ctx: &mut Self::Context) -> Self::Result {
        if let Phase::Connecting { .. } = self.phase {
            // Still in the reconnect loop: its last outcome is the freshest truth we have.
            return Box::pin(actix::fut::ready(self.current()));
        }
        Box::pin(
            self.checked(msg.trace_id)
                .into_actor(self)
                .map(|res, act, _| act.apply(res)),
        )
    }
}

//! `AuditWriter`: buffers audit events and writes them in batches.

use crate::TraceId;
use crate::ports::DependencyError;
use actix::fut::{ActorFutureExt, WrapFuture};
use actix::{
    Actor, ActorContext, AsyncContext, Context, Handler, Message, ResponseActFuture, Running,
};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

// ---- messages -------------------------------------------------------------------------

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Unix milliseconds.
    pub at_ms: i64,
    pub trace_id: TraceId,
    /// `user:<name>`, `key:<prefix>`, `anonymous` or `system`.
    pub principal: String,
    /// What was attempted, e.g. `auth.login`, `api_key.create`, `POST /v1/api-keys`.
    pub action: String,
    /// What it was done to (a path, a username, a setting).
    pub target: String,
    /// `success`, `failure`, `denied`, `error`.
    pub outcome: String,
    pub client_ip: Option<String>,
    /// Extra facts (never secrets).
    pub detail: Option<String>,
    /// How many requests the event stands for (1, or more for an aggregated summary).
    pub occurrences: u64,
}

/// Record an event (fire and forget).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Record(pub AuditEvent);

/// Write everything buffered now; answers with the number of events still buffered.
#[derive(Message, Debug)]
#[rtype(result = "usize")]
pub struct Flush;

/// Where audit events are stored.
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    async fn write(&self, batch: &[AuditEvent]) -> Result<(), DependencyError>;
}

// ---- state ----------------------------------------------------------------------------

pub struct AuditWriter {
    sink: Arc<dyn AuditSink>,
    buffer: Vec<AuditEvent>,
    flushing: bool,
    max_buffer: usize,
    interval: Duration,
    shutdown_attempts: u32,
}

impl AuditWriter {
    pub fn new(sink: Arc<dyn AuditSink>, interval: Duration, max_buffer: usize) -> Self {
        Self {
            sink,
            buffer: Vec::new(),
            flushing: false,
            max_buffer,
            interval,
            shutdown_attempts: 0,
        }
    }

    /// Starts writing the buffer; the result comes back into the actor.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.buffer.is_empty() {
            return;
        }
        self.flushing = true;
        let batch = std::mem::take(&mut self.buffer);
        let sink = Arc::clone(&self.sink);
        let fut = async move {
            let res = sink.write(&batch).await;
            (batch, res)
        };
        ctx.wait(
            fut.into_actor(self)
                .map(|(batch, res), act, _| act.written(batch, res)),
        );
    }

    fn written(&mut self, mut batch: Vec<AuditEvent>, res: Result<(), DependencyError>) {
        self.flushing = false;
        match res {
            Ok(()) => {
                metrics::counter!(super::AUDIT_EVENTS_TOTAL).increment(batch.len() as u64);
            }
            Err(e) => {
                metrics::counter!(super::AUDIT_WRITE_FAILURES_TOTAL).increment(1);
                tracing::error!(error = %e, events = batch.len(), "audit write failed; will retry");
                // Keep the failed batch first, in order, within the bound.
                batch.append(&mut self.buffer);
                self.buffer = batch;
                self.enforce_bound();
            }
        }
    }

    fn enforce_bound(&mut self) {
        if self.buffer.len() > self.max_buffer {
            let excess = self.buffer.len() - self.max_buffer;
            self.buffer.drain(..excess);
            metrics::counter!(super::AUDIT_EVENTS_DROPPED_TOTAL).increment(excess as u64);
            tracing::error!(dropped = excess, "audit buffer full; oldest events dropped");
        }
    }
}

// ---- actor ----------------------------------------------------------------------------

impl Actor for AuditWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        super::describe_metrics();
        ctx.run_interval(self.interval, |act, ctx| act.flush(ctx));
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
        // Drain before stopping, but do not hang shutdown on a dead database.
        if !self.buffer.is_empty() && self.shutdown_attempts < 3 {
            self.shutdown_attempts += 1;
            self.flush(ctx);
            ctx.run_later(Duration::from_millis(1), |_, ctx| ctx.stop());
            return Running::Continue;
        }
        if !self.buffer.is_empty() {
            metrics::counter!(super::AUDIT_EVENTS_DROPPED_TOTAL)
                .increment(self.buffer.len() as u64);
            tracing::error!(
                dropped = self.buffer.len(),
                "audit events could not be written before shutdown"
            );
        }
        Running::Stop
    }
}

// ---- handlers -------------------------------------------------------------------------

impl Handler<Record> for AuditWriter {
    type Result = ();

    fn handle(&mut self, msg: Record, ctx: &mut Self::Context) {
        self.buffer.push(msg.0);
        self.enforce_bound();
        if self.buffer.len() >= 256 {
            self.flush(ctx);
        }
    }
}

impl Handler<Flush> for AuditWriter {
    type Result = ResponseActFuture<Self, usize>;

    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) -> Self::Result {
        // `flush` uses `ctx.wait`, so this answer comes after the write finished.
        self.flush(ctx);
        Box::pin(actix::fut::ready(()).map(|(), act: &mut Self, _| act.buffer.len()))
    }
}

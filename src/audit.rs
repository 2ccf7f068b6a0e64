//! Recording audit events from the request path without waiting on storage.
//!
//! [`Audit::record`] hands the event to the supervised `AuditWriter` actor (`try_tell`, never
//! blocks). If that fails, the failure is logged and counted; the request goes on.

use crate::db::{DbHandle, audit};
use actors::TraceId;
use actors::audit::{
    AUDIT_EVENTS_DROPPED_TOTAL, AuditEvent, AuditSink, AuditWriter, Flush, Record,
};
use actors::ports::DependencyError;
use actors::supervise::ActorRef;
use async_trait::async_trait;

/// The database side of the audit port.
pub struct DbAuditSink(pub DbHandle);

#[async_trait]
impl AuditSink for DbAuditSink {
    async fn write(&self, batch: &[AuditEvent]) -> Result<(), DependencyError> {
        let db = self.0.port()?;
        audit::insert_batch(&db, batch)
            .await
            .map_err(|e| DependencyError(e.to_string()))
    }
}

/// Cheap to clone; shared by handlers and middleware.
#[derive(Clone)]
pub struct Audit {
    writer: ActorRef<AuditWriter>,
}

/// Builder-ish description of one event.
pub struct Entry<'a> {
    pub trace_id: &'a TraceId,
    pub principal: String,
    pub action: &'a str,
    pub target: String,
    pub outcome: &'a str,
    pub client_ip: Option<String>,
    pub detail: Option<String>,
}

impl Audit {
    pub fn new(writer: ActorRef<AuditWriter>) -> Self {
        Self { writer }
    }

    pub fn record(&self, e: Entry<'_>) {
        let event = AuditEvent {
            at_ms: chrono::Utc::now().timestamp_millis(),
            trace_id: e.trace_id.clone(),
            principal: e.principal,
            action: e.action.to_owned(),
            target: e.target,
            outcome: e.outcome.to_owned(),
            client_ip: e.client_ip,
            detail: e.detail,
        };
        if let Err(err) = self.writer.try_tell(Record(event)) {
            metrics::counter!(AUDIT_EVENTS_DROPPED_TOTAL).increment(1);
            tracing::error!(error = ?err, action = e.action, "audit event could not be queued");
        }
    }

    /// Waits until buffered events are written (tests, shutdown).
    pub async fn flush(&self) {
        let _ = self.writer.send(Flush).await;
    }
}

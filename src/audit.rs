//! Recording audit events from the request path without waiting on storage.
//!
//! [`Audit::record`] hands the event to the supervised `AuditWriter` actor (`try_tell`, never
//! blocks). If that fails, the failure is logged and counted; the request goes on.
//!
//! Anonymous refused requests are not written one by one: anyone who can reach the port could
//! otherwise fill the log (one row per `DELETE /<anything>`, with the path they chose).
//! [`Audit::anonymous_refusal`] counts them per client IP and window (`audit.anonymous_window_secs`,
//! a minute by default); when the window ends one `anonymous.refused` row carries the count
//! (`occurrences`), the first request's trace id and truncated path, and the statuses seen.
//! Authenticated requests are still audited one by one.

use crate::db::{DbHandle, audit};
use actors::TraceId;
use actors::audit::{
    AUDIT_EVENTS_DROPPED_TOTAL, AuditEvent, AuditSink, AuditWriter, Flush, Record,
};
use actors::ports::DependencyError;
use actors::supervise::ActorRef;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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
    refusals: Arc<Refusals>,
}

/// Paths and other client-chosen targets are cut to this many characters.
pub const MAX_TARGET_CHARS: usize = 120;

/// Open (IP, window) summaries kept at most; beyond, new IPs share one summary without an IP,
/// so a spray from many addresses cannot grow memory (or the log) without bound.
const MAX_OPEN_SUMMARIES: usize = 10_000;

/// `target` cut to [`MAX_TARGET_CHARS`] characters (with `…` when cut).
pub fn truncate_target(target: &str) -> String {
    match target.char_indices().nth(MAX_TARGET_CHARS) {
        Some((at, _)) => format!("{}…", &target[..at]),
        None => target.to_owned(),
    }
}

/// One anonymous refused request, as the middleware or a handler saw it.
pub struct Refusal<'a> {
    pub trace_id: &'a TraceId,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub status: u16,
    pub client_ip: Option<String>,
}

struct Summary {
    first_at_ms: i64,
    trace_id: TraceId,
    first: String,
    target: String,
    outcome: String,
    count: u64,
    statuses: BTreeMap<u16, u64>,
}

struct Refusals {
    window_ms: i64,
    open: Mutex<HashMap<(Option<String>, i64), Summary>>,
}

impl Refusals {
    fn add(&self, r: Refusal<'_>, now_ms: i64) {
        let window = now_ms - now_ms.rem_euclid(self.window_ms);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key = (r.client_ip, window);
        if open.len() >= MAX_OPEN_SUMMARIES && !open.contains_key(&key) {
            key.0 = None;
        }
        let s = open.entry(key).or_insert_with(|| Summary {
            first_at_ms: now_ms,
            trace_id: r.trace_id.clone(),
            first: r.action.to_owned(),
            target: truncate_target(r.target),
            outcome: r.outcome.to_owned(),
            count: 0,
            statuses: BTreeMap::new(),
        });
        s.count += 1;
        *s.statuses.entry(r.status).or_default() += 1;
    }

    /// Summaries whose window ended before `now_ms` (all of them when `now_ms` is `None`).
    fn take_closed(&self, now_ms: Option<i64>) -> Vec<AuditEvent> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let closed: Vec<_> = open
            .keys()
            .filter(|(_, start)| now_ms.is_none_or(|now| start + self.window_ms <= now))
            .cloned()
            .collect();
        closed
            .into_iter()
            .filter_map(|key| open.remove_entry(&key))
            .map(|((ip, start), s)| {
                let from = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(start)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let statuses: Vec<String> = s
                    .statuses
                    .iter()
                    .map(|(status, n)| format!("{status}×{n}"))
                    .collect();
                AuditEvent {
                    at_ms: s.first_at_ms,
                    trace_id: s.trace_id,
                    principal: "anonymous".to_owned(),
                    action: "anonymous.refused".to_owned(),
                    target: s.target,
                    outcome: s.outcome,
                    client_ip: ip,
                    detail: Some(format!(
                        "{} anonymous requests refused in the {} s from {from}; statuses {}; first: {}",
                        s.count,
                        self.window_ms / 1000,
                        statuses.join(", "),
                        s.first
                    )),
                    occurrences: s.count,
                }
            })
            .collect()
    }
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
    /// `anonymous_window`: how long anonymous refusals from one IP are summed into one row.
    pub fn new(writer: ActorRef<AuditWriter>, anonymous_window: Duration) -> Self {
        let window_ms = i64::try_from(anonymous_window.as_millis())
            .unwrap_or(60_000)
            .max(1);
        Self {
            writer,
            refusals: Arc::new(Refusals {
                window_ms,
                open: Mutex::default(),
            }),
        }
    }

    pub fn record(&self, e: Entry<'_>) {
        self.send(AuditEvent {
            at_ms: chrono::Utc::now().timestamp_millis(),
            trace_id: e.trace_id.clone(),
            principal: e.principal,
            action: e.action.to_owned(),
            target: e.target,
            outcome: e.outcome.to_owned(),
            client_ip: e.client_ip,
            detail: e.detail,
            occurrences: 1,
        });
    }

    fn send(&self, event: AuditEvent) {
        let action = event.action.clone();
        if let Err(err) = self.writer.try_tell(Record(event)) {
            metrics::counter!(AUDIT_EVENTS_DROPPED_TOTAL).increment(1);
            tracing::error!(error = ?err, action, "audit event could not be queued");
        }
    }

    /// Counts an anonymous refused request into its IP's summary for the current window.
    pub fn anonymous_refusal(&self, r: Refusal<'_>) {
        self.refusals.add(r, chrono::Utc::now().timestamp_millis());
    }

    /// Writes the summaries of windows that have ended (`all`: every open one, at shutdown).
    pub fn close_windows(&self, all: bool) {
        let now = (!all).then(|| chrono::Utc::now().timestamp_millis());
        for event in self.refusals.take_closed(now) {
            self.send(event);
        }
    }

    /// How often [`close_windows`](Self::close_windows) should run: a quarter window, between
    /// 100 ms and 1 s, so a summary lands within a second of its window's end.
    pub fn close_interval(&self) -> Duration {
        let quarter = u64::try_from(self.refusals.window_ms / 4).unwrap_or(1000);
        Duration::from_millis(quarter.clamp(100, 1000))
    }

    /// Waits until buffered events are written (tests, shutdown).
    pub async fn flush(&self) {
        let _ = self.writer.send(Flush).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal<'a>(trace: &'a TraceId, ip: &str, target: &'a str, status: u16) -> Refusal<'a> {
        Refusal {
            trace_id: trace,
            action: "DELETE unmatched",
            target,
            outcome: "rejected",
            status,
            client_ip: Some(ip.to_owned()),
        }
    }

    #[test]
    fn refusals_sum_per_ip_and_window_with_truncated_targets() {
        let r = Refusals {
            window_ms: 60_000,
            open: Mutex::default(),
        };
        let trace = TraceId::system();
        let long = format!("/{}", "x".repeat(5_000));
        for i in 0..50u8 {
            r.add(
                refusal(&trace, "10.0.0.1", &long, 404 - u16::from(i % 2 == 1) * 3),
                120_000 + i64::from(i),
            );
        }
        r.add(refusal(&trace, "10.0.0.2", "/a", 401), 120_500);
        assert!(r.take_closed(Some(179_999)).is_empty(), "window still open");
        let mut rows = r.take_closed(Some(180_000));
        rows.sort_by(|a, b| a.client_ip.cmp(&b.client_ip));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].occurrences, 50);
        assert_eq!(rows[0].target.chars().count(), MAX_TARGET_CHARS + 1);
        assert!(
            rows[0]
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("401×25, 404×25"),
            "{:?}",
            rows[0].detail
        );
        assert_eq!(rows[1].occurrences, 1);
        assert!(r.take_closed(None).is_empty(), "written once");
    }
}

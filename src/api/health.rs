//! Probes. `live` answers as long as the process serves HTTP; `ready` says whether every
//! dependency and actor is up, checking the dependencies afresh on each call.

use super::AppState;
use crate::telemetry::RequestTrace;
use actix_web::{HttpResponse, get, web};
use actors::health::CheckNow;
use actors::supervise::{Check, ReadinessReport, Status};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    /// Always `true`: answering at all is the signal.
    pub ok: bool,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Up,
    Starting,
    Down,
    Stopped,
    /// An optional dependency that is not working (the service stays ready).
    Degraded,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentCheck {
    pub status: ComponentStatus,
    /// Why it is not up (never contains secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When the status last changed (RFC 3339, UTC).
    pub since: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "ready": false,
    "down": ["database"],
    "dependencies": {"database": {"status": "down", "detail": "connecting (attempt 3): cannot connect to the database: …", "since": "2026-11-28T10:00:00.000Z"}},
    "actors": {"database-monitor": {"status": "up", "since": "2026-11-28T10:00:00.000Z"}},
    "degraded": ["llm", "telegram"],
    "optional": {"llm": {"status": "down", "detail": "openai circuit breaker open", "since": "2026-11-28T10:00:00.000Z"}, "telegram": {"status": "degraded", "detail": "conflict (409): another poller or a webhook uses this bot token", "since": "2026-11-28T10:00:00.000Z"}}
}))]
pub struct Ready {
    pub ready: bool,
    /// Names of the components that are not up (empty when ready).
    pub down: Vec<String>,
    pub dependencies: BTreeMap<String, ComponentCheck>,
    pub actors: BTreeMap<String, ComponentCheck>,
    /// Optional dependencies (Telegram, the AI provider) that are not up: the service works
    /// without them, so they never make it unready.
    pub degraded: Vec<String>,
    pub optional: BTreeMap<String, ComponentCheck>,
}

/// Liveness: the process is running and serving HTTP.
#[utoipa::path(tag = "health", security(()), responses((status = 200, description = "Alive", body = Live)))]
#[get("/health/live")]
pub async fn live() -> web::Json<Live> {
    web::Json(Live { ok: true })
}

/// Readiness: every dependency answers and every supervised actor runs.
#[utoipa::path(
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "Not ready; `down` names the culprits", body = Ready),
    )
)]
#[get("/health/ready")]
#[tracing::instrument(skip_all, fields(trace_id = %trace.0))]
pub async fn ready(state: web::Data<AppState>, trace: RequestTrace) -> HttpResponse {
    // Fresh checks in parallel; each monitor writes its outcome into the registry.
    let checks = state.monitors.iter().map(|m| {
        let msg = CheckNow {
            trace_id: trace.0.clone(),
        };
        tokio::time::timeout(state.check_timeout, m.send(msg))
    });
    futures::future::join_all(checks).await;
    let body = Ready::from(state.readiness.report());
    if body.ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

impl From<ReadinessReport> for Ready {
    fn from(r: ReadinessReport) -> Self {
        let down = r
            .dependencies
            .iter()
            .chain(r.actors.iter())
            .filter(|(_, c)| c.status != Status::Up)
            .map(|(name, _)| name.clone())
            .collect();
        let degraded = r.degraded();
        Self {
            ready: r.ready,
            down,
            degraded,
            dependencies: r
                .dependencies
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            actors: r.actors.into_iter().map(|(k, v)| (k, v.into())).collect(),
            optional: r.optional.into_iter().map(|(k, v)| (k, v.into())).collect(),
        }
    }
}

impl From<Check> for ComponentCheck {
    fn from(c: Check) -> Self {
        let since = i64::try_from(c.since_ms)
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        Self {
            status: match c.status {
                Status::Up => ComponentStatus::Up,
                Status::Starting => ComponentStatus::Starting,
                Status::Down => ComponentStatus::Down,
                Status::Stopped => ComponentStatus::Stopped,
                Status::Degraded => ComponentStatus::Degraded,
            },
            detail: c.detail,
            since,
        }
    }
}

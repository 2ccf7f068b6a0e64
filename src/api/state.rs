//! [`AppState`]: what every request handler shares.

use super::meta;
use crate::audit::Audit;
use crate::auth::ratelimit::Limits;
use crate::auth::service::AuthService;
use crate::config::SecuritySettings;
use crate::crypto::Cipher;
use crate::db::DbHandle;
use actors::health::DependencyMonitor;
use actors::supervise::{ActorRef, Readiness};
use std::sync::Arc;
use std::time::Duration;

/// Shared by every worker (built once, outside the `HttpServer::new` closure).
#[derive(Clone)]
pub struct AppState {
    pub readiness: Readiness,
    /// Monitors asked for a fresh check on every readiness probe.
    pub monitors: Vec<ActorRef<DependencyMonitor>>,
    /// Upper bound for one readiness probe's fresh checks.
    pub check_timeout: Duration,
    pub db: DbHandle,
    pub auth: Arc<AuthService>,
    /// Small hot tables from memory (`readmodel`); the auth service shares it (API keys).
    pub read_model: Arc<crate::readmodel::ReadModel>,
    pub limits: Arc<Limits>,
    pub audit: Audit,
    pub cipher: Arc<Cipher>,
    pub security: SecuritySettings,
    /// `security.trusted_proxies`, parsed once.
    pub trusted_proxies: super::client_ip::TrustedProxies,
    pub metrics_access: meta::MetricsAccess,
    pub jobs: crate::jobs::JobQueue,
    pub schedules: Arc<crate::schedules::ScheduleRunner>,
    pub events: actors::events::EventBus,
    pub trading: crate::trading::Trading,
    pub finance: crate::finance::Finance,
    pub telegram: crate::telegram::Telegram,
    /// `None` when `ai.provider = "none"`: AI routes answer 503 `ai_not_configured`.
    pub ai: Option<crate::ai::Ai>,
    /// `backup.dir`: where `/v1/admin/backups` lists backups.
    pub backup_dir: std::path::PathBuf,
    /// `ai.monthly_budget_usd` (for past months' usage reports).
    pub ai_budget: Option<rust_decimal::Decimal>,
}

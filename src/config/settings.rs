//! The configuration tree. Field docs here are the reference; `config.toml` repeats the
//! defaults with comments for people who never read Rust.

use super::{Secret, SecretUrl};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub telemetry: TelemetrySettings,
    pub supervisor: SupervisorSettings,
    pub auth: AuthSettings,
    pub security: SecuritySettings,
    pub rate_limit: RateLimitSettings,
    pub metrics: MetricsSettings,
    pub audit: AuditSettings,
    pub jobs: JobsSettings,
    pub trading: super::TradingSettings,
    pub finance: super::FinanceSettings,
    pub telegram: super::TelegramSettings,
    pub ai: super::AiSettings,
    pub backup: super::BackupSettings,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Interface to bind. Loopback by default; the container sets `HOST=0.0.0.0`.
    pub host: String,
    /// TCP port; 0 picks a free one (tests).
    pub port: u16,
    /// HTTP worker threads; 0 = one per CPU core.
    pub workers: usize,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Largest accepted JSON body, in bytes.
    pub json_limit_bytes: usize,
    /// Once ready, hand the binary's code pages back to the kernel (src/footprint.rs): idle
    /// RSS ~30 → ~20 MB; what runs again is read back from the page cache or disk once.
    pub release_startup_code: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 3000,
            workers: 0,
            shutdown_timeout_secs: 30,
            json_limit_bytes: 1024 * 1024,
            release_startup_code: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://data/ai-service.db` (embedded, created on first start) or `postgres://…`.
    pub url: SecretUrl,
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before the request fails with 503.
    pub acquire_timeout_secs: u64,
    /// Postgres: connections that hot page reads share, pipelined (`db/pg_pipe.rs`); 0 reads
    /// pages through the pool like every other read.
    pub page_lanes: u32,
    /// First and largest delay between connection attempts while the database is missing.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// How long boot waits for the first connection before serving HTTP as not-ready.
    pub boot_wait_ms: u64,
    /// Interval of the background readiness check.
    pub health_interval_secs: u64,
    /// Time a single readiness check may take before it counts as down.
    pub health_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretUrl::new("sqlite://data/ai-service.db"),
            max_connections: 8,
            acquire_timeout_secs: 5,
            page_lanes: 1,
            retry_initial_ms: 250,
            retry_max_ms: 30_000,
            boot_wait_ms: 5_000,
            health_interval_secs: 10,
            health_timeout_ms: 2_000,
        }
    }
}

impl DatabaseSettings {
    pub fn backend(&self) -> Backend {
        if self.url.expose().starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// Empty = Redis is not used (one node needs none). `redis://[:password@]host:6379/0`.
    pub url: SecretUrl,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub health_interval_secs: u64,
    pub health_timeout_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: SecretUrl::new(""),
            retry_initial_ms: 250,
            retry_max_ms: 30_000,
            health_interval_secs: 10,
            health_timeout_ms: 2_000,
        }
    }
}

impl RedisSettings {
    pub fn enabled(&self) -> bool {
        !self.url.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

// By hand: the `config` crate's enum errors do not list the allowed values.
impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        match value.to_ascii_lowercase().as_str() {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err(serde::de::Error::custom(format!(
                "unknown value `{value}`, expected `pretty` or `json`"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// An `EnvFilter` directive: `info`, `ai_service=debug,sqlx=warn`, … `RUST_LOG` wins if set.
    pub log_level: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_level: "info,sqlx=warn".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorSettings {
    /// First and largest delay before restarting a failed actor.
    pub restart_initial_ms: u64,
    pub restart_max_ms: u64,
    /// An actor that ran this long without failing restarts from the initial delay again.
    pub stable_after_secs: u64,
    /// Time one actor gets to stop during shutdown.
    pub stop_timeout_secs: u64,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        Self {
            restart_initial_ms: 100,
            restart_max_ms: 30_000,
            stable_after_secs: 60,
            stop_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HMAC key signing access tokens (HS256), at least 32 characters. Required when bound
    /// beyond loopback; on loopback an empty value means "generate one and keep it under data/".
    pub jwt_secret: Secret,
    /// Lifetime of an access token.
    pub access_ttl_secs: u64,
    /// Lifetime of a refresh token (each use rotates it).
    pub refresh_ttl_secs: u64,
    /// `iss` claim written and required.
    pub issuer: String,
    /// Shortest password accepted for new users.
    pub min_password_length: usize,
    /// Password hashes (argon2id, 19 MiB each) running at once; more callers wait.
    pub max_concurrent_hashes: usize,
    /// How long this process trusts what it last read about a session (logout, disable and
    /// password changes made in this process apply at once; other processes see them within
    /// this time).
    pub session_cache_ttl_secs: u64,
    /// How long a login or password change waits for a hashing slot before answering 503
    /// with `Retry-After`. 0 = do not wait.
    pub hash_wait_timeout_ms: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::default(),
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            issuer: "ai-service".to_owned(),
            min_password_length: 12,
            session_cache_ttl_secs: 5,
            max_concurrent_hashes: 2,
            hash_wait_timeout_ms: 1_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// 32 random bytes, base64, encrypting integration secrets at rest. Same rules as
    /// `auth.jwt_secret` for loopback and beyond.
    pub master_key: Secret,
    /// Where generated loopback-only development keys are kept.
    pub dev_keys_file: String,
    /// Origins allowed to call the API from a browser (CORS). Empty = same origin only.
    pub cors_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (only when served behind TLS).
    pub hsts: bool,
    /// Reverse proxies (IP addresses or CIDR networks) whose `X-Forwarded-For` names the
    /// client. Empty: the TCP peer is the client, whatever the header says.
    pub trusted_proxies: Vec<String>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            master_key: Secret::default(),
            dev_keys_file: "data/dev-keys.json".to_owned(),
            cors_origins: Vec::new(),
            hsts: false,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Anonymous requests (and failed credentials) per minute from one client IP. 0 disables.
    pub per_ip_per_minute: u32,
    /// Authenticated requests per minute with one credential (user or API key), wherever
    /// they come from; they do not count against the per-IP figure. 0 disables.
    pub per_credential_per_minute: u32,
    /// Login attempts per minute from one client IP, against password guessing. 0 disables.
    pub login_per_minute: u32,
    /// `/health/*` and `/metrics` requests per minute from one IP: their own bucket, so
    /// monitors never eat the API's budget. 0 disables.
    pub probes_per_ip_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 600,
            per_credential_per_minute: 1200,
            login_per_minute: 10,
            probes_per_ip_per_minute: 6_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Anonymous refused requests from one IP are written as one summary row per this many
    /// seconds, with their count (authenticated requests stay one row each).
    pub anonymous_window_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            anonymous_window_secs: 60,
        }
    }
}

/// Who may read `/metrics` (strategy names and PnL are in it).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Bearer token a scraper must send (`Authorization: Bearer …`), 16+ characters. Empty:
    /// `/metrics` is open when `server.host` is loopback and refused (403) when it is not.
    pub bearer_token: Secret,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSettings {
    /// Queues this process dispatches (one dispatcher actor each); empty = every queue that
    /// has job kinds. A queue no job kind runs in is refused at start.
    pub queues: Vec<String>,
    /// Jobs of one queue running at once in this process.
    pub concurrency: u32,
    /// Per-queue overrides of `concurrency`, e.g. `trading = 1`.
    pub concurrency_by_queue: std::collections::BTreeMap<String, u32>,
    /// A running job not heartbeated for this long is re-queued (its worker is presumed dead).
    pub lease_secs: u64,
    /// Fallback poll for due jobs (enqueues in this process wake the dispatcher at once).
    pub poll_interval_ms: u64,
    /// Finished jobs are deleted after this many days.
    pub retention_days: u64,
    /// At most this many finished jobs are kept, newest first.
    pub retention_max_jobs: u32,
}

impl Default for JobsSettings {
    fn default() -> Self {
        Self {
            queues: vec![
                "finance".to_owned(),
                "maintenance".to_owned(),
                "telegram".to_owned(),
                "trading".to_owned(),
            ],
            concurrency: 4,
            concurrency_by_queue: std::collections::BTreeMap::new(),
            lease_secs: 60,
            poll_interval_ms: 1000,
            retention_days: 14,
            retention_max_jobs: 100_000,
        }
    }
}

pub(crate) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub(crate) fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

//! Loading and validating [`Settings`]: file, then environment, then checks with key names.

use super::Settings;
use config::{Config, Environment, File, FileFormat};
use std::collections::HashMap;
use std::path::Path;

/// A configuration problem, always naming the key (`server.port`) or the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("config key `{key}`: {reason}")]
    Key { key: String, reason: String },
    #[error("environment: {0}")]
    Env(String),
}

/// Plain variable names honoured besides `APP__…`, with the key each one sets.
const PLAIN_ENV: [(&str, &str); 4] = [
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "redis.url"),
    ("PORT", "server.port"),
    ("HOST", "server.host"),
];

/// Loads settings from `file` (or `./config.toml` when present) and `env`.
///
/// `env` is passed in rather than read here so tests can load configurations side by side;
/// `main` passes `std::env::vars()`.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = env.into_iter().collect();
    let mut builder = Config::builder();
    builder = match file {
        Some(path) => {
            if !path.is_file() {
                return Err(ConfigError::File {
                    path: path.display().to_string(),
                    reason: "not found".to_owned(),
                });
            }
            builder.add_source(File::from(path).format(FileFormat::Toml).required(true))
        }
        None => builder.add_source(File::new("config.toml", FileFormat::Toml).required(false)),
    };

    let app_env: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("APP__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    builder = builder.add_source(
        Environment::with_prefix("APP")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("security.cors_origins")
            .with_list_parse_key("security.trusted_proxies")
            .with_list_parse_key("jobs.queues")
            .with_list_parse_key("trading.paper.venues")
            .source(Some(app_env.clone())),
    );

    for (plain, key) in PLAIN_ENV {
        let Some(value) = env.get(plain) else {
            continue;
        };
        let app_name = format!("APP__{}", key.replace('.', "__").to_uppercase());
        // Two sources disagreeing is a mistake worth stopping for, not a precedence puzzle.
        if app_env.get(&app_name).is_some_and(|other| other != value) {
            return Err(ConfigError::Env(format!(
                "{plain} and {app_name} are both set, to different values; set only one"
            )));
        }
        builder = builder
            .set_override(key, value.as_str())
            .map_err(|e| ConfigError::Env(format!("{plain}: {e}")))?;
    }

    let config = builder.build().map_err(|e| file_error(file, e))?;
    let settings: Settings = serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() {
            "(top level)".to_owned()
        } else {
            path
        };
        ConfigError::Key {
            key,
            reason: e.into_inner().to_string(),
        }
    })?;
    validate(&settings)?;
    Ok(settings)
}

fn file_error(file: Option<&Path>, e: config::ConfigError) -> ConfigError {
    ConfigError::File {
        path: file.map_or_else(|| "config.toml".to_owned(), |p| p.display().to_string()),
        reason: e.to_string(),
    }
}

fn key(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// Rules serde cannot express, one function per section, checked in this order. Each names
/// its key and what would be accepted.
fn validate(s: &Settings) -> Result<(), ConfigError> {
    for check in [
        server,
        database_url,
        finance,
        ai,
        trading,
        telegram,
        backup,
        pool_redis,
        telemetry,
        retries,
        security,
        jobs,
        auth_ttl,
        intervals,
    ] {
        check(s)?;
    }
    Ok(())
}

/// The listener address.
fn server(s: &Settings) -> Result<(), ConfigError> {
    if s.server.host.parse::<std::net::IpAddr>().is_err() && s.server.host != "localhost" {
        return Err(key(
            "server.host",
            format!(
                "`{}` is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)",
                s.server.host
            ),
        ));
    }
    Ok(())
}

/// Which database: SQLite or Postgres URLs only.
fn database_url(s: &Settings) -> Result<(), ConfigError> {
    let url = s.database.url.expose();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        return Err(key(
            "database.url",
            format!(
                "`{}` is not supported; use sqlite://<path> or postgres://…",
                s.database.url.redacted()
            ),
        ));
    }
    Ok(())
}

/// `[finance]`.
fn finance(s: &Settings) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&s.finance.model_threshold) {
        return Err(key(
            "finance.model_threshold",
            "a probability between 0 and 1, e.g. 0.6",
        ));
    }
    Ok(())
}

/// `[ai]`: a provider needs a model; limits must allow at least one call.
fn ai(s: &Settings) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&s.finance.llm_threshold) {
        return Err(key(
            "finance.llm_threshold",
            "a probability between 0 and 1, e.g. 0.8",
        ));
    }
    let a = &s.ai;
    if !a.enabled() {
        return Ok(());
    }
    if a.model.trim().is_empty() {
        return Err(key(
            "ai.model",
            "required when ai.provider is set, e.g. gpt-4o-mini or claude-haiku-4-5",
        ));
    }
    if !(a.base_url.is_empty()
        || a.base_url.starts_with("https://")
        || a.base_url.starts_with("http://"))
    {
        return Err(key(
            "ai.base_url",
            "an http(s) URL, or empty for the provider's own",
        ));
    }
    for (field, v) in [
        ("timeout_secs", a.timeout_secs),
        ("max_concurrency", a.max_concurrency as u64),
        ("max_tokens", u64::from(a.max_tokens)),
        ("breaker_threshold", u64::from(a.breaker_threshold)),
        ("max_tool_steps", u64::from(a.max_tool_steps)),
    ] {
        if v == 0 {
            return Err(key(&format!("ai.{field}"), "must be at least 1"));
        }
    }
    if a.monthly_budget_usd.is_sign_negative() {
        return Err(key("ai.monthly_budget_usd", "USD, 0 or more, e.g. \"10\""));
    }
    for (model, p) in &a.prices {
        if p.input_per_mtok.is_sign_negative() || p.output_per_mtok.is_sign_negative() {
            return Err(key(
                &format!("ai.prices.{model}"),
                "prices cannot be negative",
            ));
        }
    }
    Ok(())
}

/// `[trading]` and its paper venues.
fn trading(s: &Settings) -> Result<(), ConfigError> {
    let t = &s.trading;
    if t.max_consecutive_errors == 0 {
        return Err(key("trading.max_consecutive_errors", "must be at least 1"));
    }
    if !(1..=500).contains(&t.book_depth) {
        return Err(key("trading.book_depth", "must be between 1 and 500"));
    }
    if t.reconcile_rel_tolerance.is_sign_negative()
        || t.reconcile_rel_tolerance >= rust_decimal::Decimal::ONE
        || t.reconcile_abs_tolerance.is_sign_negative()
    {
        return Err(key(
            "trading.reconcile_rel_tolerance",
            "reconcile_rel_tolerance a fraction in [0, 1) and reconcile_abs_tolerance not negative",
        ));
    }
    let b = &t.binance;
    for (field, url) in [("testnet_url", &b.testnet_url), ("live_url", &b.live_url)] {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(key(
                &format!("trading.binance.{field}"),
                "an http(s):// base URL",
            ));
        }
    }
    if !(1..=60_000).contains(&b.recv_window_ms) {
        return Err(key("trading.binance.recv_window_ms", "between 1 and 60000"));
    }
    if !(100..=60_000).contains(&b.request_timeout_ms) {
        return Err(key(
            "trading.binance.request_timeout_ms",
            "between 100 and 60000",
        ));
    }
    if b.weight_limit == 0 || !(1..=100).contains(&b.weight_slowdown_percent) {
        return Err(key(
            "trading.binance.weight_slowdown_percent",
            "weight_limit at least 1 and weight_slowdown_percent 1-100",
        ));
    }
    let call_timeout_ms = crate::trading::VENUE_CALL_TIMEOUT.as_millis() as u64;
    if b.weight_wait_max_ms.saturating_add(b.request_timeout_ms) >= call_timeout_ms {
        return Err(key(
            "trading.binance.weight_wait_max_ms",
            format!(
                "weight_wait_max_ms + request_timeout_ms must stay under the {call_timeout_ms} ms venue-call timeout"
            ),
        ));
    }
    for (field, fee) in [("maker_fee", b.maker_fee), ("taker_fee", b.taker_fee)] {
        if fee.is_sign_negative() || fee >= rust_decimal::Decimal::ONE {
            return Err(key(
                &format!("trading.binance.{field}"),
                "a fraction between 0 and 1, e.g. \"0.001\" for 0.1 %",
            ));
        }
    }
    let p = &t.paper;
    let venue_ok = |v: &String| {
        (1..=32).contains(&v.len())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if let Some(bad) = p.venues.iter().find(|v| !venue_ok(v)) {
        return Err(key(
            "trading.paper.venues",
            format!("`{bad}`: 1-32 letters, digits, `-` or `_`"),
        ));
    }
    for (field, fee) in [("maker_fee", p.maker_fee), ("taker_fee", p.taker_fee)] {
        if fee.is_sign_negative() || fee >= rust_decimal::Decimal::ONE {
            return Err(key(
                &format!("trading.paper.{field}"),
                "a fraction between 0 and 1, e.g. \"0.001\" for 0.1 %",
            ));
        }
    }
    if let Some((asset, _)) = p
        .initial_balances
        .iter()
        .find(|(_, v)| v.is_sign_negative())
    {
        return Err(key(
            &format!("trading.paper.initial_balances.{asset}"),
            "must not be negative",
        ));
    }
    if p.step_ms <= 0
        || p.start_price <= rust_decimal::Decimal::ZERO
        || p.level_qty <= rust_decimal::Decimal::ZERO
    {
        return Err(key(
            "trading.paper",
            "step_ms, start_price and level_qty must be positive",
        ));
    }
    Ok(())
}

/// `[backup]`.
fn backup(s: &Settings) -> Result<(), ConfigError> {
    let b = &s.backup;
    crate::schedules::validate_cron(&b.cron).map_err(|reason| key("backup.cron", reason))?;
    if b.keep_daily == 0 {
        return Err(key(
            "backup.keep_daily",
            "must be at least 1 (the newest backup is always kept)",
        ));
    }
    if b.dir.as_os_str().is_empty() {
        return Err(key("backup.dir", "a directory, e.g. data/backups"));
    }
    Ok(())
}

/// `[telegram]`.
fn telegram(s: &Settings) -> Result<(), ConfigError> {
    let t = &s.telegram;
    if !(t.api_base_url.starts_with("http://") || t.api_base_url.starts_with("https://")) {
        return Err(key(
            "telegram.api_base_url",
            "an http(s) URL, e.g. https://api.telegram.org",
        ));
    }
    if !(1..=50).contains(&t.poll_timeout_secs) {
        return Err(key("telegram.poll_timeout_secs", "between 1 and 50"));
    }
    if t.global_per_second == 0 {
        return Err(key("telegram.global_per_second", "must be at least 1"));
    }
    if t.notify_min_amount.is_sign_negative() {
        return Err(key("telegram.notify_min_amount", "must not be negative"));
    }
    if t.enabled && t.mode == super::TelegramMode::Webhook && !t.public_url.starts_with("https://")
    {
        return Err(key(
            "telegram.public_url",
            "webhook mode needs the public https:// base URL Telegram can reach",
        ));
    }
    Ok(())
}

/// The pool size and the optional Redis URL.
fn pool_redis(s: &Settings) -> Result<(), ConfigError> {
    if s.database.max_connections == 0 {
        return Err(key("database.max_connections", "must be at least 1"));
    }
    if s.database.page_lanes > 64 {
        return Err(key("database.page_lanes", "must be 0 to 64"));
    }
    if s.redis.enabled() {
        let r = s.redis.url.expose();
        if !(r.starts_with("redis://") || r.starts_with("rediss://")) {
            return Err(key(
                "redis.url",
                "must start with redis:// or rediss:// (or be empty to disable Redis)",
            ));
        }
    }
    Ok(())
}

/// `[telemetry]`: the log filter must parse.
fn telemetry(s: &Settings) -> Result<(), ConfigError> {
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&s.telemetry.log_level) {
        return Err(key(
            "telemetry.log_level",
            format!("not a valid filter ({e}); e.g. `info` or `ai_service=debug,info`"),
        ));
    }
    Ok(())
}

/// Backoff pairs: a positive initial delay no larger than the maximum.
fn retries(s: &Settings) -> Result<(), ConfigError> {
    for (name, initial, max) in [
        (
            "database.retry_max_ms",
            s.database.retry_initial_ms,
            s.database.retry_max_ms,
        ),
        (
            "redis.retry_max_ms",
            s.redis.retry_initial_ms,
            s.redis.retry_max_ms,
        ),
        (
            "supervisor.restart_max_ms",
            s.supervisor.restart_initial_ms,
            s.supervisor.restart_max_ms,
        ),
    ] {
        if initial == 0 {
            return Err(key(
                &name.replace("_max_", "_initial_"),
                "must be greater than 0",
            ));
        }
        if max < initial {
            return Err(key(
                name,
                format!("must be at least the initial delay ({initial})"),
            ));
        }
    }
    Ok(())
}

/// CORS origins, secrets long enough to be secrets, audit and hashing bounds.
fn security(s: &Settings) -> Result<(), ConfigError> {
    for origin in &s.security.cors_origins {
        if !(origin.starts_with("http://") || origin.starts_with("https://"))
            || origin.ends_with('/')
        {
            return Err(key(
                "security.cors_origins",
                format!("`{origin}` is not an origin like https://nas.local:3000"),
            ));
        }
    }
    crate::api::client_ip::TrustedProxies::parse(&s.security.trusted_proxies)
        .map_err(|e| key("security.trusted_proxies", e))?;
    if s.auth.jwt_secret.is_set()
        && s.auth.jwt_secret.expose().len() < 32
        && !crate::auth::keys::is_placeholder(s.auth.jwt_secret.expose())
    {
        return Err(key(
            "auth.jwt_secret",
            "must be at least 32 characters (e.g. `openssl rand -base64 48`)",
        ));
    }
    let metrics_token = s.metrics.bearer_token.expose();
    if s.metrics.bearer_token.is_set()
        && !crate::auth::keys::is_placeholder(metrics_token)
        && metrics_token.trim().len() < 16
    {
        return Err(key(
            "metrics.bearer_token",
            "must be at least 16 characters (e.g. `openssl rand -base64 32`), or empty",
        ));
    }
    if s.audit.anonymous_window_secs == 0 {
        return Err(key("audit.anonymous_window_secs", "must be at least 1"));
    }
    if s.auth.max_concurrent_hashes == 0 {
        return Err(key("auth.max_concurrent_hashes", "must be at least 1"));
    }
    Ok(())
}

/// `[jobs]`.
fn jobs(s: &Settings) -> Result<(), ConfigError> {
    if s.jobs.concurrency == 0 || s.jobs.lease_secs < 3 || s.jobs.poll_interval_ms == 0 {
        return Err(key(
            "jobs",
            "concurrency and poll_interval_ms must be > 0, lease_secs at least 3",
        ));
    }
    if s.jobs.queues.iter().any(|q| {
        q.is_empty()
            || !q
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '-')
    }) {
        return Err(key(
            "jobs.queues",
            "queue names are lowercase letters, `_` and `-`",
        ));
    }
    Ok(())
}

/// Token lifetimes.
fn auth_ttl(s: &Settings) -> Result<(), ConfigError> {
    if s.auth.access_ttl_secs == 0 || s.auth.refresh_ttl_secs <= s.auth.access_ttl_secs {
        return Err(key(
            "auth.refresh_ttl_secs",
            "access_ttl_secs must be > 0 and refresh_ttl_secs longer than it",
        ));
    }
    Ok(())
}

/// Intervals and timeouts that must be positive.
fn intervals(s: &Settings) -> Result<(), ConfigError> {
    for (name, v) in [
        (
            "database.health_interval_secs",
            s.database.health_interval_secs,
        ),
        ("redis.health_interval_secs", s.redis.health_interval_secs),
        (
            "server.shutdown_timeout_secs",
            s.server.shutdown_timeout_secs,
        ),
    ] {
        if v == 0 {
            return Err(key(name, "must be greater than 0"));
        }
    }
    Ok(())
}

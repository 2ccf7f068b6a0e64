use ai_service::config::{ConfigError, LogFormat, Settings, load};
use std::io::Write as _;
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("tempfile");
    f.write_all(contents.as_bytes()).expect("write");
    f
}

fn load_err(contents: &str, vars: &[(&str, &str)]) -> String {
    let f = file(contents);
    match load(Some(f.path()), env(vars)) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn committed_config_toml_documents_exactly_the_defaults() {
    let from_file = load(Some(Path::new("config.toml")), env(&[])).expect("config.toml loads");
    assert_eq!(
        from_file,
        Settings::default(),
        "config.toml and Settings::default() drifted apart"
    );
    assert_eq!(from_file.server.host, "127.0.0.1");
    assert_eq!(from_file.server.port, 3000);
    assert!(
        from_file
            .database
            .url
            .expose()
            .starts_with("sqlite://data/")
    );
}

#[test]
fn unknown_keys_are_rejected_naming_the_key() {
    let e = load_err("[server]\nprot = 3000\n", &[]);
    assert!(e.contains("server") && e.contains("prot"), "{e}");
    assert!(
        e.contains("expected one of") && e.contains("port"),
        "lists what is allowed: {e}"
    );

    let e = load_err("[servr]\nport = 3000\n", &[]);
    assert!(e.contains("servr"), "{e}");

    let e = load_err("", &[("APP__DATABASE__MAX_CONNECTINS", "3")]);
    assert!(
        e.contains("database") && e.contains("max_connectins"),
        "{e}"
    );
}

#[test]
fn bad_values_name_the_key_and_what_is_allowed() {
    let e = load_err("[server]\nport = 70000\n", &[]);
    assert!(e.contains("server.port"), "{e}");

    let e = load_err("[telemetry]\nlog_format = \"xml\"\n", &[]);
    assert!(
        e.contains("telemetry.log_format") && e.contains("pretty") && e.contains("json"),
        "{e}"
    );

    let e = load_err("", &[("PORT", "eighty")]);
    assert!(e.contains("server.port"), "{e}");

    let e = load_err("", &[("DATABASE_URL", "mysql://u:secret@h/db")]);
    assert!(
        e.contains("database.url") && e.contains("postgres://"),
        "{e}"
    );
    assert!(!e.contains("secret"), "the password is not echoed: {e}");

    let e = load_err(
        "[supervisor]\nrestart_initial_ms = 500\nrestart_max_ms = 100\n",
        &[],
    );
    assert!(e.contains("supervisor.restart_max_ms"), "{e}");

    let e = load_err("[server]\nhost = \"my host\"\n", &[]);
    assert!(e.contains("server.host"), "{e}");

    let e = load_err("[trading.paper]\nprice_source = \"coinbase\"\n", &[]);
    assert!(
        e.contains("trading.paper.price_source")
            && e.contains("random_walk")
            && e.contains("binance")
            && e.contains("kraken"),
        "{e}"
    );
}

#[test]
fn environment_overrides_the_file_and_plain_names_work() {
    let f = file("[server]\nport = 4000\n[telemetry]\nlog_format = \"pretty\"\n");
    let s = load(
        Some(f.path()),
        env(&[
            ("APP__TELEMETRY__LOG_FORMAT", "json"),
            ("PORT", "5000"),
            ("HOST", "0.0.0.0"),
            ("DATABASE_URL", "postgres://app:pw@db:5432/ai"),
            ("REDIS_URL", "redis://cache:6379/0"),
        ]),
    )
    .expect("loads");
    assert_eq!(s.server.port, 5000);
    assert_eq!(s.server.host, "0.0.0.0");
    assert_eq!(s.telemetry.log_format, LogFormat::Json);
    assert_eq!(s.database.url.expose(), "postgres://app:pw@db:5432/ai");
    assert!(s.redis.enabled());

    let s = load(Some(f.path()), env(&[("APP__SERVER__PORT", "6000")])).expect("loads");
    assert_eq!(s.server.port, 6000);
}

#[test]
fn conflicting_plain_and_prefixed_variables_stop_the_boot() {
    let f = file("");
    let e = load(
        Some(f.path()),
        env(&[("PORT", "1"), ("APP__SERVER__PORT", "2")]),
    )
    .expect_err("conflict");
    assert!(matches!(e, ConfigError::Env(_)));
    assert!(
        e.to_string().contains("PORT") && e.to_string().contains("APP__SERVER__PORT"),
        "{e}"
    );
}

#[test]
fn a_missing_config_file_is_an_error_when_named() {
    let e = load(Some(Path::new("/nonexistent/ai.toml")), env(&[])).expect_err("missing");
    assert!(e.to_string().contains("/nonexistent/ai.toml"), "{e}");
}

#[test]
fn secrets_never_print() {
    let s = load(
        Some(Path::new("config.toml")),
        env(&[
            ("DATABASE_URL", "postgres://app:hunter2@db/ai"),
            ("REDIS_URL", "redis://:hunter3@cache:6379"),
        ]),
    )
    .expect("loads");
    for shown in [format!("{s:?}"), serde_json::to_string(&s).expect("json")] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
    }
}

#[test]
fn ai_settings_come_from_the_environment_like_every_key() {
    use ai_service::config::AiProvider;
    let f = file("[ai]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n");
    let s = load(
        Some(f.path()),
        env(&[
            ("APP__AI__PROVIDER", "anthropic"),
            ("APP__AI__BASE_URL", "http://127.0.0.1:9999"),
            ("APP__AI__MODEL", "claude-haiku-4-5"),
            ("APP__AI__API_KEY", "sk-ant-test"),
            ("APP__AI__MONTHLY_BUDGET_USD", "2.50"),
        ]),
    )
    .expect("loads");
    assert_eq!(s.ai.provider, AiProvider::Anthropic);
    assert_eq!(s.ai.base_url, "http://127.0.0.1:9999");
    assert_eq!(s.ai.model, "claude-haiku-4-5");
    assert_eq!(s.ai.api_key.expose(), "sk-ant-test");
    assert_eq!(s.ai.monthly_budget_usd, rust_decimal::Decimal::new(250, 2));
    let e = load_err("", &[("APP__AI__PROVIDER", "gemini")]);
    assert!(e.contains("gemini") && e.contains("anthropic"), "{e}");
}

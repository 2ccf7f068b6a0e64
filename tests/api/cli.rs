//! The binary's subcommands, run as a user would.

use std::process::Command;

fn ai_service() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ai-service"));
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "PORT",
        "HOST",
        "APP_CONFIG",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    c
}

#[test]
fn config_check_validates_and_masks_secrets() {
    let out = ai_service()
        .args(["config", "check"])
        .env("DATABASE_URL", "postgres://app:hunter2@db:5432/ai")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("configuration OK"), "{stdout}");
    assert!(stdout.contains("app:***@db"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

#[test]
fn a_bad_config_exits_2_naming_the_key() {
    let out = ai_service()
        .args(["config", "check"])
        .env("APP__SERVER__PORT", "-1")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.port"), "{stderr}");

    // `serve` refuses to boot on the same error, before binding anything.
    let out = ai_service()
        .env("APP__TELEMETRY__LOG_FORMAT", "xml")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("telemetry.log_format"));
}

#[test]
fn openapi_prints_the_committed_spec() {
    let out = ai_service().arg("openapi").output().expect("run");
    assert!(out.status.success());
    let printed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON on stdout, nothing else");
    assert_eq!(
        printed,
        serde_json::to_value(ai_service::api::openapi()).expect("spec")
    );
}

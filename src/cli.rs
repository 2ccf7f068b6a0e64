//! Command line: `ai-service [--config PATH] [serve|migrate|openapi|config check]`.

use crate::config::{self, Settings};
use crate::db::Db;
use crate::startup::Application;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ai-service",
    version,
    about = "Personal finance + trading control plane"
)]
pub struct Cli {
    /// Configuration file (default: ./config.toml when present).
    #[arg(long, short, global = true, env = "APP_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it with secrets masked.
    Check,
}

/// Exit code for configuration errors (distinct from runtime failures).
pub const EXIT_CONFIG: i32 = 2;

/// Runs the parsed command. Returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        return report(write_stdout(&crate::api::openapi_json()));
    }
    let settings = match config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            // Logging is not set up yet (its settings may be the broken part): plain stderr.
            eprintln!("ai-service: configuration error: {e}");
            return EXIT_CONFIG;
        }
    };
    match command {
        Command::Config {
            action: ConfigCommand::Check,
        } => report(config_check(&settings)),
        Command::Migrate => {
            crate::telemetry::init(&settings.telemetry);
            report(actix_web::rt::System::new().block_on(migrate(settings)))
        }
        Command::Serve | Command::Openapi => {
            crate::telemetry::init(&settings.telemetry);
            report(actix_web::rt::System::new().block_on(serve(settings)))
        }
    }
}

fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("ai-service: {e:#}");
            1
        }
    }
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")
}

fn config_check(settings: &Settings) -> anyhow::Result<()> {
    // `SecretUrl` serializes redacted, so this can be pasted into a bug report.
    let json = serde_json::to_string_pretty(settings).context("cannot render the configuration")?;
    write_stdout(&format!("configuration OK\n{json}\n"))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let db = Db::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let applied = db
        .applied_migrations()
        .await
        .context("listing applied migrations")?;
    db.close().await;
    write_stdout(&format!("migrations applied: {}\n", applied.len()))
}

//! Command line: `ai-service [--config PATH] [serve|migrate|openapi|config check|user create|
//! telegram link|backup|restore]`.

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
    /// Manage users (e.g. the first admin account).
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// The Telegram bot.
    Telegram {
        #[command(subcommand)]
        action: TelegramCommand,
    },
    /// Back the database up (safe while the service runs): a compressed file named by UTC
    /// time plus a `.manifest.json` next to it.
    Backup {
        /// Directory to write into (default: backup.dir, `data/backups`).
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Restore a backup into the configured database (stop the service first). Refuses a
    /// database that holds data unless --force; checks the manifest (checksum, backend,
    /// schema version) and the row counts after.
    Restore {
        /// The backup's archive (`.sqlite.gz`, `.pgdump`) or its `.manifest.json`.
        file: PathBuf,
        /// Replace a database that holds data.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TelegramCommand {
    /// Link a Telegram user id to a user without the chat (headless setup). The chat the
    /// bot answers is the private chat with that user (same id).
    Link {
        #[arg(long)]
        username: String,
        #[arg(long)]
        telegram_user_id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin (or prompted for on a terminal),
    /// never from the command line, where other users could see it.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["viewer", "trader", "admin"])]
        role: String,
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
        Command::User {
            action: UserCommand::Create { username, role },
        } => {
            let _log = crate::telemetry::init(&settings.telemetry);
            report(actix_web::rt::System::new().block_on(create_user(settings, username, role)))
        }
        Command::Telegram {
            action:
                TelegramCommand::Link {
                    username,
                    telegram_user_id,
                },
        } => {
            let _log = crate::telemetry::init(&settings.telemetry);
            report(actix_web::rt::System::new().block_on(telegram_link(
                settings,
                username,
                telegram_user_id,
            )))
        }
        Command::Migrate => {
            let _log = crate::telemetry::init(&settings.telemetry);
            report(actix_web::rt::System::new().block_on(migrate(settings)))
        }
        Command::Backup { to } => {
            let _log = crate::telemetry::init(&settings.telemetry);
            report(actix_web::rt::System::new().block_on(backup(settings, to)))
        }
        Command::Restore { file, force } => {
            let _log = crate::telemetry::init(&settings.telemetry);
            report(actix_web::rt::System::new().block_on(restore(settings, file, force)))
        }
        Command::Serve | Command::Openapi => {
            let _log = crate::telemetry::init(&settings.telemetry);
            let result = actix_web::rt::System::new().block_on(serve(settings));
            if let Err(e) = &result {
                // The service's log (JSON in containers) gets the cause too, not only stderr.
                tracing::error!(error = format!("{e:#}"), "fatal");
            }
            // Missing or placeholder keys are a configuration error, like a bad key.
            let config_error = result
                .as_ref()
                .err()
                .is_some_and(|e| e.downcast_ref::<crate::auth::keys::KeyError>().is_some());
            match report(result) {
                0 => 0,
                _ if config_error => EXIT_CONFIG,
                code => code,
            }
        }
    }
}

fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
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

async fn telegram_link(
    settings: Settings,
    username: String,
    telegram_user_id: i64,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        telegram_user_id > 0,
        "--telegram-user-id: a Telegram user id is a positive number (ask @userinfobot)"
    );
    let db = Db::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let user = crate::db::users::by_username(&db, &username).await;
    let result = match user {
        Ok(Some(u)) => crate::telegram::store::upsert_link(
            &db,
            telegram_user_id,
            &u.id,
            None,
            telegram_user_id,
        )
        .await
        .map(|()| u)
        .context("storing the link"),
        Ok(None) => Err(anyhow::anyhow!("--username: no user named `{username}`")),
        Err(e) => Err(e).context("reading users"),
    };
    db.close().await;
    let user = result?;
    write_stdout(&format!(
        "linked Telegram user {telegram_user_id} to {} (role {})\n",
        user.username, user.role
    ))
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

async fn backup(settings: Settings, to: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = to.unwrap_or_else(|| settings.backup.dir.clone());
    if let Some(file) = crate::db::backup::sqlite_file(&settings.database)?
        && !file.exists()
    {
        // Connecting would create an empty database, and back that up.
        anyhow::bail!(
            "no SQLite database at {} (nothing to back up)",
            file.display()
        );
    }
    let db = Db::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    // No migration: a backup records the database as it is.
    let created = crate::db::backup::create(&db, &settings.database, &dir).await;
    db.close().await;
    let created = created.context("backup failed")?;
    let rows: i64 = created.manifest.tables.values().sum();
    write_stdout(&format!(
        "backup written: {} ({} bytes, schema {}, {rows} rows)\nmanifest: {}\n",
        created.archive.display(),
        created.manifest.bytes,
        created.manifest.schema_version,
        created.manifest_path.display()
    ))
}

async fn restore(settings: Settings, file: PathBuf, force: bool) -> anyhow::Result<()> {
    let restored = crate::db::backup::restore(&settings.database, &file, force)
        .await
        .context("restore failed")?;
    let rows: i64 = restored.manifest.tables.values().sum();
    write_stdout(&format!(
        "restored {} (taken {}, schema {}): {rows} rows in {} tables, counts verified{}\n\
         start the service: it applies newer migrations if this binary has them\n",
        restored.manifest.file,
        restored.manifest.created_at.to_rfc3339(),
        restored.manifest.schema_version,
        restored.manifest.tables.len(),
        if restored.replaced_rows > 0 {
            format!("; replaced {} rows", restored.replaced_rows)
        } else {
            String::new()
        }
    ))
}

fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again = rpassword::prompt_password("Repeat: ").context("reading the password")?;
        anyhow::ensure!(first == again, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

async fn create_user(settings: Settings, username: String, role: String) -> anyhow::Result<()> {
    use crate::api::admin::{validate_password, validate_username};
    if let Some(e) = validate_username(&username) {
        anyhow::bail!("--username: {}", e.message);
    }
    let password = read_password()?;
    if let Some(e) = validate_password(&password, settings.auth.min_password_length) {
        anyhow::bail!("password: {}", e.message);
    }
    let db = Db::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    // The same bound as the server: a script creating users in a loop stays at 19 MiB × permits.
    let hash = crate::auth::password::Passwords::new(&settings.auth)
        .hash(secrecy::SecretString::from(password))
        .await?;
    let row = crate::db::users::insert(&db, &username, &hash, &role).await;
    db.close().await;
    let row = match row {
        Err(crate::db::DbError::Conflict { .. }) => {
            anyhow::bail!("a user named `{username}` already exists")
        }
        other => other.with_context(|| format!("creating user `{username}`"))?,
    };
    write_stdout(&format!(
        "created user {} ({}) with role {}\n",
        row.username, row.id, row.role
    ))
}

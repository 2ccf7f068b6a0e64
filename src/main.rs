//! Entry point: parse the command line and hand over. Wiring lives in `startup.rs`.

use clap::Parser;

fn main() {
    let cli = ai_service::cli::Cli::parse();
    std::process::exit(ai_service::cli::run(cli));
}

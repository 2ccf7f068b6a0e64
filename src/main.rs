//! Entry point: parse the command line and hand over. Wiring lives in `startup.rs`.

use clap::Parser;

fn main() {
    // Before anything allocates much: may replace this process with itself (see malloc.rs).
    ai_service::malloc::limit_arenas();
    let cli = ai_service::cli::Cli::parse();
    std::process::exit(ai_service::cli::run(cli));
}

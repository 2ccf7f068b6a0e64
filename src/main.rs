//! Entry point: parse the command line and hand over. Wiring lives in `startup.rs`.

use clap::Parser;

/// mimalloc instead of glibc malloc. Each argon2id hash allocates 19 MiB; glibc raises its
/// mmap threshold after the first such free, so later buffers come from arenas it rarely
/// trims, and RSS stays at its peak. mimalloc returns freed segments to the OS. Measured with
/// bench/logins.sh (1000 failed logins at concurrency 32, release, 2 hashing slots):
/// figures in docs/decisions.md ("Memory under login load").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = ai_service::cli::Cli::parse();
    std::process::exit(ai_service::cli::run(cli));
}

//! glibc malloc tuning that has to happen before the first allocation.
//!
//! glibc gives each new thread its own malloc arena (up to 8 per core). This process has a
//! dozen threads at idle (HTTP workers, one per SQLite connection, the blocking pool), and
//! every arena keeps its own free and fragmented pages: `MALLOC_ARENA_MAX=2` measured
//! ~4 MB less idle RSS (docs/decisions.md "Footprint, second pass"). The arena limit can
//! only be set by `mallopt` (unsafe FFI; the workspace forbids `unsafe`) or by the
//! environment glibc reads when the program starts, so `main` re-executes the binary once
//! with the variable set, unless it is set already (the Dockerfile sets it; anyone can set
//! another value, which is then kept as given).

use std::ffi::OsString;

/// The variable glibc reads at startup, and the value we start with when it is unset.
pub const ARENA_MAX_VAR: &str = "MALLOC_ARENA_MAX";
pub const ARENA_MAX: &str = "2";
/// Set to anything to start without the re-execution (to measure glibc's default).
pub const KEEP_DEFAULT_VAR: &str = "AI_SERVICE_MALLOC_DEFAULT";

/// Whether the process should re-execute itself to get the arena limit: only when neither
/// the limit nor the opt-out is in the environment (so it happens at most once).
pub fn needs_reexec(arena_max: Option<&OsString>, keep_default: Option<&OsString>) -> bool {
    arena_max.is_none() && keep_default.is_none()
}

/// Replaces this process (same pid, same arguments) with itself plus `MALLOC_ARENA_MAX=2`.
/// Returns only when that is not wanted or not possible; the service then runs with glibc's
/// default arenas, which works, just with more idle memory.
#[cfg(target_os = "linux")]
pub fn limit_arenas() {
    use std::os::unix::process::CommandExt as _;
    if !needs_reexec(
        std::env::var_os(ARENA_MAX_VAR).as_ref(),
        std::env::var_os(KEEP_DEFAULT_VAR).as_ref(),
    ) {
        return;
    }
    let mut args = std::env::args_os();
    let Some(argv0) = args.next() else { return };
    // `/proc/self/exe` is this very file even when started through a relative path or PATH.
    let _err = std::process::Command::new("/proc/self/exe")
        .arg0(argv0)
        .args(args)
        .env(ARENA_MAX_VAR, ARENA_MAX)
        .exec();
}

#[cfg(not(target_os = "linux"))]
pub fn limit_arenas() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reexecutes_only_when_nothing_is_set() {
        let v = OsString::from("4");
        assert!(needs_reexec(None, None));
        assert!(!needs_reexec(Some(&v), None), "a given limit is kept");
        assert!(!needs_reexec(None, Some(&v)), "the opt-out is honoured");
    }
}

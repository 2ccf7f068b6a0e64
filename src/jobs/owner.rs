//! Who holds a job lease: `host:pid:start` (the process's start time in clock ticks since
//! boot, from `/proc/<pid>/stat`). With it a process can tell, at once, that a lease held on
//! its own host belongs to a process that is gone: the pid no longer runs, or runs with
//! another start time (reused, or a container restarted as pid 1 again). Such leases are
//! expired straight away instead of after `jobs.lease_secs`, so a job killed with its
//! process (kill -9, power loss, OOM) resumes as soon as the service is back. Leases of other
//! hosts still wait for their expiry: nothing here can see whether those processes live.

/// This process's lease owner string.
pub fn this_process(host: &str) -> String {
    let pid = std::process::id();
    match start_time(pid) {
        Some(start) => format!("{host}:{pid}:{start}"),
        None => format!("{host}:{pid}"),
    }
}

/// The start time of `pid` (field 22 of `/proc/<pid>/stat`), if it runs and `/proc` exists.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: fields after it.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `owner` names a process on `host` that no longer runs. `false` when it cannot be
/// known (another host, an owner without a start time, no `/proc`).
pub fn is_dead_local(owner: &str, host: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(owner_host)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(start), Ok(pid)) = (start.parse::<u64>(), pid.parse::<u32>()) else {
        return false;
    };
    if owner_host != host || !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    start_time(pid) != Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_gone_one_is_dead() {
        let me = this_process("h");
        assert!(!is_dead_local(&me, "h"), "{me}");
        // Same pid, another start time: a previous incarnation (container restart as pid 1).
        let pid = std::process::id();
        assert!(is_dead_local(&format!("h:{pid}:1"), "h"));
        // A pid that does not run (above the kernel's maximum).
        assert!(is_dead_local("h:4294967295:5", "h"));
        // Another host, or an owner without a start time: unknown, so not dead.
        assert!(!is_dead_local(&format!("other:{pid}:1"), "h"));
        assert!(!is_dead_local("h:12345", "h"));
    }
}

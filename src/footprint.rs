//! Hands the executable's startup-only code back to the kernel once the service is ready.
//!
//! Measured (release, 2026-12-03, `bench/startup.sh`): of the 30.3 MB idle RSS, 19.3 MB were
//! pages of the binary itself (its code and read-only data) and 9.0 MB anonymous memory.
//! Most of those code pages ran once, at start (configuration, migrations, building every
//! actor and the route table), and the kernel maps code 64 KiB around each page touched, so
//! 16.6 MB of the 22.8 MB code segment stayed resident, counted in the RSS and charged to the
//! container's memory cgroup. `MADV_PAGEOUT` over the binary's read-only mappings returns them
//! now instead of at the next memory pressure: what runs again faults back in from the page
//! cache or the file (a one-off few milliseconds per 64 KiB on a NAS disk), and idle RSS
//! went 30.3 → ~20 MB. Contents never change (the pages are re-read from the file), so this
//! is safe for any mapping it touches; writable mappings (data, heap) are left alone.
//! `server.release_startup_code = false` turns it off.
#![allow(unsafe_code)]

use std::path::Path;

/// `[start, end)` of the read-only mappings of `exe` in a `/proc/self/maps` text (pure).
pub fn readonly_ranges(maps: &str, exe: &Path) -> Vec<(usize, usize)> {
    let Some(exe) = exe.to_str() else {
        return Vec::new();
    };
    maps.lines()
        .filter_map(|line| {
            // `start-end perms offset dev inode path`: the path may contain spaces.
            let mut fields = line.splitn(6, ' ');
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3)?.trim_start();
            if path != exe || perms.as_bytes().get(1) != Some(&b'-') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some((start, end))
        })
        .collect()
}

/// Pages out this process's read-only mappings of its own executable; the bytes advised.
#[cfg(target_os = "linux")]
pub fn release_startup_code() -> std::io::Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut advised = 0;
    for (start, end) in readonly_ranges(&maps, &exe) {
        // SAFETY: `MADV_PAGEOUT` only asks the kernel to reclaim the pages of a range that is
        // mapped (it was just read from /proc/self/maps and the executable is never
        // unmapped); it never changes what a read of them returns, read-only file pages are
        // re-read from the file on the next access. No Rust reference is invalidated.
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        advised += end - start;
    }
    Ok(advised)
}

#[cfg(not(target_os = "linux"))]
pub fn release_startup_code() -> std::io::Result<usize> {
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
5642c9c33000-5642ca2fb000 r--p 00000000 08:01 1234 /opt/ai service/ai-service
5642ca2fb000-5642cb8be000 r-xp 006c7000 08:01 1234 /opt/ai service/ai-service
5642cb8be000-5642cb96d000 r--p 01c89000 08:01 1234 /opt/ai service/ai-service
5642cb96d000-5642cb976000 rw-p 01d37000 08:01 1234 /opt/ai service/ai-service
564301482000-5643015d4000 rw-p 00000000 00:00 0                          [heap]
7f740b487000-7f740b5dd000 r-xp 00028000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
7f740b6c7000-7f740b6c8000 ---p 00000000 00:00 0
";

    #[test]
    fn only_the_executables_read_only_mappings() {
        let ranges = readonly_ranges(MAPS, Path::new("/opt/ai service/ai-service"));
        assert_eq!(
            ranges,
            [
                (0x5642_c9c3_3000, 0x5642_ca2f_b000),
                (0x5642_ca2f_b000, 0x5642_cb8b_e000),
                (0x5642_cb8b_e000, 0x5642_cb96_d000),
            ]
        );
        assert!(readonly_ranges(MAPS, Path::new("/usr/bin/other")).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_test_binary_can_release_its_code_and_keeps_running() {
        let advised = release_startup_code().expect("madvise");
        assert!(advised > 0);
        // The code paged out runs again (faulted back in): this very function, and a second
        // round that reads and parses the maps anew.
        assert_eq!(release_startup_code().expect("again"), advised);
    }
}

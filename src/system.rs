//! What the process asks of the operating system. The crate's only
//! `unsafe` code lives here.

#![allow(unsafe_code)]

/// Raise the soft limit on open files to the hard limit: the daemon keeps
/// one connection per appliance, the simulator one listener and its
/// connections per simulated appliance.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), for `/proc` CPU times.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The memory page size in bytes (`sysconf(_SC_PAGESIZE)`).
pub fn page_size() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as f64
    } else {
        4096.0
    }
}

/// Boot time, Unix seconds: the wall clock minus `CLOCK_BOOTTIME` (the
/// clock `/proc/self/stat`'s starttime counts in). Two clock reads and no
/// file: `/proc/stat`'s `btime` is hidden by systemd's `ProcSubset=pid`.
pub fn boot_time() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    let since_boot = ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some(now - since_boot)
}

/// The effective user id (`geteuid`): `check-config` run as root reads
/// files the service's own user could not.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

//! The exporter's own `process_*` metrics, as every Prometheus client
//! library publishes them (CPU, memory, file descriptors against their
//! limit, start time), read from `/proc/self` at scrape time. On systems
//! without `/proc` they are absent. Only `/proc/self/*` is read: systemd's
//! `ProcSubset=pid` (in our unit) hides the rest of `/proc`, `/proc/stat`
//! and `/proc/uptime` included, so the boot time comes from the clocks.

use crate::exposition::Desc;

/// `process_cpu_seconds_total`.
pub static CPU: Desc = Desc::counter(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds",
    &[],
);
/// `process_resident_memory_bytes`.
pub static RSS: Desc = Desc::gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes",
    &[],
);
/// `process_virtual_memory_bytes`.
pub static VSZ: Desc = Desc::gauge(
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes",
    &[],
);
/// `process_open_fds`.
pub static OPEN_FDS: Desc = Desc::gauge("process_open_fds", "Number of open file descriptors", &[]);
/// `process_max_fds`.
pub static MAX_FDS: Desc = Desc::gauge(
    "process_max_fds",
    "Maximum number of open file descriptors (the soft limit)",
    &[],
);
/// `process_start_time_seconds`.
pub static START_TIME: Desc = Desc::gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds",
    &[],
);

/// Every process metric, in output order.
pub static METRICS: &[&Desc] = &[&CPU, &OPEN_FDS, &MAX_FDS, &RSS, &START_TIME, &VSZ];

/// One reading of the process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Process {
    /// User + system CPU seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<f64>,
    /// Virtual size, bytes.
    pub virtual_bytes: Option<f64>,
    /// Open descriptors.
    pub open_fds: Option<f64>,
    /// Soft limit on descriptors.
    pub max_fds: Option<f64>,
    /// Unix start time, seconds.
    pub start_time: Option<f64>,
}

impl Process {
    /// The metrics with a value, in [`METRICS`] order.
    pub fn samples(&self) -> Vec<(&'static Desc, f64)> {
        [
            (&CPU, self.cpu_seconds),
            (&OPEN_FDS, self.open_fds),
            (&MAX_FDS, self.max_fds),
            (&RSS, self.resident_bytes),
            (&START_TIME, self.start_time),
            (&VSZ, self.virtual_bytes),
        ]
        .into_iter()
        .filter_map(|(d, v)| v.map(|v| (d, v)))
        .collect()
    }
}

/// Read `/proc/self` now (nothing where there is no `/proc`).
pub fn read() -> Process {
    read_with(|p| std::fs::read_to_string(p).ok())
}

/// [`read`] with the file reader given, so a test can see which files it
/// asks for.
fn read_with(read: impl Fn(&str) -> Option<String>) -> Process {
    let ticks = crate::system::clock_ticks_per_second();
    let page = crate::system::page_size();
    let boot = crate::system::boot_time();
    let mut p = read("/proc/self/stat")
        .as_deref()
        .map(|s| from_stat(s, ticks, page, boot))
        .unwrap_or_default();
    p.max_fds = read("/proc/self/limits")
        .as_deref()
        .and_then(max_open_files);
    p.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    p
}

/// `/proc/self/stat` (proc(5)): fields after the `(comm)`, which may hold
/// spaces. utime 14, stime 15, starttime 22 (clock ticks after boot),
/// vsize 23 (bytes), rss 24 (pages).
pub fn from_stat(stat: &str, ticks: f64, page: f64, boot_time: Option<f64>) -> Process {
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // rest starts at field 3 (state).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = field(14).zip(field(15)).map(|(u, s)| (u + s) / ticks);
    Process {
        cpu_seconds: cpu,
        start_time: field(22).zip(boot_time).map(|(st, b)| b + st / ticks),
        virtual_bytes: field(23),
        resident_bytes: field(24).map(|p| p * page),
        ..Process::default()
    }
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
pub fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    match soft {
        "unlimited" => Some(f64::INFINITY),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_by_hand() {
        // A real line's shape, with a space and a ')' in comm.
        let stat = "4242 (ivanti (x) exp) S 1 4242 4242 0 -1 4194560 1520 0 0 0 \
                    250 50 0 0 20 0 9 0 123400 104857600 2560 18446744073709551615";
        let p = from_stat(stat, 100.0, 4096.0, Some(1_700_000_000.0));
        // (250 + 50) ticks / 100 = 3 s; start 1,700,000,000 + 123,400/100.
        assert_eq!(p.cpu_seconds, Some(3.0));
        assert_eq!(p.start_time, Some(1_700_001_234.0));
        assert_eq!(p.virtual_bytes, Some(104_857_600.0));
        assert_eq!(p.resident_bytes, Some(2560.0 * 4096.0));
    }

    #[test]
    fn limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            20000                20000                files\n";
        assert_eq!(max_open_files(limits), Some(20000.0));
    }

    #[test]
    fn start_time_needs_only_proc_self() {
        // What ProcSubset=pid leaves visible: /proc/self/*, nothing else.
        let asked = std::sync::Mutex::new(Vec::new());
        let p = read_with(|path| {
            asked.lock().unwrap().push(path.to_string());
            path.starts_with("/proc/self/")
                .then(|| std::fs::read_to_string(path).ok())
                .flatten()
        });
        let asked = asked.into_inner().unwrap();
        assert!(
            asked.iter().all(|p| p.starts_with("/proc/self/")),
            "{asked:?}"
        );
        if std::path::Path::new("/proc/self/stat").exists() {
            let start = p.start_time.expect("a start time without /proc/stat");
            // The old way, where /proc/stat is visible: its btime (whole
            // seconds) plus starttime. The same start, within that second.
            let btime = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            });
            if let Some(btime) = btime {
                let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
                let ticks = crate::system::clock_ticks_per_second();
                let old = from_stat(&stat, ticks, 4096.0, Some(btime))
                    .start_time
                    .unwrap();
                assert!((start - old).abs() <= 1.5, "{start} vs {old}");
            }
        }
    }

    #[test]
    fn this_process_is_read() {
        let p = read();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(p.resident_bytes.unwrap() > 1e6);
            assert!(p.open_fds.unwrap() >= 3.0);
            assert!(p.max_fds.unwrap() >= p.open_fds.unwrap());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let start = p.start_time.unwrap();
            assert!(
                start <= now + 1.0 && start > now - 86_400.0,
                "{start} vs {now}"
            );
        }
    }
}

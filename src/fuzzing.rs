//! Entry points shared by the `cargo fuzz` targets (`fuzz/`) and the
//! regression test that replays every input they ever found
//! (`fuzz/regressions/<target>/*`).
//!
//! Each entry runs one parser on arbitrary bytes and, when it accepts them,
//! turns the model into series and encodes those in both exposition formats,
//! so a fuzzer exercises parse, samples and escaping together. None of them
//! may panic.

use crate::exposition::{Encoder, Format, Samples};
use crate::kinds::ics::{
    active_users, cluster, healthcheck, host_checker, license, license_capacity, ntp,
    status_overview, system_information,
};

/// Every fuzz target, by name (the `fuzz/fuzz_targets/<name>.rs` files).
pub const TARGETS: &[&str] = &[
    "ics_healthcheck",
    "ics_active_users",
    "ics_cluster",
    "ics_license",
    "ics_system_information",
    "ics_license_capacity",
    "ics_ntp",
    "ics_host_checker",
    "ics_status_overview",
    "sps_health_status",
    "sps_cluster_status",
    "epmm_devices",
    "isec_console",
    "config",
    "syslog",
];

/// Run the fuzz target `name` on `data`. Unknown names panic (a test bug).
pub fn run(name: &str, data: &[u8]) {
    let mut out = Samples::new();
    match name {
        "ics_healthcheck" => {
            let status = healthcheck::parse_status(data).ok();
            let sbr = healthcheck::parse_sbr(data).ok().flatten();
            healthcheck::samples(true, status.as_ref(), sbr, &mut out);
        }
        "ics_active_users" => {
            if let Ok(page) = active_users::parse(data) {
                let mut b = active_users::Breakdown::default();
                let total = page.total_matched;
                let permitted = page.user_login_permission;
                b.add(page.records);
                active_users::samples(total, permitted, &b, &mut out);
            }
        }
        "ics_cluster" => {
            if let Ok(Some(c)) = cluster::parse(data) {
                cluster::samples(&c, &mut out);
            }
        }
        "ics_license" => {
            let leases = license::parse_leases(data).ok();
            let named = license::parse_named_users(data).ok();
            license::samples(leases.as_ref(), named.as_deref(), &mut out);
        }
        "ics_system_information" => {
            if let Ok(info) = system_information::parse(data) {
                let db = crate::advisories::Advisories::builtin();
                let posture = system_information::Posture {
                    advisories: &db,
                    product: crate::advisories::Product::Ics,
                    today: crate::advisories::Date::today(),
                };
                system_information::samples(&info, &posture, &mut out);
            }
        }
        "ics_license_capacity" => {
            if let Ok(s) = license_capacity::parse(data) {
                license_capacity::samples(&s, &mut out);
            }
        }
        "ics_ntp" => {
            if let Ok(servers) = ntp::parse(data) {
                ntp::samples(&servers, &mut out);
            }
        }
        "ics_host_checker" => {
            if let Ok(e) = host_checker::parse(data) {
                host_checker::samples(&e, &mut out);
            }
        }
        "ics_status_overview" => {
            if let Ok(o) = status_overview::parse(data) {
                let mut boot = Some(1.8e9);
                status_overview::samples(&o, 1.8e9, 1.8e9 + 0.5, &mut boot, &mut out);
            }
        }
        "sps_health_status" => {
            if let Ok(h) = crate::kinds::sps::health_status::parse(data) {
                crate::kinds::sps::health_status::samples(&h, &mut out);
            }
        }
        "sps_cluster_status" => {
            if let Ok(n) = crate::kinds::sps::cluster_status::parse(data) {
                crate::kinds::sps::cluster_status::samples(&n, 0.0, &mut out);
            }
        }
        "epmm_devices" => {
            use crate::kinds::epmm::devices;
            if let Ok(total) = devices::parse_total(data) {
                for q in devices::count_queries() {
                    devices::count_sample(&q, total, &mut out);
                }
            }
            if let Ok(spaces) = devices::parse_spaces(data) {
                devices::space_samples(&spaces, &mut out);
            }
        }
        "isec_console" => {
            use crate::kinds::isec::console;
            if let Ok(v) = console::parse_version(data) {
                console::version_samples(&v, &mut out);
            }
            if let Ok(p) = console::parse_page(data, "/st/console/api/v1.0") {
                out.push(&console::AGENTS, &[], p.items as f64);
            }
            if let Ok(ops) = console::parse_operations(data) {
                console::operation_samples(&ops, &mut out);
            }
        }
        "config" => {
            if let Ok(text) = std::str::from_utf8(data) {
                // Relative file references resolve inside a directory that
                // does not exist, so the loader reads nothing real.
                let base = std::path::Path::new("/nonexistent-fuzz-base");
                let _ = crate::config::Config::from_yaml(text, base);
            }
        }
        "syslog" => {
            // The same bytes as one TCP/TLS stream, through the framers.
            let mut stream = Samples::new();
            crate::syslog::receiver::fuzz_stream(data, &mut stream);
            encode(&stream);
            // One message per line, straight to the parser.
            let text = String::from_utf8_lossy(data);
            let target = crate::syslog::state::TargetSyslog::default();
            for line in text.lines() {
                let m = crate::syslog::event::parse(line);
                target.record(&m.event, 1.0);
            }
            target.samples(&mut out);
        }
        other => panic!("unknown fuzz target {other:?}"),
    }
    encode(&out);
}

/// Encode series in both formats, checking the output is one line per series.
fn encode(samples: &Samples) {
    for format in [Format::Text, Format::OpenMetrics] {
        let mut text = String::new();
        let mut enc = Encoder::new(&mut text, format);
        let mut last: Option<&str> = None;
        for s in samples.series() {
            if last != Some(s.desc.name) {
                enc.family(s.desc);
                last = Some(s.desc.name);
            }
            enc.series("", &s.labels, s.value);
        }
        enc.finish();
        // Label values are escaped: no raw newline can split a series.
        let lines = text.lines().filter(|l| !l.starts_with('#')).count();
        assert!(
            lines == samples.len(),
            "{} series encoded as {lines} lines",
            samples.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input the fuzzers found (and the seeds) still parses without a panic.
    #[test]
    fn fuzz_regressions_replay() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
        let mut replayed = 0;
        for name in TARGETS {
            let dir = root.join(name);
            assert!(dir.is_dir(), "{} missing", dir.display());
            for entry in std::fs::read_dir(&dir).expect("read regressions") {
                let path = entry.expect("entry").path();
                let data = std::fs::read(&path).expect("read input");
                run(name, &data);
                replayed += 1;
            }
        }
        assert!(replayed >= TARGETS.len(), "only {replayed} inputs replayed");
    }

    #[test]
    fn every_target_has_a_fuzz_target_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
        for name in TARGETS {
            assert!(
                root.join(format!("fuzz_targets/{name}.rs")).is_file(),
                "fuzz/fuzz_targets/{name}.rs missing"
            );
            assert!(
                manifest.contains(&format!("name = \"{name}\"")),
                "fuzz/Cargo.toml has no [[bin]] {name}"
            );
        }
    }
}

//! Render the store as an exposition: the exporter's own metrics, each
//! target's poll metrics (`ivanti_up`, `ivanti_collector_*`), then every
//! collector's data series, grouped by family across targets (each family
//! appears once, with one HELP/TYPE header, as both formats require).

use crate::error::Reason;
use crate::exposition::{Desc, Encoder, Format, Rendered, Series};
use crate::kinds;
use crate::store::{CollectorSlot, CollectorStatus, ExporterStats, Inventory, TargetState};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

/// `ivanti_up`.
pub static UP: Desc = Desc::gauge(
    "ivanti_up",
    "1 when the latest poll of every enabled collector of the appliance succeeded, 0 otherwise",
    &[],
);
/// `ivanti_collector_success`.
pub static COLLECTOR_SUCCESS: Desc = Desc::gauge(
    "ivanti_collector_success",
    "1 when the latest poll of the collector succeeded, 0 when it failed",
    &["collector"],
);
/// `ivanti_collector_duration_seconds`.
pub static COLLECTOR_DURATION: Desc = Desc::gauge(
    "ivanti_collector_duration_seconds",
    "Wall time of the latest poll of the collector, all its requests included",
    &["collector"],
);
/// `ivanti_collector_last_success_timestamp_seconds`.
pub static COLLECTOR_LAST_SUCCESS: Desc = Desc::gauge(
    "ivanti_collector_last_success_timestamp_seconds",
    "Unix time of the latest successful poll of the collector",
    &["collector"],
);
/// `ivanti_collector_errors_total`.
pub static COLLECTOR_ERRORS: Desc = Desc::counter(
    "ivanti_collector_errors_total",
    Reason::HELP,
    &["collector", "reason"],
);
/// `ivanti_collector_consecutive_failures`.
pub static COLLECTOR_FAILURES: Desc = Desc::gauge(
    "ivanti_collector_consecutive_failures",
    "Failed polls of the collector since its last success; its data series are dropped once this reaches global.stale_after",
    &["collector"],
);

/// `ivanti_tls_certificate_expiry_timestamp_seconds`.
pub static CERT_EXPIRY: Desc = Desc::gauge(
    "ivanti_tls_certificate_expiry_timestamp_seconds",
    "Unix time at which the certificate the appliance presented at the latest TLS handshake expires (its notAfter); also with insecure_skip_verify",
    &[],
);

/// Per-target poll metrics, in output order.
pub static TARGET_METRICS: &[&Desc] = &[
    &UP,
    &CERT_EXPIRY,
    &COLLECTOR_SUCCESS,
    &COLLECTOR_DURATION,
    &COLLECTOR_LAST_SUCCESS,
    &COLLECTOR_ERRORS,
    &COLLECTOR_FAILURES,
];

/// `ivanti_exporter_build_info`.
pub static BUILD_INFO: Desc = Desc::gauge(
    "ivanti_exporter_build_info",
    "Version of the exporter, value 1",
    &["version", "revision"],
);
/// `ivanti_exporter_targets`.
pub static TARGETS: Desc = Desc::gauge(
    "ivanti_exporter_targets",
    "Appliances configured (after sharding)",
    &[],
);
/// `ivanti_exporter_polls_in_flight`.
pub static IN_FLIGHT: Desc = Desc::gauge(
    "ivanti_exporter_polls_in_flight",
    "Collector polls running now",
    &[],
);
/// `ivanti_exporter_poll_tasks`.
pub static POLL_TASKS: Desc = Desc::gauge(
    "ivanti_exporter_poll_tasks",
    "Polling tasks alive, one per target and collector",
    &[],
);
/// `ivanti_exporter_polls_total`.
pub static POLLS: Desc = Desc::counter(
    "ivanti_exporter_polls_total",
    "Collector polls done, successful or not",
    &[],
);
/// `ivanti_exporter_polls_skipped_total`.
pub static SKIPPED: Desc = Desc::counter(
    "ivanti_exporter_polls_skipped_total",
    "Scheduled polls skipped because the previous poll of the same collector was still running",
    &[],
);
/// `ivanti_exporter_config_last_reload_successful`.
pub static RELOAD_OK: Desc = Desc::gauge(
    "ivanti_exporter_config_last_reload_successful",
    "1 when the last configuration (re)load succeeded",
    &[],
);
/// `ivanti_exporter_config_last_reload_success_timestamp_seconds`.
pub static RELOAD_TIME: Desc = Desc::gauge(
    "ivanti_exporter_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful configuration (re)load",
    &[],
);
/// `ivanti_exporter_config_reload_failures_total`.
pub static RELOAD_FAILURES: Desc = Desc::counter(
    "ivanti_exporter_config_reload_failures_total",
    "Configuration reloads rejected (the previous configuration stayed in force)",
    &[],
);
/// `ivanti_exporter_http_connections_limited_total`.
pub static CONNECTIONS_LIMITED: Desc = Desc::counter(
    "ivanti_exporter_http_connections_limited_total",
    "Connections to the exporter that waited because --web.max-connections were open",
    &[],
);

/// `ivanti_advisories_info`.
pub static ADVISORIES_INFO: Desc = Desc::gauge(
    "ivanti_advisories_info",
    "The advisory data in force (built-in or advisories_file): the CISA KEV catalog version it was checked against, value 1",
    &["catalog_version"],
);
/// `ivanti_advisories_updated_timestamp_seconds`.
pub static ADVISORIES_UPDATED: Desc = Desc::gauge(
    "ivanti_advisories_updated_timestamp_seconds",
    "Unix time of the day the advisory data in force was last curated (its updated: field)",
    &[],
);

/// The exporter's own metrics, in output order.
pub static SELF_METRICS: &[&Desc] = &[
    &BUILD_INFO,
    &TARGETS,
    &IN_FLIGHT,
    &POLL_TASKS,
    &POLLS,
    &SKIPPED,
    &RELOAD_OK,
    &RELOAD_TIME,
    &RELOAD_FAILURES,
    &CONNECTIONS_LIMITED,
    &ADVISORIES_INFO,
    &ADVISORIES_UPDATED,
];

/// Every metric family the exporter can publish, sorted by name.
pub fn all_metrics() -> Vec<&'static Desc> {
    let mut v: Vec<&'static Desc> = SELF_METRICS
        .iter()
        .chain(crate::process::METRICS)
        .chain(TARGET_METRICS)
        .chain(crate::syslog::state::SELF_METRICS)
        .chain(crate::syslog::state::TARGET_METRICS)
        .copied()
        .chain(kinds::all_collector_metrics())
        .collect();
    v.sort_by_key(|d| d.name);
    v.dedup_by_key(|d| d.name);
    v
}

struct TargetView<'a> {
    state: &'a TargetState,
    collectors: Vec<CollectorStatus>,
    /// Per collector, its poll metrics' sample lines.
    poll_lines: Vec<Arc<Rendered>>,
    /// Its syslog series, when the receiver is on.
    syslog: Rendered,
}

/// Render everything (`/metrics`), or one target (`/probe`), as one string.
pub fn render(
    inventory: &Inventory,
    stats: Option<&ExporterStats>,
    only: Option<&Arc<TargetState>>,
    format: Format,
) -> String {
    let mut whole = String::new();
    render_chunks(inventory, stats, only, format, usize::MAX, |chunk| {
        if whole.is_empty() {
            whole = chunk;
        } else {
            whole.push_str(&chunk);
        }
        true
    });
    whole
}

/// Where rendered text goes: chunks of about `chunk` bytes to `sink`,
/// until it refuses one (the scraper went away).
struct Out<'a, F> {
    enc: Encoder<'a>,
    chunk: usize,
    sink: F,
    open: bool,
}

impl<F: FnMut(String) -> bool> Out<'_, F> {
    /// Hand over a chunk once one is full.
    fn flush(&mut self) {
        if self.enc.len() >= self.chunk {
            let text = self
                .enc
                .take(self.chunk.saturating_add(CHUNK_SLACK).min(1 << 24));
            self.open = self.open && (self.sink)(text);
        }
    }
}

/// Room beyond a chunk for the run that overflows it.
const CHUNK_SLACK: usize = 64 * 1024;

/// Render like [`render`], handing the text to `sink` in chunks of about
/// `chunk` bytes as it goes (`/metrics` streams them: a scrape of 10,000
/// targets needs a few chunks of memory, not the whole 50+ MB). Stops
/// early when `sink` returns false.
pub fn render_chunks(
    inventory: &Inventory,
    stats: Option<&ExporterStats>,
    only: Option<&Arc<TargetState>>,
    format: Format,
    chunk: usize,
    sink: impl FnMut(String) -> bool,
) {
    let targets: Vec<&TargetState> = match only {
        Some(t) => vec![t.as_ref()],
        None => inventory.targets.iter().map(|t| t.as_ref()).collect(),
    };
    let syslog_on = stats.is_some_and(|s| s.syslog.enabled.load(Ordering::Relaxed));
    // Take each collector's status once (a lock held for a clone of an Arc).
    let views: Vec<TargetView<'_>> = targets
        .iter()
        .map(|t| {
            let (collectors, poll_lines) = t
                .collectors
                .iter()
                .map(|c| c.view(|st| poll_lines(&t.prefix, c, st)))
                .unzip();
            let syslog = if syslog_on {
                let mut s = crate::exposition::Samples::new();
                t.syslog.samples(&mut s);
                Rendered::new(&t.prefix, &s.into_vec())
            } else {
                Rendered::default()
            };
            TargetView {
                state: t,
                collectors,
                poll_lines,
                syslog,
            }
        })
        .collect();
    let total = 4096
        + views
            .iter()
            .map(|v| {
                let data: usize = v.collectors.iter().map(|c| c.data.len()).sum();
                let poll: usize = v.poll_lines.iter().map(|l| l.len()).sum();
                data + poll + v.state.prefix.len() + 32
            })
            .sum::<usize>();
    let mut buf = String::with_capacity(total.min(chunk.saturating_add(CHUNK_SLACK)));
    let mut out = Out {
        enc: Encoder::new(&mut buf, format),
        chunk,
        sink,
        open: true,
    };
    if let Some(stats) = stats {
        render_self(&mut out.enc, stats, inventory.targets.len());
    }
    render_poll_metrics(&mut out, &views);
    render_data(&mut out, &views);
    let Out {
        enc,
        mut sink,
        open,
        ..
    } = out;
    enc.finish();
    if open && !buf.is_empty() {
        sink(buf);
    }
}

fn render_self(enc: &mut Encoder<'_>, stats: &ExporterStats, targets: usize) {
    let mut labels = String::new();
    crate::exposition::push_label(&mut labels, "version", crate::version::VERSION);
    crate::exposition::push_label(&mut labels, "revision", crate::version::REVISION);
    let r = Ordering::Relaxed;
    enc.family(&BUILD_INFO);
    enc.series("", &labels, 1.0);
    let simple: [(&'static Desc, f64); 9] = [
        (&TARGETS, targets as f64),
        (&IN_FLIGHT, stats.polls_in_flight.load(r) as f64),
        (&POLL_TASKS, stats.poll_tasks.load(r) as f64),
        (&POLLS, stats.polls.load(r) as f64),
        (&SKIPPED, stats.polls_skipped.load(r) as f64),
        (&RELOAD_OK, stats.reload_ok.load(r) as f64),
        (&RELOAD_TIME, stats.reload_success_time.load(r) as f64),
        (&RELOAD_FAILURES, stats.reload_failures.load(r) as f64),
        (
            &CONNECTIONS_LIMITED,
            stats.http_connections_limited.load(r) as f64,
        ),
    ];
    for (desc, value) in simple {
        enc.family(desc);
        enc.series("", "", value);
    }
    let advisories = stats
        .advisories
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(a) = advisories {
        let mut labels = String::new();
        crate::exposition::push_label(&mut labels, "catalog_version", &a.catalog_version);
        enc.family(&ADVISORIES_INFO);
        enc.series("", &labels, 1.0);
        enc.family(&ADVISORIES_UPDATED);
        enc.series("", "", a.updated.unix_seconds() as f64);
    }
    for (desc, value) in crate::process::read().samples() {
        enc.family(desc);
        enc.series("", "", value);
    }
    let mut syslog = crate::exposition::Samples::new();
    stats.syslog.samples(&mut syslog);
    let mut last = None;
    for s in syslog.series() {
        if last != Some(s.desc.name) {
            enc.family(s.desc);
            last = Some(s.desc.name);
        }
        enc.series("", &s.labels, s.value);
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn render_poll_metrics<F: FnMut(String) -> bool>(out: &mut Out<'_, F>, views: &[TargetView<'_>]) {
    out.enc.family(&UP);
    for v in views {
        let polled: Vec<_> = v
            .collectors
            .iter()
            .filter_map(|c| c.last.as_ref())
            .collect();
        if polled.is_empty() {
            continue;
        }
        // Collectors that have not polled yet (just started) do not count.
        let up = polled.iter().all(|o| o.result.is_ok());
        out.enc
            .series(&v.state.prefix, "", if up { 1.0 } else { 0.0 });
        out.flush();
    }
    out.enc.family(&CERT_EXPIRY);
    for v in views {
        if let Some(t) = v.state.certificate.not_after() {
            out.enc.series(&v.state.prefix, "", t as f64);
        }
    }
    out.flush();
    for desc in [
        &COLLECTOR_SUCCESS,
        &COLLECTOR_DURATION,
        &COLLECTOR_LAST_SUCCESS,
        &COLLECTOR_FAILURES,
        &COLLECTOR_ERRORS,
    ] {
        if !out.open {
            return;
        }
        out.enc.family(desc);
        for v in views {
            for lines in &v.poll_lines {
                for (d, text) in lines.runs() {
                    if std::ptr::eq(d, desc) {
                        out.enc.lines(text);
                    }
                }
            }
            out.flush();
        }
    }
}

/// A collector's poll metrics as sample lines (none before its first poll).
fn poll_lines(prefix: &str, slot: &CollectorSlot, c: &CollectorStatus) -> Rendered {
    let Some(last) = &c.last else {
        return Rendered::default();
    };
    let label = &slot.label;
    let series = |desc: &'static Desc, labels: &str, value: f64| Series {
        desc,
        labels: labels.into(),
        value,
    };
    let mut s = vec![
        series(
            &COLLECTOR_SUCCESS,
            label,
            if last.result.is_ok() { 1.0 } else { 0.0 },
        ),
        series(&COLLECTOR_DURATION, label, last.duration.as_secs_f64()),
    ];
    if let Some(t) = c.last_success {
        s.push(series(&COLLECTOR_LAST_SUCCESS, label, unix(t)));
    }
    s.push(series(
        &COLLECTOR_FAILURES,
        label,
        c.consecutive_failures as f64,
    ));
    for (reason, &n) in Reason::ALL.iter().zip(&c.errors) {
        if n > 0 {
            let mut labels = label.to_string();
            crate::exposition::push_label(&mut labels, "reason", reason.label());
            s.push(series(&COLLECTOR_ERRORS, &labels, n as f64));
        }
    }
    Rendered::new(prefix, &s)
}

/// A family and its runs of sample lines, one or more per target.
type FamilyRuns<'a> = (&'static Desc, Vec<&'a str>);

fn render_data<F: FnMut(String) -> bool>(out: &mut Out<'_, F>, views: &[TargetView<'_>]) {
    // Group by family across targets, keyed by the descriptor's address
    // (no string hashing); each run was rendered when it was polled.
    let mut index: HashMap<*const Desc, usize> = HashMap::new();
    let mut groups: Vec<FamilyRuns<'_>> = Vec::new();
    for v in views {
        let runs = v.collectors.iter().flat_map(|st| st.data.runs());
        for (desc, lines) in runs.chain(v.syslog.runs()) {
            {
                let i = *index.entry(desc as *const Desc).or_insert_with(|| {
                    groups.push((desc, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push(lines);
            }
        }
    }
    groups.sort_by_key(|(d, _)| d.name);
    for (desc, runs) in groups {
        if !out.open {
            return;
        }
        out.enc.family(desc);
        for lines in runs {
            out.enc.lines(lines);
            out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::error::CollectError;
    use crate::exposition::Samples;
    use crate::kinds::ics::{active_users, cluster, healthcheck, system_information};
    use crate::store::PollOutcome;
    use std::time::Duration;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/ics/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// A fixed state: one healthy appliance (vendor payloads, hostile static
    /// label) and one whose collectors failed.
    fn inventory() -> Inventory {
        let config = Config::from_yaml(
            "defaults:\n  collectors: [healthcheck, active_users, cluster, system_information]\n  api_key: k\ntargets:\n  - name: vpn-fra-1\n    url: https://vpn-fra-1.example.net\n    labels: { site: \"Frankfurt \\\"A\\\" \\\\ ü\\nrack\" }\n  - name: vpn-nyc-1\n    url: https://vpn-nyc-1.example.net\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ok = |d| PollOutcome {
            result: Ok(()),
            duration: Duration::from_millis(d),
            at,
        };
        let healthy = Arc::new(TargetState::new(config.targets[0].clone()));
        // 2033-05-18T03:33:20Z: the leaf presented at its last handshake.
        healthy.certificate.set(2_000_000_000);
        let mut s = Samples::new();
        let status =
            healthcheck::parse_status(&fixture("api/v1/system/healthcheck__status=all.json"))
                .unwrap();
        healthcheck::samples(true, Some(&status), Some(1.0), &mut s);
        healthy.record(0, ok(12), s.into_vec(), 3);
        let mut s = Samples::new();
        let raw = fixture("api/v1/system/active-users.json");
        let page = active_users::parse(&raw).unwrap();
        let mut b = active_users::Breakdown::default();
        b.add(page.records);
        active_users::samples(page.total_matched, page.user_login_permission, &b, &mut s);
        healthy.record(1, ok(30), s.into_vec(), 3);
        let mut s = Samples::new();
        let c = cluster::parse(&fixture("api/v1/cluster__active-passive.json"))
            .unwrap()
            .unwrap();
        cluster::samples(&c, &mut s);
        healthy.record(2, ok(8), s.into_vec(), 3);
        // The guide's 9.1R7/6087 with rollback 9.1R6/5801 (seed 000), judged
        // against the built-in advisory data on a fixed day.
        let mut s = Samples::new();
        let info =
            system_information::parse(&fixture("api/v1/system/system-information.json")).unwrap();
        let db = crate::advisories::Advisories::builtin();
        let posture = system_information::Posture {
            advisories: &db,
            product: crate::advisories::Product::Ics,
            today: crate::advisories::Date::parse("2026-12-05").unwrap(),
        };
        system_information::samples(&info, &posture, &mut s);
        healthy.record(3, ok(20), s.into_vec(), 3);
        let failing = Arc::new(TargetState::new(config.targets[1].clone()));
        for (i, e) in [
            CollectError::Timeout("x".into()),
            CollectError::Auth("x".into()),
            CollectError::Parse(crate::error::ParseError::Html),
        ]
        .into_iter()
        .enumerate()
        {
            failing.record(
                i,
                PollOutcome {
                    result: Err(e),
                    duration: Duration::from_secs(1),
                    at,
                },
                Vec::new(),
                3,
            );
        }
        Inventory::new(vec![healthy, failing])
    }

    fn golden(name: &str, actual: &str) {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            expected == actual,
            "{name} differs from the golden file (UPDATE_GOLDEN=1 to rewrite):\n{actual}"
        );
    }

    #[test]
    fn golden_expositions() {
        let inv = inventory();
        golden("fleet.prom", &render(&inv, None, None, Format::Text));
        golden(
            "fleet.openmetrics",
            &render(&inv, None, None, Format::OpenMetrics),
        );
        let probe = render(&inv, None, inv.get("vpn-nyc-1"), Format::Text);
        assert!(probe.contains("ivanti_up{target=\"vpn-nyc-1\"} 0"));
        assert!(!probe.contains("vpn-fra-1"));
    }

    #[test]
    fn chunks_add_up_to_the_whole_exposition_and_stop_when_refused() {
        let inv = inventory();
        for format in [Format::Text, Format::OpenMetrics] {
            let whole = render(&inv, None, None, format);
            let mut chunks = Vec::new();
            render_chunks(&inv, None, None, format, 200, |c| {
                chunks.push(c);
                true
            });
            assert!(chunks.len() > 3, "{} chunks", chunks.len());
            assert_eq!(chunks.concat(), whole);
            let mut taken = 0;
            render_chunks(&inv, None, None, format, 200, |_| {
                taken += 1;
                false
            });
            assert_eq!(taken, 1, "rendering goes on after the scraper left");
        }
    }
}

//! Micro-benchmarks of the hot paths (`cargo bench`): parsing a
//! 20,000-record active-users page, rendering /metrics for 10,000 cached
//! targets (and the same series encoded by prometheus-client, the measure
//! behind README's "Why the hot path has its own pieces"), gzipping it at
//! the level the router uses and at the default, and the landing page (`/`)
//! for the same 10,000.

#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ivanti_exporter::config::Config;
use ivanti_exporter::exposition::{Format, MetricType, Samples, Series};
use ivanti_exporter::kinds::ics::{active_users, cluster, healthcheck, system_information};
use ivanti_exporter::store::{Inventory, PollOutcome, TargetState};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn active_users_page(n: usize) -> Vec<u8> {
    let records: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let realm = ["Users", "Contractors", "Partners"][i % 3];
            let node = ["node-a", "node-b"][i % 2];
            let transport = ["ESP", "SSL", "ESP"][i % 3];
            serde_json::json!({
                "active-user-name": format!("user{i:05}"),
                "agent-type": "Windows 10 Pulse Secure",
                "authentication-realm": realm,
                "endpoint-security-status": "Not Applicable\nPassed Policies: \nFailed Policies: \nEliminated Roles: ",
                "events": 0,
                "login-node": node,
                "network-connect-ip": format!("10.0.{}.{}", i / 250 % 250, i % 250),
                "network-connect-transport-mode": transport,
                "session-id": format!("sid{i:048x}"),
                "pulse-client-version": "22.7.2.3191",
                "user-roles": "Users",
                "user-sign-in-time": "2026/11/24 08:00:00",
            })
        })
        .collect();
    serde_json::json!({ "active-users": {
        "active-user-records": { "active-user-record": records },
        "total-matched-record-number": n, "total-returned-record-number": n,
        "is-last-record": true, "user-login-permission": true } })
    .to_string()
    .into_bytes()
}

fn bench_parse(c: &mut Criterion) {
    let body = active_users_page(20_000);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("active_users_20000_records", |b| {
        b.iter(|| {
            let page = active_users::parse(&body).unwrap();
            let mut bd = active_users::Breakdown::default();
            bd.add(page.records);
            let mut out = Samples::new();
            active_users::samples(
                page.total_matched,
                page.user_login_permission,
                &bd,
                &mut out,
            );
            out
        })
    });
    g.finish();
}

/// 10,000 targets' configuration.
fn config(n: usize) -> Config {
    let mut yaml = String::from("defaults:\n  api_key: k\ntargets:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - name: vpn-{i:05}\n    url: https://10.{}.{}.{}\n    labels: {{ site: site-{} }}\n",
            i / 65536 % 256,
            i / 256 % 256,
            i % 256,
            i % 20
        ));
    }
    Config::from_yaml(&yaml, std::path::Path::new(".")).unwrap()
}

/// A realistic set of series (~80) for each of a target's five collectors.
fn collector_series() -> Vec<Vec<Series>> {
    let status = healthcheck::parse_status(br#"{"CPU-UTILIZATION": 12, "SWAP-UTILIZATION": 1, "DISK-UTILIZATION": 40, "USER-COUNT": 95, "VPN-TUNNEL-COUNT": 80, "SSL-CONNECTION-COUNT": 30, "MAX-LICENSED-USERS-REACHED": "NO"}"#).unwrap();
    let page = active_users_page(100);
    let users = active_users::parse(&page).unwrap();
    let cl = cluster::parse(include_bytes!(
        "../tests/fixtures/ics/api/v1/cluster__active-passive.json"
    ))
    .unwrap()
    .unwrap();
    let sys = system_information::parse(include_bytes!(
        "../tests/fixtures/ics/api/v1/system/system-information.json"
    ))
    .unwrap();
    let mut out = Vec::new();
    let mut s = Samples::new();
    healthcheck::samples(true, Some(&status), Some(1.0), &mut s);
    out.push(s.into_vec());
    let mut s = Samples::new();
    let mut bd = active_users::Breakdown::default();
    bd.add(users.records.clone());
    active_users::samples(users.total_matched, Some(true), &bd, &mut s);
    out.push(s.into_vec());
    let mut s = Samples::new();
    cluster::samples(&cl, &mut s);
    out.push(s.into_vec());
    out.push(Vec::new());
    let mut s = Samples::new();
    let db = ivanti_exporter::advisories::Advisories::builtin();
    let posture = system_information::Posture {
        advisories: &db,
        product: ivanti_exporter::advisories::Product::Ics,
        today: ivanti_exporter::advisories::Date::today(),
    };
    system_information::samples(&sys, &posture, &mut s);
    out.push(s.into_vec());
    out
}

/// 10,000 targets, each with a realistic set of series (~80).
fn inventory(n: usize) -> Inventory {
    let config = config(n);
    let at = SystemTime::now();
    let ok = || PollOutcome {
        result: Ok(()),
        duration: Duration::from_millis(20),
        at,
    };
    let series = collector_series();
    let targets = config
        .targets
        .iter()
        .map(|t| {
            let st = Arc::new(TargetState::new(t.clone()));
            for (i, s) in series.iter().enumerate() {
                st.record(i, ok(), s.clone(), 3);
            }
            st
        })
        .collect();
    Inventory::new(targets)
}

fn bench_render(c: &mut Criterion) {
    let inv = inventory(10_000);
    let size = ivanti_exporter::render::render(&inv, None, None, Format::Text).len();
    eprintln!("/metrics for 10,000 targets: {size} bytes");
    let mut g = c.benchmark_group("render");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(size as u64));
    g.bench_function("metrics_10000_targets_text", |b| {
        b.iter(|| ivanti_exporter::render::render(&inv, None, None, Format::Text))
    });
    g.bench_function("metrics_10000_targets_openmetrics", |b| {
        b.iter(|| ivanti_exporter::render::render(&inv, None, None, Format::OpenMetrics))
    });
    // The same series in a prometheus-client registry (a family per metric,
    // the target's labels in each label set), encoded in the same 0.0.4
    // text format.
    let registry = prometheus_client_registry(&config(10_000), &collector_series());
    let mut theirs = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut theirs, &registry).unwrap();
    eprintln!("prometheus-client, the same series: {} bytes", theirs.len());
    g.bench_function("metrics_10000_targets_prometheus_client_text", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(theirs.len());
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
            out
        })
    });
    g.finish();
}

/// Every data series of `inv` (the targets' collector series) in a
/// prometheus-client registry: what the exporter would hold if it kept its
/// series in prometheus-client's families instead of pre-rendered text.
fn prometheus_client_registry(
    config: &Config,
    series: &[Vec<Series>],
) -> prometheus_client::registry::Registry {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicU64;
    type Labels = Vec<(String, String)>;
    type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;
    type Counters = Family<Labels, Counter<f64, AtomicU64>>;
    let mut gauges: BTreeMap<&'static str, (&'static str, Gauges)> = BTreeMap::new();
    let mut counters: BTreeMap<&'static str, (&'static str, Counters)> = BTreeMap::new();
    for t in &config.targets {
        let mut own = vec![("target".to_owned(), t.name.clone())];
        own.extend(t.labels.iter().cloned());
        for collector in series {
            for s in collector {
                let mut labels = own.clone();
                labels.extend(parse_labels(&s.labels));
                match s.desc.metric_type {
                    MetricType::Gauge => {
                        let (_, f) = gauges
                            .entry(s.desc.name)
                            .or_insert((s.desc.help, Gauges::default()));
                        f.get_or_create(&labels).set(s.value);
                    }
                    MetricType::Counter => {
                        let (_, f) = counters
                            .entry(s.desc.name)
                            .or_insert((s.desc.help, Counters::default()));
                        f.get_or_create(&labels).inc_by(s.value);
                    }
                }
            }
        }
    }
    let mut r = prometheus_client::registry::Registry::default();
    for (name, (help, f)) in gauges {
        r.register(name, help, f);
    }
    for (name, (help, f)) in counters {
        // prometheus-client appends `_total` itself.
        r.register(name.trim_end_matches("_total"), help, f);
    }
    r
}

/// `a="x",b="y \"z\""` (escaped, as stored) back into pairs.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((name, tail)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = tail.char_indices();
        let mut end = tail.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((name.trim_start_matches(',').to_owned(), value));
        rest = &tail[end..];
    }
    out
}

/// gzip of the 10,000-target /metrics at the level the router uses
/// (fastest, 1) and at the default (6), with the sizes printed first.
fn bench_gzip(c: &mut Criterion) {
    use std::io::Write as _;
    let inv = inventory(10_000);
    let body = ivanti_exporter::render::render(&inv, None, None, Format::Text);
    let gzip = |level: flate2::Compression| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), level);
        // In the router's chunk size: the body is streamed 1 MiB at a time.
        for chunk in body.as_bytes().chunks(1 << 20) {
            gz.write_all(chunk).unwrap();
        }
        gz.finish().unwrap()
    };
    for (name, level) in [
        ("fastest (1)", flate2::Compression::fast()),
        ("default (6)", flate2::Compression::default()),
    ] {
        eprintln!(
            "/metrics gzip {name}: {} of {} bytes",
            gzip(level).len(),
            body.len()
        );
    }
    let mut g = c.benchmark_group("gzip");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("metrics_10000_targets_fastest", |b| {
        b.iter(|| gzip(flate2::Compression::fast()))
    });
    g.bench_function("metrics_10000_targets_default", |b| {
        b.iter(|| gzip(flate2::Compression::default()))
    });
    g.finish();
}

/// The landing page for the 10,000 targets, 1 % of them failing (its size
/// plain and gzipped, as the router sends it to a browser, printed first).
fn bench_landing(c: &mut Criterion) {
    use ivanti_exporter::landing::{render, Selection};
    use std::io::Write as _;
    let inv = inventory(10_000);
    for t in inv.targets.iter().step_by(100) {
        let e = ivanti_exporter::error::CollectError::Timeout("no answer within 5s".into());
        let failed = PollOutcome {
            result: Err(e),
            duration: Duration::from_secs(5),
            at: SystemTime::now(),
        };
        for i in 0..t.collectors.len() {
            t.record(i, failed.clone(), Vec::new(), 3);
        }
    }
    let all = Selection::default();
    let page = render(&inv, SystemTime::now(), "", "/metrics", &all);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(page.as_bytes()).unwrap();
    let zipped = gz.finish().unwrap().len();
    eprintln!(
        "landing page for 10,000 targets: {} bytes, {zipped} gzipped",
        page.len()
    );
    let mut g = c.benchmark_group("landing");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(page.len() as u64));
    g.bench_function("landing_10000_targets", |b| {
        b.iter(|| render(&inv, SystemTime::now(), "", "/metrics", &all))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_render,
    bench_gzip,
    bench_landing
);
criterion_main!(benches);

//! Micro-benchmarks of the hot paths (`cargo bench`): parsing a
//! 20,000-record active-users page, rendering /metrics for 10,000 cached
//! targets, and the landing page (`/`) for the same 10,000.

#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ivanti_exporter::config::Config;
use ivanti_exporter::exposition::{Format, Samples};
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

/// 10,000 targets, each with a realistic set of series (~80).
fn inventory(n: usize) -> Inventory {
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
    let config = Config::from_yaml(&yaml, std::path::Path::new(".")).unwrap();
    let at = SystemTime::now();
    let ok = || PollOutcome {
        result: Ok(()),
        duration: Duration::from_millis(20),
        at,
    };
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
    let targets = config
        .targets
        .iter()
        .map(|t| {
            let st = Arc::new(TargetState::new(t.clone()));
            let mut s = Samples::new();
            healthcheck::samples(true, Some(&status), Some(1.0), &mut s);
            st.record(0, ok(), s.into_vec(), 3);
            let mut s = Samples::new();
            let mut bd = active_users::Breakdown::default();
            bd.add(users.records.clone());
            active_users::samples(users.total_matched, Some(true), &bd, &mut s);
            st.record(1, ok(), s.into_vec(), 3);
            let mut s = Samples::new();
            cluster::samples(&cl, &mut s);
            st.record(2, ok(), s.into_vec(), 3);
            st.record(3, ok(), Vec::new(), 3);
            let mut s = Samples::new();
            let db = ivanti_exporter::advisories::Advisories::builtin();
            let posture = system_information::Posture {
                advisories: &db,
                product: ivanti_exporter::advisories::Product::Ics,
                today: ivanti_exporter::advisories::Date::today(),
            };
            system_information::samples(&sys, &posture, &mut s);
            st.record(4, ok(), s.into_vec(), 3);
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

criterion_group!(benches, bench_parse, bench_render, bench_landing);
criterion_main!(benches);

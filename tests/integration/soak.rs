//! The one-minute soak that runs in CI (the long one is
//! `benches/load.py --faults ratio=0.2`, docs/reliability.md): a fifth of
//! the fleet cycles through faults while the rest must stay polled on time,
//! the process must not leak descriptors, and every fault class is seen.

use crate::helpers::*;
use ivanti_exporter::sim::Fault;
use std::time::{Duration, Instant, SystemTime};

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_minute_soak_under_faults() {
    let n = 100;
    // The five collectors this soak has always run, each every 2 s (the
    // later defaults, license_capacity and ntp, poll every 1 and 5 minutes
    // and would read as late here).
    let (fleet, exp) = fleet_and_exporter(
        n,
        "  interval: 2s\n  timeout: 1s\n  body_size_limit: 1MiB\n  collectors: [healthcheck, active_users, cluster, license, system_information]\n  collector_intervals: { license: 2s, system_information: 2s }\n",
        |_| String::new(),
    )
    .await;
    let cycle = [
        Fault::Hang,
        Fault::Refuse,
        Fault::Flap(Duration::from_millis(1500)),
        Fault::Unauthorized,
        Fault::ServerError,
        Fault::ServiceUnavailable,
        Fault::HtmlLogin,
        Fault::BrokenJson,
        Fault::HugeBody,
        Fault::TruncatedBody,
        Fault::Latency(Duration::from_millis(300)),
    ];
    let faulty: Vec<usize> = (0..n).filter(|i| i % 5 == 4).collect();
    let healthy: Vec<String> = (0..n)
        .filter(|i| i % 5 != 4)
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    let start = Instant::now();
    let mut epoch = 0;
    let (mut fd0, mut rss0) = (0, 0);
    let mut late = Vec::new();
    while start.elapsed() < Duration::from_secs(60) {
        for (k, &i) in faulty.iter().enumerate() {
            fleet
                .appliance(i)
                .set_fault(cycle[(k + epoch) % cycle.len()].clone());
        }
        epoch += 1;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let m = exp.metrics().await;
        if start.elapsed() < Duration::from_secs(15) {
            (fd0, rss0) = (fds(exp.pid()), rss_kib(exp.pid()));
            continue;
        }
        // Healthy appliances: every collector succeeded within the last 2 intervals (+1 s).
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        for t in &healthy {
            for s in m.find(
                "ivanti_collector_last_success_timestamp_seconds",
                &[("target", t)],
            ) {
                if now - s.value > 5.0 {
                    late.push(format!(
                        "{t}/{} {:.1}s old",
                        s.labels["collector"],
                        now - s.value
                    ));
                }
            }
        }
    }
    assert!(
        late.is_empty(),
        "healthy appliances polled late:\n{}",
        late.join("\n")
    );
    let (fd1, rss1) = (fds(exp.pid()), rss_kib(exp.pid()));
    eprintln!("soak: fds {fd0} -> {fd1}, RSS {rss0} -> {rss1} KiB");
    assert!(
        fd1 as f64 <= fd0 as f64 * 1.1 + 5.0,
        "descriptors grew: {fd0} -> {fd1}"
    );
    assert!(
        rss1 as f64 <= rss0 as f64 * 1.5,
        "RSS grew: {rss0} -> {rss1} KiB"
    );
    let m = exp.metrics().await;
    for reason in ["timeout", "connect", "auth", "http", "parse", "too_large"] {
        let total: f64 = m
            .find("ivanti_collector_errors_total", &[("reason", reason)])
            .iter()
            .map(|s| s.value)
            .sum();
        assert!(total > 0.0, "no {reason} errors seen");
    }
    let (status, _, _) = exp.get("/-/healthy").await;
    assert_eq!(status, 200, "exporter alive");
}

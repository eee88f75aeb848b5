//! End to end with the real things: Debian's `prometheus` scrapes the real
//! exporter polling the simulator, evaluates the shipped rules and sends
//! alerts to a real `prometheus-alertmanager`, which posts them to a webhook
//! receiver here. Checks that every dashboard query returns data, and that
//! injected faults fire the matching alerts, which clear when the fault goes.

use crate::helpers::*;
use ivanti_exporter::sim::{Fault, Fleet, FleetOptions, SimKind};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A daemon stopped when the test ends ([`ChildGuard`]); its log shown with `TEST_LOG=1`.
fn spawn(cmd: &mut Command) -> ChildGuard {
    let echo = std::env::var_os("TEST_LOG").is_some();
    ChildGuard::spawn(cmd.stdout(Stdio::null()).stderr(if echo {
        Stdio::inherit()
    } else {
        Stdio::null()
    }))
}

/// The shipped rules with durations shortened for a test that lasts seconds.
fn fast_rules() -> String {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/ivanti-exporter.rules.yml"
    ))
    .unwrap();
    let mut out = String::new();
    for line in rules.lines() {
        let t = line.trim_start();
        if t.starts_with("for: ") {
            out.push_str(&line.replace(t, "for: 3s"));
        } else {
            out.push_str(&line.replace("[10m]", "[20s]"));
        }
        out.push('\n');
    }
    out
}

async fn query(http: &reqwest::Client, prom: &str, expr: &str) -> Result<Vec<Value>, String> {
    let url = format!("{prom}/api/v1/query?query={}", urlencode(expr));
    let body = http
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    if v["status"] != "success" {
        return Err(format!("{v}"));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// Every `expr` of every panel (rows included) of a Grafana dashboard.
fn dashboard_exprs(v: &Value, out: &mut Vec<(String, String)>) {
    if let Some(panels) = v.get("panels").and_then(Value::as_array) {
        for p in panels {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            for t in p
                .get("targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(e) = t.get("expr").and_then(Value::as_str) {
                    out.push((title.clone(), e.to_owned()));
                }
            }
            dashboard_exprs(p, out);
        }
    }
}

fn substitute(expr: &str) -> String {
    expr.replace("${datasource}", "")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "5m")
        .replace("${job}", "ivanti")
        .replace("$job", "ivanti")
        .replace("${target}", ".+")
        .replace("$target", ".+")
        .replace("${cluster_name}", ".+")
        .replace("$cluster_name", ".+")
        .replace("${site}", ".+")
        .replace("$site", ".+")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: real Prometheus and Alertmanager"]
async fn prometheus_dashboards_and_alertmanager_end_to_end() {
    // Alerts must fire within their `for:`: not beside the load tests.
    let _turn = heavy().await;
    if !tool_available("prometheus", Command::new("prometheus").arg("--version"))
        || !tool_available(
            "prometheus-alertmanager",
            Command::new("prometheus-alertmanager").arg("--version"),
        )
    {
        return;
    }
    // Fleet: 0,1 stand-alone; 2 Active/Passive cluster; 3 Active/Active;
    // 4 license server; 5 old firmware; 6 fails from the start so the error
    // panels have data; 7 an SPS, 8 an EPMM, 9 a Security Controls console
    // (one target of every kind).
    let fleet = Fleet::start(FleetOptions {
        appliances: 10,
        kinds: vec![SimKind::Sps, SimKind::Epmm, SimKind::Isec],
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let exp_dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, exp_dir.path());
    let config = config_for(
        &fleet,
        &ca,
        "  collector_intervals: { license: 1s, system_information: 1s, devices: 1s, device_spaces: 1s, console: 1s, inventory: 1s }\n",
        |i| match i {
            7 => "    kind: sps\n    basic_auth: { username: monitor, password: sim-Passw0rd! }\n".into(),
            8 => "    kind: epmm\n    basic_auth: { username: monitor, password: sim-Passw0rd! }\n".into(),
            9 => "    kind: isec\n    basic_auth: { username: 'SIM\\monitor', password: sim-Passw0rd! }\n".into(),
            // Every ICS collector, the two off by default included, so the
            // host checker, clock and reboot panels have data.
            _ => "    collectors: [healthcheck, active_users, cluster, license, system_information, license_capacity, ntp, host_checker, status_overview]\n".into(),
        },
    );
    let exp = App::spawn_in(exp_dir, &config).await;
    fleet.appliance(6).set_fault(Fault::ServiceUnavailable);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Webhook receiver.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let hook = {
        let received = received.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let received = received.clone();
                async move {
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        received.lock().unwrap().push(v);
                    }
                    "ok"
                }
            }),
        )
    };
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = hook_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(hook_listener, hook).await });

    let am_port = free_port();
    std::fs::write(
        d.join("alertmanager.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, target, cluster_name, feature]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{hook_addr}/hook\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let _am = spawn(
        Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                d.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", d.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address="),
    );

    std::fs::write(d.join("rules.yml"), fast_rules()).unwrap();
    let prom_port = free_port();
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\nscrape_configs:\n  - job_name: ivanti\n    static_configs:\n      - targets: ['{}']\n",
            exp.addr
        ),
    )
    .unwrap();
    let _prom = spawn(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--rules.alert.resend-delay=1s"),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // Wait for data from every appliance and every collector (Prometheus
    // itself starts in seconds, or in a minute on a starved machine).
    let start = Instant::now();
    loop {
        let n = query(&http, &prom, "count(ivanti_collector_success)").await;
        let up = query(&http, &prom, "count(ivanti_system_info)").await;
        let others = query(
            &http,
            &prom,
            "count(ivanti_epmm_devices) + count(oneidentity_sps_cluster_node_up) + count(ivanti_isec_agents)",
        )
        .await;
        let ok = |r: &Result<Vec<Value>, String>, want: f64| {
            r.as_ref()
                .ok()
                .and_then(|v| v.first())
                .and_then(|s| s["value"][1].as_str())
                .and_then(|s| s.parse::<f64>().ok())
                .is_some_and(|x| x >= want)
        };
        if ok(&n, 42.0) && ok(&up, 6.0) && ok(&others, 5.0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "Prometheus got no data: {n:?}\n{}",
            exp.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let rate()/increase() windows fill.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // 1. Every dashboard panel's query returns data.
    let mut dashboards = 0;
    let mut empty = Vec::new();
    let mut checked = 0;
    let dir = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards"));
    for entry in dir.into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        dashboards += 1;
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut exprs = Vec::new();
        dashboard_exprs(&v, &mut exprs);
        assert!(!exprs.is_empty(), "{} has no queries", path.display());
        for (title, expr) in exprs {
            let q = substitute(&expr);
            checked += 1;
            match query(&http, &prom, &q).await {
                Ok(r) if !r.is_empty() => {}
                Ok(_) => empty.push(format!("{} / {title}: {q}", path.display())),
                Err(e) => empty.push(format!("{} / {title}: {q}: {e}", path.display())),
            }
        }
    }
    assert!(dashboards >= 7, "{dashboards} dashboards");
    assert!(
        empty.is_empty(),
        "{} of {checked} panel queries returned no data:\n{}",
        empty.len(),
        empty.join("\n")
    );

    // 2. Faults fire their alerts through Alertmanager, and clear.
    fleet.appliance(2).set_member_unreachable(true);
    fleet.appliance(4).set_licenses_exhausted(true);
    fleet.appliance(0).set_fault(Fault::Unauthorized);
    fleet.appliance(5).set_fault(Fault::Refuse);
    fleet.appliance(7).set_member_unreachable(true);
    fleet.appliance(8).set_fault(Fault::ServerError);
    fleet.appliance(9).set_fault(Fault::Hang);
    let expected: BTreeSet<&str> = [
        "IvantiClusterMemberUnreachable",
        "IvantiMaxLicensedUsersReached",
        "IvantiAuthenticationFailing",
        "IvantiApplianceDown",
        "SpsClusterNodeDown",
        "EpmmDown",
        "IsecConsoleDown",
    ]
    .into();
    let seen = |status: &str| -> BTreeSet<String> {
        received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["status"] == status)
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
            .collect()
    };
    let start = Instant::now();
    while !expected.iter().all(|a| seen("firing").contains(*a)) {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "alerts did not fire: missing {:?}, got {:?}",
            expected
                .iter()
                .filter(|a| !seen("firing").contains(**a))
                .collect::<Vec<_>>(),
            seen("firing")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Exact labels on two of them.
    let alerts: Vec<Value> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .collect();
    let find = |name: &str| {
        alerts
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .cloned()
            .unwrap()
    };
    let down = find("IvantiApplianceDown");
    assert_eq!(down["labels"]["target"], fleet.appliance(5).name());
    assert_eq!(down["labels"]["severity"], "critical");
    // The reason, from the annotation's query (a refused connection).
    assert_eq!(
        down["annotations"]["summary"],
        format!(
            "Appliance {} fails its healthcheck (connect)",
            fleet.appliance(5).name()
        )
    );
    assert!(down["annotations"]["runbook_url"]
        .as_str()
        .unwrap()
        .ends_with("runbook.md#ivantiappliancedown"));
    let auth = find("IvantiAuthenticationFailing");
    assert_eq!(auth["labels"]["target"], fleet.appliance(0).name());
    let member = find("IvantiClusterMemberUnreachable");
    assert_eq!(
        member["labels"]["member"],
        format!("{}-b", fleet.appliance(2).name())
    );

    // Remove the faults: every alert resolves.
    fleet.appliance(2).set_member_unreachable(false);
    fleet.appliance(4).set_licenses_exhausted(false);
    fleet.appliance(0).set_fault(Fault::None);
    fleet.appliance(5).set_fault(Fault::None);
    fleet.appliance(7).set_member_unreachable(false);
    fleet.appliance(8).set_fault(Fault::None);
    fleet.appliance(9).set_fault(Fault::None);
    let start = Instant::now();
    while !expected.iter().all(|a| seen("resolved").contains(*a)) {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "alerts did not resolve: {:?}",
            expected
                .iter()
                .filter(|a| !seen("resolved").contains(**a))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

//! Every fault class is classified under its reason, fails alone, and never
//! blocks the healthy appliances.

use crate::helpers::*;
use ivanti_exporter::sim::Fault;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_class_has_its_reason() {
    // (fault, collector to check, expected reason)
    let cases: Vec<(Fault, &str, &str)> = vec![
        (Fault::None, "", ""),
        (Fault::Hang, "system_information", "timeout"),
        (Fault::Refuse, "healthcheck", "connect"),
        (Fault::Unauthorized, "system_information", "auth"),
        (Fault::Forbidden, "cluster", "auth"),
        (Fault::ServerError, "system_information", "http"),
        (Fault::ServiceUnavailable, "system_information", "http"),
        (Fault::Redirect, "system_information", "http"),
        (Fault::HtmlLogin, "system_information", "parse"),
        (Fault::BrokenJson, "system_information", "parse"),
        (Fault::HugeBody, "system_information", "too_large"),
        (Fault::TruncatedBody, "system_information", "connect"),
    ];
    let n = cases.len() + 1; // + one target with an untrusted certificate
    let fleet = fleet(n).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    // Another CA than the fleet's: its chain is not trusted. (A target's
    // own `tls_config: {}` would now inherit the defaults' ca_file.)
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(
        &other_ca,
        rcgen::generate_simple_self_signed(vec!["other-ca.example".to_owned()])
            .unwrap()
            .cert
            .pem(),
    )
    .unwrap();
    let config = config_for(&fleet, &ca, "  body_size_limit: 1MiB\n", |i| {
        if i == n - 1 {
            format!("    tls_config: {{ ca_file: {} }}\n", other_ca.display())
        } else {
            String::new()
        }
    });
    for (i, (fault, _, _)) in cases.iter().enumerate() {
        fleet.appliance(i).set_fault(fault.clone());
    }
    let exp = Exporter::start_in(dir, &config, &[]);
    let name = |i: usize| fleet.appliance(i).name().to_owned();
    let healthy = name(0);
    let m = exp
        .wait_for("every fault classified", Duration::from_secs(30), |m| {
            cases
                .iter()
                .enumerate()
                .skip(1)
                .all(|(i, (_, c, r))| errors(m, &name(i), c, r) > 0.0)
                && errors(m, &name(n - 1), "healthcheck", "tls") > 0.0
                && up(m, &healthy)
        })
        .await;
    for (i, (fault, collector, _)) in cases.iter().enumerate().skip(1) {
        let t = name(i);
        assert_eq!(
            m.get("ivanti_up", &[("target", &t)]),
            Some(0.0),
            "{fault:?}"
        );
        assert_eq!(
            m.get(
                "ivanti_collector_success",
                &[("target", &t), ("collector", collector)]
            ),
            Some(0.0),
            "{fault:?}"
        );
    }
    // The healthy appliance kept being polled on time while the others failed.
    more_requests(fleet.appliance(0), 6).await;
    let logs = exp.logs();
    for reason in [
        "timeout",
        "connect",
        "tls",
        "auth",
        "http",
        "parse",
        "too_large",
    ] {
        assert!(
            logs.contains(&format!("\"reason\":\"{reason}\"")),
            "no log line for {reason}"
        );
    }
    assert!(
        logs.contains("HTML page instead of JSON") || logs.contains("got an HTML page"),
        "{logs}"
    );
    // The untrusted certificate is said in words, with the fix (issue 25).
    assert!(
        logs.contains("the certificate's issuer is not trusted: add the issuing CA to the system trust store or set tls_config.ca_file"),
        "{logs}"
    );
    // The redirect was not followed: nothing asked for the sign-in page.
    // (A redirected REST healthcheck is tried once more at the documented
    // pre-9.1R4 page, healthcheck.cgi, which is not where it pointed.)
    let redirected = cases
        .iter()
        .position(|(f, _, _)| *f == Fault::Redirect)
        .unwrap();
    let paths = fleet.appliance(redirected).stats().by_method_path;
    assert!(
        paths.keys().all(|(_, path)| path.starts_with("/api/")
            || path.starts_with("/dana-na/healthcheck/healthcheck.cgi")),
        "{paths:?}"
    );
    // The daemon is still fine.
    let (status, _, _) = exp.get("/-/healthy").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn series_of_a_dead_appliance_go_stale() {
    let (fleet, exp) = fleet_and_app(1, "", |_| String::new()).await;
    let t = fleet.appliance(0).name().to_owned();
    exp.wait_for("up", WAIT, |m| {
        up(m, &t) && m.has("ivanti_cpu_utilization_ratio", &[("target", &t)])
    })
    .await;
    fleet.appliance(0).set_fault(Fault::Refuse);
    // stale_after: 3 failed polls at 1s, then the data series are gone,
    // while the poll metrics stay and say why.
    let m = exp
        .wait_for("data series dropped", WAIT, |m| {
            !m.has("ivanti_cpu_utilization_ratio", &[("target", &t)])
                && !m.has("ivanti_system_info", &[("target", &t)])
        })
        .await;
    assert_eq!(m.get("ivanti_up", &[("target", &t)]), Some(0.0));
    assert!(
        m.get(
            "ivanti_collector_consecutive_failures",
            &[("target", &t), ("collector", "healthcheck")]
        )
        .unwrap()
            >= 3.0
    );
    assert!(m.has(
        "ivanti_collector_last_success_timestamp_seconds",
        &[("target", &t), ("collector", "healthcheck")]
    ));
    // And they come back when the appliance does.
    fleet.appliance(0).set_fault(Fault::None);
    exp.wait_for("recovered", WAIT, |m| {
        up(m, &t) && m.has("ivanti_cpu_utilization_ratio", &[("target", &t)])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_skip_verify_is_an_explicit_logged_opt_in() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    let config = format!(
        "defaults:\n  interval: 1s\n  timeout: 900ms\n  collectors: [healthcheck]\ntargets:\n  - name: {}\n    url: {}\n    tls_config: {{ insecure_skip_verify: true }}\n",
        a.name(),
        a.url()
    );
    let exp = Exporter::start(&config);
    exp.wait_for("up without a CA", WAIT, |m| up(m, a.name()))
        .await;
    assert!(exp.logs().contains("insecure_skip_verify is set"));
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_proxies_are_ignored() {
    // A trap posing as a proxy: the exporter must never connect to it.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", trap.local_addr().unwrap());
    let fleet = fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = config_for(&fleet, &ca, "", |_| String::new());
    std::fs::write(dir.path().join("config.yml"), &config).unwrap();
    let child = ChildGuard::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
            .arg("--config.file")
            .arg(dir.path().join("config.yml"))
            .args(["--web.listen-address", "127.0.0.1:0"])
            .env("HTTPS_PROXY", &proxy)
            .env("https_proxy", &proxy)
            .env("ALL_PROXY", &proxy)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .stderr(std::process::Stdio::null()),
    );
    let a = fleet.appliance(0);
    let start = std::time::Instant::now();
    while a.stats().requests < 5 && start.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(child);
    assert!(a.stats().requests >= 5, "the appliance was polled directly");
    let accepted = tokio::time::timeout(Duration::from_millis(200), trap.accept()).await;
    assert!(
        accepted.is_err(),
        "the exporter used HTTPS_PROXY from the environment"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_and_backoff_spare_a_sick_appliance() {
    // sim-001 answers 503 with Retry-After: 30; sim-002 answers 500 without one.
    let fleet = fleet(2).await;
    fleet.appliance(0).set_fault(Fault::ServiceUnavailable);
    fleet.appliance(1).set_fault(Fault::ServerError);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = config_for(&fleet, &ca, "  collectors: [cluster]\n", |_| String::new());
    let exp = Exporter::start_in(dir, &config, &[]);
    let (a, b) = (
        fleet.appliance(0).name().to_owned(),
        fleet.appliance(1).name().to_owned(),
    );
    let failures = |t: &str| -> Vec<serde_json::Value> {
        let logs = exp.logs();
        let mut all = events(&logs, "poll failed", t);
        all.extend(events(&logs, "poll failed again", t));
        all.retain(|v| v["collector"] == "cluster");
        all.sort_by_key(logged_at);
        all
    };
    let calls = |i: usize| {
        fleet
            .appliance(i)
            .stats()
            .by_method_path
            .get(&("GET".to_owned(), "/api/v1/cluster".to_owned()))
            .copied()
            .unwrap_or(0)
    };
    // Four failed polls of sim-002, backing off 1 s, 2 s, 4 s between them.
    eventually("four failed polls of the 500", WAIT, || {
        failures(&b).len() >= 4
    })
    .await;
    let b_failed = failures(&b);
    assert_spaced(&b_failed[..4], |i, _| Duration::from_secs(1 << (i - 1)));
    // Retry-After: 30 -> one request in these ~7 s, not seven.
    let first_a = logged_at(&failures(&a)[0]);
    let waited = logged_at(&b_failed[3])
        .duration_since(first_a)
        .unwrap_or_default();
    if waited < Duration::from_secs(29) {
        assert_eq!(calls(0), 1, "Retry-After was not honoured");
        assert_eq!(failures(&a).len(), 1);
    }
    // Both still show as failing.
    let m = exp.metrics().await;
    assert_eq!(m.get("ivanti_up", &[("target", &a)]), Some(0.0));
    assert_eq!(m.get("ivanti_up", &[("target", &b)]), Some(0.0));
}

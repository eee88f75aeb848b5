//! A healthy fleet: every collector's series appear with the right values and labels.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn healthy_fleet_publishes_every_collector() {
    let (fleet, exp) = fleet_and_app(3, "  labels: { env: test }\n", |i| {
        format!("    labels: {{ site: site-{i} }}\n")
    })
    .await;
    fleet.appliance(0).set_sessions(7);
    let names: Vec<String> = (0..3)
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    let m = exp
        .wait_for("every collector of every target polled", WAIT, |m| {
            names.iter().all(|n| {
                up(m, n) && m.find("ivanti_collector_success", &[("target", n)]).len() == 7
            })
        })
        .await;
    for (i, n) in names.iter().enumerate() {
        let t = [("target", n.as_str())];
        for c in [
            "healthcheck",
            "active_users",
            "cluster",
            "license",
            "system_information",
            // On by default (issue 22); the old-firmware appliance's NTP
            // answers 404: not applicable, a success with no series.
            "license_capacity",
            "ntp",
        ] {
            assert_eq!(
                m.get("ivanti_collector_success", &[t[0], ("collector", c)]),
                Some(1.0),
                "{n} {c}"
            );
            assert!(m
                .get(
                    "ivanti_collector_duration_seconds",
                    &[t[0], ("collector", c)]
                )
                .is_some());
            let ts = m
                .get(
                    "ivanti_collector_last_success_timestamp_seconds",
                    &[t[0], ("collector", c)],
                )
                .unwrap();
            assert!(ts > 1.7e9, "{ts}");
        }
        assert_eq!(m.get("ivanti_gateway_accessible", &t), Some(1.0));
        let cpu = m.get("ivanti_cpu_utilization_ratio", &t).expect("cpu");
        assert!((0.0..=1.0).contains(&cpu), "{cpu}");
        assert!(m.get("ivanti_signed_in_users", &t).is_some());
        assert!(m.get("ivanti_active_sessions", &t).is_some());
        assert!(m.has("ivanti_system_info", &t));
        // The simulator licenses twice its mean sessions (at least 10); its
        // first NTP server answers every poll within 2 ms.
        let allocated = m.get("ivanti_license_allocated_users", &t);
        assert!(allocated.is_some_and(|v| v >= 10.0), "{allocated:?}");
        assert_eq!(m.get("ivanti_ntp_synchronized", &t), Some(1.0));
        // Static labels: the target's own and the defaults', on every series.
        let site = format!("site-{i}");
        for s in m
            .samples
            .iter()
            .filter(|s| s.labels.get("target") == Some(n))
        {
            assert_eq!(s.labels.get("site"), Some(&site), "{s:?}");
            assert_eq!(
                s.labels.get("env").map(String::as_str),
                Some("test"),
                "{s:?}"
            );
        }
    }
    // Exact session figures for the appliance whose sessions we fixed.
    let m = exp
        .wait_for("7 sessions", WAIT, |m| {
            m.get("ivanti_active_sessions", &[("target", &names[0])]) == Some(7.0)
        })
        .await;
    let t0 = ("target", names[0].as_str());
    let by_realm: f64 = m
        .find("ivanti_active_sessions_by_realm", &[t0])
        .iter()
        .map(|s| s.value)
        .sum();
    let by_node: f64 = m
        .find("ivanti_active_sessions_by_node", &[t0])
        .iter()
        .map(|s| s.value)
        .sum();
    let by_transport: f64 = m
        .find("ivanti_active_sessions_by_transport", &[t0])
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!((by_realm, by_node, by_transport), (7.0, 7.0, 7.0));
    assert_eq!(
        m.get("ivanti_active_sessions_breakdown_records", &[t0]),
        Some(7.0)
    );
    // The exporter's own metrics.
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(3.0));
    assert_eq!(
        m.get("ivanti_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert!(m.has(
        "ivanti_exporter_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", ivanti_exporter::version::REVISION)
        ]
    ));
    // No user names or session ids anywhere.
    // (The simulator's session ids are `sid` and hex digits.)
    let sid = regex_free_sid(&m.text);
    assert!(sid.is_none(), "session id published: {sid:?}");
    // Only GETs and the login POST reached the appliances.
    for i in 0..3 {
        for ((method, path), _) in fleet.appliance(i).stats().by_method_path {
            assert!(
                method == "GET" || (method == "POST" && path == "/api/v1/realm_auth"),
                "{method} {path}"
            );
        }
    }
    // The landing page: every target up, one row each.
    let (_, _, page) = exp.get("/").await;
    assert!(page.contains("<a href=\"/?state=up\">3 up</a>"), "{page}");
    for n in &names {
        let row = format!("<tr class=up><td><a href=\"/probe?target={n}\">{n}</a>");
        assert_eq!(page.matches(&row).count(), 1, "{page}");
    }
    drop(exp);
    tokio::time::sleep(Duration::from_millis(10)).await;
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_request_in_flight_per_appliance_by_default() {
    let (fleet, exp) = fleet_and_app(2, "", |i| {
        if i == 1 {
            "    max_concurrent_requests: 3\n".into()
        } else {
            String::new()
        }
    })
    .await;
    for i in 0..2 {
        fleet
            .appliance(i)
            .set_fault(ivanti_exporter::sim::Fault::Latency(Duration::from_millis(
                150,
            )));
    }
    let n0 = fleet.appliance(0).name().to_owned();
    exp.wait_for("some polls", WAIT, |m| {
        m.find("ivanti_collector_success", &[("target", &n0)]).len() == 7
    })
    .await;
    // Answers take 150 ms: the second appliance's five collectors overlap
    // (up to its limit of 3), the first's never do.
    let b = fleet.appliance(1);
    eventually("overlapping requests to the second appliance", WAIT, || {
        b.stats().max_in_flight >= 2
    })
    .await;
    more_requests(fleet.appliance(0), 10).await;
    assert_eq!(
        fleet.appliance(0).stats().max_in_flight,
        1,
        "default is one request at a time"
    );
    let s1 = b.stats().max_in_flight;
    assert!(
        s1 <= 3,
        "max_concurrent_requests: 3 allows up to 3, saw {s1}"
    );
}

/// The first simulator session id (`sid` + 48 hex digits) in `text`.
fn regex_free_sid(text: &str) -> Option<&str> {
    text.match_indices("sid").find_map(|(i, _)| {
        let id = text.get(i..i + 51)?;
        id[3..].bytes().all(|b| b.is_ascii_hexdigit()).then_some(id)
    })
}

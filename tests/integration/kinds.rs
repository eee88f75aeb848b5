//! The neighbouring products (issue 6): one config mixing kinds, each
//! kind's own login flow against the simulator, and every fault class
//! classified for them as for Connect Secure.

use crate::helpers::*;
use ivanti_exporter::sim::{Fault, Fleet, FleetOptions, SimKind};
use std::time::Duration;

async fn mixed_fleet(kinds: Vec<SimKind>, ics: usize, ttl: Duration) -> Fleet {
    init();
    Fleet::start(FleetOptions {
        appliances: ics + kinds.len(),
        kinds,
        sps_session_ttl: ttl,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

/// The simulator's own config for the fleet, polled every second, in a temp dir.
fn config_for_kinds(fleet: &Fleet, extra_defaults: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(fleet, dir.path());
    let config = fleet
        .config_yaml(Some(&ca), Duration::from_secs(1))
        .replace(
            "defaults:\n",
            &format!(
                "global:\n  stale_after: 3\ndefaults:\n  collector_intervals: {{ devices: 1s, device_spaces: 1s, license: 1s, system_information: 1s, console: 1s, inventory: 1s }}\n{extra_defaults}"
            ),
        )
        .replace("timeout: 1s", "timeout: 900ms");
    (dir, config)
}

/// The exporter binary on [`config_for_kinds`] (for the tests that read its log).
fn exporter_for(fleet: &Fleet, extra_defaults: &str) -> Exporter {
    let (dir, config) = config_for_kinds(fleet, extra_defaults);
    Exporter::start_in(dir, &config, &[])
}

/// The daemon in-process on [`config_for_kinds`].
async fn app_for(fleet: &Fleet, extra_defaults: &str) -> App {
    let (dir, config) = config_for_kinds(fleet, extra_defaults);
    App::spawn_in(dir, &config).await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_config_mixing_kinds_publishes_every_kind() {
    let fleet = mixed_fleet(
        vec![SimKind::Sps, SimKind::Epmm, SimKind::Isec],
        1,
        Duration::from_secs(1200),
    )
    .await;
    let exp = app_for(&fleet, "").await;
    let (ics, sps, epmm, isec) = (
        fleet.appliance(0).name().to_owned(),
        fleet.appliance(1).name().to_owned(),
        fleet.appliance(2).name().to_owned(),
        fleet.appliance(3).name().to_owned(),
    );
    let m = exp
        .wait_for("every kind up with its data", WAIT, |m| {
            [&ics, &sps, &epmm, &isec].iter().all(|t| up(m, t))
                && m.has("oneidentity_sps_cluster_node_up", &[("target", &sps)])
                && m.has("ivanti_epmm_devices_noncompliant", &[("target", &epmm)])
                && m.has("ivanti_epmm_device_space_devices", &[("target", &epmm)])
                && m.has("ivanti_isec_machines", &[("target", &isec)])
                && m.has("ivanti_isec_console_info", &[("target", &isec)])
        })
        .await;
    assert!(m.get("ivanti_isec_agents", &[("target", &isec)]).unwrap() > 0.0);
    assert!(m.has("ivanti_active_sessions", &[("target", &ics)]));
    let mem = m
        .get("oneidentity_sps_memory_usage_ratio", &[("target", &sps)])
        .unwrap();
    assert!(
        (0.0..=1.0).contains(&mem),
        "a ratio, not a percentage: {mem}"
    );
    // EPMM counts are consistent: statuses never exceed the total.
    let total = m.get("ivanti_epmm_devices", &[("target", &epmm)]).unwrap();
    let by_status: f64 = m
        .find("ivanti_epmm_devices_by_status", &[("target", &epmm)])
        .iter()
        .map(|s| s.value)
        .sum();
    assert!(total > 0.0 && by_status <= total, "{by_status} of {total}");
    // No kind's series leak into another target.
    assert!(!m.has("oneidentity_sps_load1", &[("target", &ics)]));
    assert!(!m.has("ivanti_active_sessions", &[("target", &sps)]));
    // /probe serves every kind from the cache.
    let (status, _, body) = exp.get(&format!("/probe?target={epmm}")).await;
    assert_eq!(status, 200);
    assert!(body.contains("ivanti_epmm_devices{"), "{body}");

    // Read-only: SPS and EPMM saw nothing but GETs, and SPS never the
    // endpoints that change things.
    for i in [1, 2, 3] {
        let st = fleet.appliance(i).stats();
        for (method, path) in st.by_method_path.keys() {
            assert_eq!(method, "GET", "{method} {path}");
            assert!(
                !path.starts_with("/api/active-sessions") && !path.starts_with("/api/transaction"),
                "{path}"
            );
        }
    }
    // EPMM always says which device space (the simulator answers 400 without it).
    let epmm_paths: Vec<String> = fleet
        .appliance(2)
        .stats()
        .by_method_path
        .keys()
        .map(|(_, p)| p.clone())
        .collect();
    assert!(epmm_paths.contains(&"/api/v2/devices".to_owned()));
    assert_eq!(errors(&m, &epmm, "devices", "http"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sps_session_cookie_is_reused_then_renewed_when_it_expires() {
    // Sessions live 3 s on this simulated SPS; polls run every second.
    let fleet = mixed_fleet(vec![SimKind::Sps], 0, Duration::from_secs(3)).await;
    let exp = exporter_for(&fleet, "");
    let sps = fleet.appliance(0).name().to_owned();
    exp.wait_for("sps up", WAIT, |m| up(m, &sps)).await;
    // Each cookie serves the polls of its 3 s: the next login comes only
    // once it has expired, not one per request.
    let a = fleet.appliance(0);
    let logins0 = a.stats().logins;
    eventually("three more logins", WAIT, || {
        a.stats().logins >= logins0 + 3
            && events(&exp.logs(), "logged in", &sps).len() as u64 >= logins0 + 3
    })
    .await;
    let logged_in = events(&exp.logs(), "logged in", &sps);
    assert_spaced(&logged_in, |_, _| Duration::from_secs(3));
    // Expiry is handled inside the poll: no failed poll.
    let m = exp.metrics().await;
    for c in ["health_status", "cluster_status"] {
        assert_eq!(errors(&m, &sps, c, "auth"), 0.0, "{c}");
    }
    // The cookie never shows up anywhere.
    let (_, text, _) = exp.get("/metrics").await;
    assert!(!text.contains("session_id"));
    assert!(!exp.logs().contains("session_id="), "cookie in the log");
}

/// The simulated SPS answers `/api/cluster/status` like the guide's sample
/// (the answering node with `health_status: null`): that node is up; a
/// member with null health last seen 15 minutes ago is down.
#[tokio::test(flavor = "multi_thread")]
async fn sps_answering_node_is_up_and_a_stale_member_is_down() {
    let fleet = mixed_fleet(vec![SimKind::Sps], 0, Duration::from_secs(1200)).await;
    let exp = app_for(&fleet, "").await;
    let sps = fleet.appliance(0).name().to_owned();
    let node = |n: u32| format!("{sps}-node{n}.sps.example");
    let (me, member) = (node(1), node(3));
    let node_up = |m: &Metrics, node: &str| {
        m.get(
            "oneidentity_sps_cluster_node_up",
            &[("target", &sps), ("node", node)],
        )
    };
    let m = exp
        .wait_for("cluster nodes", WAIT, |m| node_up(m, &member).is_some())
        .await;
    for n in [1, 2, 3] {
        assert_eq!(node_up(&m, &node(n)), Some(1.0), "node{n}");
    }
    assert!(
        !m.has(
            "oneidentity_sps_cluster_node_last_seen_timestamp_seconds",
            &[("node", &me)]
        ),
        "the answering node has no last_seen"
    );
    fleet.appliance(0).set_member_unreachable(true);
    let m = exp
        .wait_for("member down", WAIT, |m| node_up(m, &member) == Some(0.0))
        .await;
    assert_eq!(node_up(&m, &me), Some(1.0));
    assert_eq!(node_up(&m, &node(2)), Some(1.0));
}

/// EPMM devices are counted per documented `common.status`: the simulated
/// core holds 2,000 devices, 1,700 active (935 iOS, 680 Android, 51 Windows,
/// 34 macOS, 51 not compliant), 40 waiting for verification, ...
#[tokio::test(flavor = "multi_thread")]
async fn epmm_counts_every_documented_status_exactly() {
    let fleet = mixed_fleet(vec![SimKind::Epmm], 0, Duration::from_secs(1200)).await;
    let exp = app_for(&fleet, "").await;
    let epmm = fleet.appliance(0).name().to_owned();
    let m = exp
        .wait_for("epmm devices", WAIT, |m| {
            m.has("ivanti_epmm_devices_noncompliant", &[("target", &epmm)])
        })
        .await;
    let get = |name: &str, labels: &[(&str, &str)]| {
        let mut l = vec![("target", epmm.as_str())];
        l.extend_from_slice(labels);
        m.get(name, &l)
    };
    let expected = [
        ("ACTIVE", 1700.0),
        ("IENROLL_VERIFIED", 12.0),
        ("IENROLL_INPROGRESS", 8.0),
        ("IENROLL_COMPLETE", 5.0),
        ("INFECTED", 3.0),
        ("LOST", 4.0),
        ("RETIRED", 150.0),
        ("VERIFIED", 30.0),
        ("VERIFICATION_PENDING", 40.0),
        ("EXPIRED", 20.0),
        ("WIPED", 28.0),
    ];
    for (status, n) in expected {
        let v = get("ivanti_epmm_devices_by_status", &[("status", status)]);
        assert_eq!(v, Some(n), "{status}");
    }
    let series = m.find("ivanti_epmm_devices_by_status", &[("target", &epmm)]);
    assert_eq!(
        series.len(),
        11,
        "one series per documented status, no PENDING"
    );
    assert_eq!(get("ivanti_epmm_devices", &[]), Some(2000.0));
    for (platform, n) in [
        ("iOS", 935.0),
        ("Android", 680.0),
        ("Windows", 51.0),
        ("macOS", 34.0),
    ] {
        let v = get("ivanti_epmm_devices_by_platform", &[("platform", platform)]);
        assert_eq!(v, Some(n), "{platform}");
    }
    assert_eq!(get("ivanti_epmm_devices_noncompliant", &[]), Some(51.0));
}

/// Security Controls lists are paged (`count` per page, `links.next.href`):
/// the simulated console's 2,345 machines come as 1,000 + 1,000 + 345 and
/// are counted exactly (reading `count` as a total would give 1,000; the
/// default page of 10 would need 235 pages, over the cap). A console
/// answering 404 on the undocumented `GET /operations` list is healthy.
#[tokio::test(flavor = "multi_thread")]
async fn isec_lists_are_paged_and_operations_may_be_absent() {
    let fleet = mixed_fleet(vec![SimKind::Isec], 0, Duration::from_secs(1200)).await;
    fleet.appliance(0).set_no_operations_list(true);
    // The inventory's poll (bounded by its interval) reads 51 pages below:
    // 5 s for them, not 1 s, so a loaded machine does not turn the page cap
    // into a timeout.
    let (dir, config) = config_for_kinds(&fleet, "");
    let config = config.replace("inventory: 1s", "inventory: 5s");
    let exp = App::spawn_in(dir, &config).await;
    let isec = fleet.appliance(0).name().to_owned();
    let success = |m: &Metrics, c: &str| {
        m.get(
            "ivanti_collector_success",
            &[("target", &isec), ("collector", c)],
        )
    };
    let m = exp
        .wait_for("isec inventory and operations", WAIT, |m| {
            m.has("ivanti_isec_machines", &[("target", &isec)])
                && success(m, "operations").is_some()
        })
        .await;
    assert_eq!(
        m.get("ivanti_isec_machines", &[("target", &isec)]),
        Some(2345.0)
    );
    for c in ["console", "inventory", "operations"] {
        assert_eq!(success(&m, c), Some(1.0), "{c}");
    }
    assert!(!m.has("ivanti_isec_operations", &[("target", &isec)]));
    assert_eq!(errors(&m, &isec, "operations", "http"), 0.0);

    // 50,001 machines need 51 pages: over the cap of 50, the poll fails
    // (reason parse) rather than publish 50,000.
    fleet.appliance(0).set_isec_machines(50_001);
    let m = exp
        .wait_for("inventory fails at the page cap", WAIT, |m| {
            errors(m, &isec, "inventory", "parse") > 0.0
        })
        .await;
    assert_eq!(success(&m, "inventory"), Some(0.0));
    assert_ne!(
        m.get("ivanti_isec_machines", &[("target", &isec)]),
        Some(50_000.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_are_auth_errors_and_logins_back_off() {
    let fleet = mixed_fleet(
        vec![SimKind::Sps, SimKind::Epmm, SimKind::Isec],
        0,
        Duration::from_secs(1200),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = fleet
        .config_yaml(Some(&ca), Duration::from_secs(1))
        .replace("sim-Passw0rd!", "wrong-password")
        .replace("timeout: 1s", "timeout: 900ms")
        .replace(
            "defaults:\n",
            "defaults:\n  collector_intervals: { devices: 1s, device_spaces: 1s, console: 1s, inventory: 1s }\n",
        );
    let exp = Exporter::start_in(dir, &config, &[]);
    let (sps, epmm, isec) = (
        fleet.appliance(0).name().to_owned(),
        fleet.appliance(1).name().to_owned(),
        fleet.appliance(2).name().to_owned(),
    );
    let m = exp
        .wait_for("auth errors on all three", WAIT, |m| {
            errors(m, &sps, "health_status", "auth") > 0.0
                && errors(m, &epmm, "devices", "auth") > 0.0
                && errors(m, &isec, "operations", "auth") > 0.0
        })
        .await;
    assert!(!up(&m, &sps) && !up(&m, &epmm) && !up(&m, &isec));
    // Each login attempt is logged with the wait before the next (5 s,
    // doubling), and the next waits: two attempts each, spaced so.
    eventually("two SPS and two NTLM attempts, logged", WAIT, || {
        let logs = exp.logs();
        let logins = fleet.appliance(0).stats().logins;
        logins >= 2
            && events(&logs, "login failed", &sps).len() as u64 == logins
            && events(&logs, "Windows authentication failed", &isec).len() >= 2
    })
    .await;
    let logs = exp.logs();
    for failed in [
        events(&logs, "login failed", &sps),
        events(&logs, "Windows authentication failed", &isec),
    ] {
        assert_eq!(retry_in(&failed[0]), Duration::from_secs(5));
        assert_spaced(&failed, |_, before| retry_in(before));
    }
    assert!(
        !exp.logs().contains("wrong-password"),
        "password in the log"
    );
    assert!(!exp.metrics().await.text.contains("wrong-password"));
}

/// Every fault class on one SPS, one EPMM and one console each, all at
/// once (thirty appliances): each gets its reason and goes down, and comes
/// back when the fault clears.
#[tokio::test(flavor = "multi_thread")]
async fn faults_on_sps_epmm_and_isec_get_their_reason() {
    let cases = [
        (Fault::Unauthorized, "auth"),
        (Fault::Forbidden, "auth"),
        (Fault::ServerError, "http"),
        (Fault::ServiceUnavailable, "http"),
        (Fault::HtmlLogin, "parse"),
        (Fault::BrokenJson, "parse"),
        (Fault::TruncatedBody, "connect"),
        (Fault::HugeBody, "too_large"),
        (Fault::Hang, "timeout"),
        (Fault::Refuse, "connect"),
    ];
    let kinds = [
        (SimKind::Sps, "health_status"),
        (SimKind::Epmm, "devices"),
        (SimKind::Isec, "operations"),
    ];
    let fleet = mixed_fleet(
        cases
            .iter()
            .flat_map(|_| kinds.iter().map(|k| k.0))
            .collect(),
        0,
        Duration::from_secs(1200),
    )
    .await;
    // EPMM's devices poll (several queries, bounded by its interval) gets
    // 5 s on a machine loaded with thirty appliances.
    let (dir, config) = config_for_kinds(&fleet, "  body_size_limit: 1MiB\n");
    let config = config.replace("devices: 1s", "devices: 5s");
    let exp = App::spawn_in(dir, &config).await;
    // Appliance i: fault i / 3 on kind i % 3.
    let targets: Vec<(String, &str, &Fault, &str)> = (0..fleet.len())
        .map(|i| {
            let (fault, reason) = &cases[i / 3];
            (
                fleet.appliance(i).name().to_owned(),
                kinds[i % 3].1,
                fault,
                *reason,
            )
        })
        .collect();
    exp.wait_for("all up", WAIT, |m| targets.iter().all(|(t, ..)| up(m, t)))
        .await;
    for (i, (_, _, fault, _)) in targets.iter().enumerate() {
        fleet.appliance(i).set_fault((*fault).clone());
    }
    exp.wait_for(
        "each fault counted with its reason",
        Duration::from_secs(40),
        |m| {
            targets
                .iter()
                .all(|(t, c, _, reason)| errors(m, t, c, reason) > 0.0 && !up(m, t))
        },
    )
    .await;
    for i in 0..fleet.len() {
        fleet.appliance(i).set_fault(Fault::None);
    }
    // ServiceUnavailable answers Retry-After: 30, which the exporter honours.
    exp.wait_for("all recover", Duration::from_secs(60), |m| {
        targets.iter().all(|(t, ..)| up(m, t))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn isec_ntlm_handshakes_once_per_connection() {
    let fleet = mixed_fleet(vec![SimKind::Isec], 0, Duration::from_secs(1200)).await;
    let exp = exporter_for(&fleet, "");
    let isec = fleet.appliance(0).name().to_owned();
    exp.wait_for("isec up", WAIT, |m| up(m, &isec)).await;
    // A dozen more requests (three collectors polling every second): the
    // kept-alive connection stays authenticated, one handshake for each
    // new connection and none for a request.
    let a = fleet.appliance(0);
    let s0 = a.stats();
    more_requests(a, 12).await;
    eventually("one handshake per new connection", WAIT, || {
        let s = a.stats();
        s.logins - s0.logins == s.connections - s0.connections
    })
    .await;
    let s1 = a.stats();
    assert!(
        s1.logins - s0.logins < s1.requests - s0.requests,
        "{} handshakes for {} requests",
        s1.logins - s0.logins,
        s1.requests - s0.requests
    );
    let m = exp.metrics().await;
    assert_eq!(errors(&m, &isec, "operations", "auth"), 0.0);
    // A new connection (the console dropped them all) authenticates again.
    fleet.appliance(0).set_fault(Fault::Refuse);
    exp.wait_for("isec down", WAIT, |m| !up(m, &isec)).await;
    fleet.appliance(0).set_fault(Fault::None);
    exp.wait_for("isec up again", WAIT, |m| up(m, &isec)).await;
    assert!(
        fleet.appliance(0).stats().logins > s1.logins,
        "re-authenticated"
    );
    assert!(!exp.logs().contains("sim-Passw0rd!"), "password in the log");
}

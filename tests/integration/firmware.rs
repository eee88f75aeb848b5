//! Connect Secure firmware generations operators still run, each against
//! the simulator playing it (`Appliance::set_firmware`): the appliance is
//! up and its figures are the ones the appliance itself shows.

use crate::helpers::*;
use ivanti_exporter::sim::{Firmware, FirmwareVersion, Fleet, FleetOptions};
use std::collections::BTreeSet;

fn requests(fleet: &Fleet, method: &str, path: &str) -> u64 {
    fleet
        .appliance(0)
        .stats()
        .by_method_path
        .get(&(method.to_owned(), path.to_owned()))
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn before_9_1r4_the_healthcheck_page_gives_the_same_figures() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    a.set_firmware(Firmware::Pre914);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let exp = Exporter::start_in(dir, &config_for(&fleet, &ca, "", |_| String::new()), &[]);
    let t = a.name().to_owned();
    let m = exp
        .wait_for("healthcheck from healthcheck.cgi", WAIT, |m| {
            up(m, &t) && m.has("ivanti_cpu_utilization_ratio", &[("target", &t)])
        })
        .await;
    // What the appliance's own page says, read by hand.
    let page = reqwest::Client::builder()
        .tls_certs_only(
            ivanti_exporter::tls::parse_ca_pem(fleet.ca_pem().unwrap().as_bytes())
                .unwrap()
                .into_iter()
                .filter_map(|c| reqwest::Certificate::from_der(&c).ok()),
        )
        .build()
        .unwrap()
        .get(format!(
            "{}/dana-na/healthcheck/healthcheck.cgi?status=all",
            a.url()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |key: &str| -> f64 {
        page.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.trim_end_matches(';').parse().ok())
            .unwrap_or_else(|| panic!("{key} in {page}"))
    };
    assert_eq!(
        m.get("ivanti_swap_utilization_ratio", &[("target", &t)]),
        Some(value("SWAP-UTILIZATION") / 100.0),
        "{page}"
    );
    assert_eq!(
        m.get("ivanti_gateway_accessible", &[("target", &t)]),
        Some(1.0)
    );
    // SBR is not on that page.
    assert!(!m.has("ivanti_sbr_available", &[("target", &t)]));
    let cgi = requests(&fleet, "GET", "/dana-na/healthcheck/healthcheck.cgi");
    assert!(cgi > 0);
    // After the first poll, the missing REST healthcheck is not asked again:
    // three more healthcheck polls go to the page.
    eventually("three more healthcheck polls", WAIT, || {
        requests(&fleet, "GET", "/dana-na/healthcheck/healthcheck.cgi") >= cgi + 3
    })
    .await;
    assert_eq!(requests(&fleet, "GET", "/api/v1/system/healthcheck"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn firmware_ignoring_start_still_has_every_session_in_the_breakdowns() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    a.set_firmware(Firmware::IgnoresStart);
    a.set_sessions(500);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let exp = Exporter::start_in(dir, &config_for(&fleet, &ca, "", |_| String::new()), &[]);
    let t = a.name().to_owned();
    let m = exp
        .wait_for("500 sessions in the breakdowns", WAIT, |m| {
            m.get(
                "ivanti_active_sessions_breakdown_records",
                &[("target", &t)],
            ) == Some(500.0)
        })
        .await;
    assert_eq!(
        m.get("ivanti_active_sessions", &[("target", &t)]),
        Some(500.0)
    );
    let by_realm: f64 = m
        .find("ivanti_active_sessions_by_realm", &[("target", &t)])
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(by_realm, 500.0, "every session counted once");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_key_answered_with_403_leads_to_one_relogin() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    a.set_firmware(Firmware::ForbiddenOnExpiry);
    let exp = realm_auth_exporter(&fleet, &realm_auth_yaml().1);
    let t = a.name().to_owned();
    exp.wait_for("up via realm_auth", WAIT, |m| up(m, &t)).await;
    assert_eq!(a.stats().logins, 1);
    a.revoke_keys();
    eventually("a re-login", WAIT, || a.stats().logins >= 2).await;
    more_requests(a, 12).await;
    let m = exp.wait_for("up again", WAIT, |m| up(m, &t)).await;
    assert_eq!(a.stats().logins, 2, "one re-login after the 403");
    let auth_errors: f64 = m
        .find(
            "ivanti_collector_errors_total",
            &[("target", &t), ("reason", "auth")],
        )
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(auth_errors, 0.0, "the re-login happened within the poll");
}

#[tokio::test(flavor = "multi_thread")]
async fn realm_auth_answered_by_a_redirect_falls_back_to_the_legacy_login() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    a.set_firmware(Firmware::RealmAuthRedirect);
    let exp = realm_auth_exporter(&fleet, &realm_auth_yaml().1);
    let t = a.name().to_owned();
    exp.wait_for("up and system information read", WAIT, |m| {
        up(m, &t) && m.has("ivanti_system_info", &[("target", &t)])
    })
    .await;
    assert_eq!(
        requests(&fleet, "POST", "/api/v1/realm_auth"),
        1,
        "tried once"
    );
    assert_eq!(
        requests(&fleet, "GET", "/api/v1/auth"),
        1,
        "then the legacy login"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_self_signed_ca_true_certificate_is_accepted() {
    init();
    let fleet = Fleet::start(FleetOptions {
        appliances: 1,
        self_signed: true,
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The appliance's own certificate, as `openssl s_client -showcerts` gives it.
    let ca = write_ca(&fleet, dir.path());
    let exp = Exporter::start_in(dir, &config_for(&fleet, &ca, "", |_| String::new()), &[]);
    let t = fleet.appliance(0).name().to_owned();
    let m = exp.wait_for("up", WAIT, |m| up(m, &t)).await;
    // rcgen's default validity: notAfter 4096-01-01T00:00:00Z.
    assert_eq!(
        m.get(
            "ivanti_tls_certificate_expiry_timestamp_seconds",
            &[("target", &t)]
        ),
        Some(67_090_118_400.0)
    );
}

/// The security posture of a simulated 22.7R2.3 (build 3431) with rollback
/// 22.7R2.1 (build 3191), worked by hand from the advisories: CVE-2025-0282
/// affects ICS 22.7R2 before 22.7R2.5, CVE-2025-22457 ICS 22.7R2 before
/// 22.7R2.6, both in KEV; the January 2024 chain ended at 22.6R2. Both
/// images: exactly those two. 22.7 has no end of support in the data; 3431
/// is 22.7R2.3's build. And no request beyond the collectors' own.
#[tokio::test(flavor = "multi_thread")]
async fn firmware_posture_of_a_22_7r2_3_appliance_comes_from_the_poll_alone() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let exp = Exporter::start_in(dir, &config_for(&fleet, &ca, "", |_| String::new()), &[]);
    let t = a.name().to_owned();
    let m = exp
        .wait_for("firmware posture", WAIT, |m| {
            m.has("ivanti_firmware_status_unknown", &[("target", &t)])
        })
        .await;
    let want = ["CVE-2025-0282", "CVE-2025-22457"];
    for image in ["running", "rollback"] {
        let mut got: Vec<(String, String)> = m
            .find(
                "ivanti_firmware_vulnerable",
                &[("target", &t), ("image", image)],
            )
            .iter()
            .map(|s| (s.labels["cve"].clone(), s.labels["kev"].clone()))
            .collect();
        got.sort();
        let expected: Vec<(String, String)> = want
            .iter()
            .map(|c| (c.to_string(), "true".to_owned()))
            .collect();
        assert_eq!(got, expected, "{image}");
        assert_eq!(
            m.get(
                "ivanti_firmware_vulnerabilities",
                &[("target", &t), ("image", image), ("kev", "true")]
            ),
            Some(2.0)
        );
        assert_eq!(
            m.get(
                "ivanti_firmware_status_unknown",
                &[("target", &t), ("image", image)]
            ),
            Some(0.0)
        );
    }
    assert_eq!(
        m.get(
            "ivanti_firmware_info",
            &[
                ("target", &t),
                ("image", "running"),
                ("version", "22.7R2.3"),
                ("build", "3431")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get("ivanti_firmware_build_mismatch", &[("target", &t)]),
        Some(0.0)
    );
    assert_eq!(
        m.get("ivanti_firmware_end_of_support", &[("target", &t)]),
        Some(0.0)
    );
    // Only the collectors' GETs: nothing that looks like a probe.
    let stats = a.stats();
    for (method, path) in stats.by_method_path.keys() {
        assert_eq!(method, "GET", "{method} {path}");
        assert!(
            path.starts_with("/api/v1/system/")
                || path.starts_with("/api/v1/cluster")
                || path.starts_with("/api/v1/license/"),
            "unexpected request {path}"
        );
    }
}

// CVE groups of src/advisories/advisories.yml, as the test below uses them.
/// The 2020-2021 Pulse Connect Secure KEV CVEs, all fixed by 9.1R11.4 at
/// the latest: CVE-2020-8218 (< 9.1R8), -8243 (< 9.1R8.2), -8260 (< 9.1R9),
/// CVE-2021-22893/22894/22899/22900 (< 9.1R11.4).
const PCS_2020_2021: &[&str] = &[
    "CVE-2020-8218",
    "CVE-2020-8243",
    "CVE-2020-8260",
    "CVE-2021-22893",
    "CVE-2021-22894",
    "CVE-2021-22899",
    "CVE-2021-22900",
];
/// The January 2024 chain (and CVE-2024-21893), fixed per 9.1 train at
/// 9.1R14.4, 9.1R15.2, 9.1R16.2, 9.1R17.2, 9.1R18.3; every train before
/// 9.1R14 is affected whole.
const JAN_2024: &[&str] = &["CVE-2023-46805", "CVE-2024-21887", "CVE-2024-21893"];

/// What one image must show: `None` is "unknown to the data".
type Cves = Option<Vec<(&'static str, bool)>>;

fn kev(ids: &[&[&'static str]]) -> Cves {
    Some(
        ids.iter()
            .flat_map(|g| g.iter().map(|c| (*c, true)))
            .collect(),
    )
}

/// One appliance of the matrix and its posture, worked by hand.
struct Case {
    name: &'static str,
    product: &'static str,
    running: Cves,
    rollback: Option<Cves>,
    end_of_support: f64,
    build_mismatch: f64,
}

/// Issue 21's firmware matrix, one simulated appliance each, polled by one
/// exporter: each image's exact CVE set (with its KEV flag), its count,
/// `status_unknown`, and the running image's end of support and build
/// mismatch. The expected sets are worked by hand from the advisories
/// (src/advisories/advisories.yml and its sources), not by the code.
#[tokio::test(flavor = "multi_thread")]
async fn the_firmware_matrix_has_the_hand_worked_cve_sets() {
    let cases = [
        // 9.1R7/6087: before 9.1R8 (8218, 8243, 8260) and 9.1R11.4
        // (2021-*); 9.1R7 is a train before 9.1R14, affected whole by the
        // January 2024 chain; CVE-2025-22457 has no 9.1 fix. 11 KEV CVEs.
        // Rollback 9.1R6/5801: the same 11. 9.1 ended 2024-12-31; 6087 is
        // 9.1R7's build in the data's table.
        Case {
            name: "9.1r7",
            product: "ics",
            running: kev(&[PCS_2020_2021, JAN_2024, &["CVE-2025-22457"]]),
            rollback: Some(kev(&[PCS_2020_2021, JAN_2024, &["CVE-2025-22457"]])),
            end_of_support: 1.0,
            build_mismatch: 0.0,
        },
        // 9.1R14.4 is the 9.1R14 train's January 2024 fix, and the release
        // that introduced CVE-2024-22024 (fixed 9.1R14.5; not in KEV);
        // 22457 unfixed in 9.1. Rollback 9.1R13.1: a train before 9.1R14,
        // so the whole chain, plus 22457; the 2020-2021 CVEs ended at
        // 9.1R11.4.
        Case {
            name: "9.1r14.4",
            product: "ics",
            running: Some(vec![("CVE-2024-22024", false), ("CVE-2025-22457", true)]),
            rollback: Some(kev(&[JAN_2024, &["CVE-2025-22457"]])),
            end_of_support: 1.0,
            build_mismatch: 0.0,
        },
        // 9.1R15 is below 9.1R15.2, its train's fix: affected, although a
        // plain "< 9.1R18.3" and "9.1R15 > 9.1R14.4" disagree. 22024 came
        // with 9.1R15.2, so not here. No rollback image.
        Case {
            name: "9.1r15",
            product: "ics",
            running: kev(&[JAN_2024, &["CVE-2025-22457"]]),
            rollback: None,
            end_of_support: 1.0,
            build_mismatch: 0.0,
        },
        // 9.1R18.3: the chain's fix and 22024's introduction in 9.1R18.
        Case {
            name: "9.1r18.3",
            product: "ics",
            running: Some(vec![("CVE-2024-22024", false), ("CVE-2025-22457", true)]),
            rollback: None,
            end_of_support: 1.0,
            build_mismatch: 0.0,
        },
        // 22.7R2.3/3431: CVE-2025-0282 (22.7R2 < 22.7R2.5) and 22457
        // (< 22.7R2.6); the January 2024 chain ended at 22.6R2. Rollback
        // 22.7R2.1/3191: the same two. 22.7 has no end of support in the
        // data; 3431 is 22.7R2.3's build.
        Case {
            name: "22.7r2.3",
            product: "ics",
            running: kev(&[&["CVE-2025-0282", "CVE-2025-22457"]]),
            rollback: Some(kev(&[&["CVE-2025-0282", "CVE-2025-22457"]])),
            end_of_support: 0.0,
            build_mismatch: 0.0,
        },
        // 22.7R2.5 (no build reported): 0282 fixed, 22457 not yet.
        // Rollback 22.7R2.4/3597: both.
        Case {
            name: "22.7r2.5",
            product: "ics",
            running: kev(&[&["CVE-2025-22457"]]),
            rollback: Some(kev(&[&["CVE-2025-0282", "CVE-2025-22457"]])),
            end_of_support: 0.0,
            build_mismatch: 0.0,
        },
        // 22.7R2.6/3981: nothing known. Its rollback 22.7R2.4/3597: both.
        Case {
            name: "22.7r2.6-vulnerable-rollback",
            product: "ics",
            running: Some(vec![]),
            rollback: Some(kev(&[&["CVE-2025-0282", "CVE-2025-22457"]])),
            end_of_support: 0.0,
            build_mismatch: 0.0,
        },
        // Policy Secure 22.7R1.2: 0282 (IPS 22.7R1 < 22.7R1.3) and 22457
        // (< 22.7R1.4). As ICS, 22.7R1 would be a train the data does not
        // know: the product line matters.
        Case {
            name: "ips-22.7r1.2",
            product: "ips",
            running: kev(&[&["CVE-2025-0282", "CVE-2025-22457"]]),
            rollback: None,
            end_of_support: 0.0,
            build_mismatch: 0.0,
        },
        // ICS 22.8R2: no train of the data, so unknown (no CVE series, no
        // count), never "fixed". Its rollback 22.7R2.6/3981 is placed.
        Case {
            name: "unknown-train",
            product: "ics",
            running: None,
            rollback: Some(Some(vec![])),
            end_of_support: 0.0,
            build_mismatch: 0.0,
        },
        // "22.7R2.6" with 22.7R2.4's build 3597: a faked upgrade. Both
        // readings count: as 22.7R2.6 nothing, as build 3597 (22.7R2.4)
        // 0282 and 22457; build_mismatch 1. Rollback 22.7R2.3/3431: both.
        Case {
            name: "mismatched-build",
            product: "ics",
            running: kev(&[&["CVE-2025-0282", "CVE-2025-22457"]]),
            rollback: Some(kev(&[&["CVE-2025-0282", "CVE-2025-22457"]])),
            end_of_support: 0.0,
            build_mismatch: 1.0,
        },
        // "22.7.2.3431" (major.minor.R.build): build 3431 places it at
        // 22.7R2.3, so both CVEs, not "22.7.2.3431 >= 22.7.2.6, fixed".
        Case {
            name: "dotted-22.7.2.3431",
            product: "ics",
            running: kev(&[&["CVE-2025-0282", "CVE-2025-22457"]]),
            rollback: None,
            end_of_support: 0.0,
            build_mismatch: 0.0,
        },
    ];
    init();
    let fleet = Fleet::start(FleetOptions {
        appliances: cases.len(),
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    for (i, c) in cases.iter().enumerate() {
        let fw =
            FirmwareVersion::named(c.name).unwrap_or_else(|| panic!("{} in the matrix", c.name));
        fleet.appliance(i).set_firmware_version(fw);
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let config = config_for(&fleet, &ca, "", |i| {
        format!("    kind_options: {{ product: {} }}\n", cases[i].product)
    });
    let exp = Exporter::start_in(dir, &config, &[]);
    let names: Vec<String> = (0..cases.len())
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    let m = exp
        .wait_for("every appliance's firmware posture", WAIT, |m| {
            names
                .iter()
                .all(|t| m.has("ivanti_firmware_build_mismatch", &[("target", t)]))
        })
        .await;
    for (c, t) in cases.iter().zip(&names) {
        let t = t.as_str();
        let images = [
            ("running", Some(&c.running)),
            ("rollback", c.rollback.as_ref()),
        ];
        for (image, want) in images {
            let got: BTreeSet<(String, String)> = m
                .find(
                    "ivanti_firmware_vulnerable",
                    &[("target", t), ("image", image)],
                )
                .iter()
                .map(|s| (s.labels["cve"].clone(), s.labels["kev"].clone()))
                .collect();
            let unknown = m.get(
                "ivanti_firmware_status_unknown",
                &[("target", t), ("image", image)],
            );
            let count = |kev: &str| {
                m.get(
                    "ivanti_firmware_vulnerabilities",
                    &[("target", t), ("image", image), ("kev", kev)],
                )
            };
            match want {
                // No rollback image: no series for it at all.
                None => {
                    assert_eq!(unknown, None, "{} {image}", c.name);
                    assert!(got.is_empty(), "{} {image}", c.name);
                }
                Some(None) => {
                    assert_eq!(unknown, Some(1.0), "{} {image}", c.name);
                    assert!(got.is_empty(), "{} {image}: {got:?}", c.name);
                    assert_eq!(count("true"), None, "{} {image}", c.name);
                    assert_eq!(count("false"), None, "{} {image}", c.name);
                }
                Some(Some(cves)) => {
                    let expected: BTreeSet<(String, String)> = cves
                        .iter()
                        .map(|(id, kev)| (id.to_string(), kev.to_string()))
                        .collect();
                    assert_eq!(got, expected, "{} {image}", c.name);
                    assert_eq!(unknown, Some(0.0), "{} {image}", c.name);
                    let n_kev = cves.iter().filter(|(_, k)| *k).count() as f64;
                    assert_eq!(count("true"), Some(n_kev), "{} {image}", c.name);
                    assert_eq!(
                        count("false"),
                        Some(cves.len() as f64 - n_kev),
                        "{} {image}",
                        c.name
                    );
                }
            }
        }
        assert_eq!(
            m.get("ivanti_firmware_end_of_support", &[("target", t)]),
            Some(c.end_of_support),
            "{}",
            c.name
        );
        assert_eq!(
            m.get("ivanti_firmware_build_mismatch", &[("target", t)]),
            Some(c.build_mismatch),
            "{}",
            c.name
        );
        // The identity series carries what the appliance printed.
        let fw = FirmwareVersion::named(c.name).unwrap();
        assert_eq!(
            m.get(
                "ivanti_firmware_info",
                &[
                    ("target", t),
                    ("image", "running"),
                    ("version", fw.version),
                    ("build", fw.build.unwrap_or(""))
                ]
            ),
            Some(1.0),
            "{}",
            c.name
        );
    }
}

//! Connect Secure firmware generations operators still run, each against
//! the simulator playing it (`Appliance::set_firmware`): the appliance is
//! up and its figures are the ones the appliance itself shows.

use crate::helpers::*;
use ivanti_exporter::sim::{Firmware, Fleet, FleetOptions};

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

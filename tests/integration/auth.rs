//! realm_auth: one login, key reuse, re-login only after a 401, no login
//! storm, second factor reported, legacy fallback; secrets never leak.

use crate::helpers::*;
use ivanti_exporter::sim::{Fault, Profile};
use std::time::Duration;

/// The same, in-process (for the tests that read no logs).
async fn realm_auth_app(fleet: &ivanti_exporter::sim::Fleet, password: &str) -> App {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(fleet, dir.path());
    std::fs::write(dir.path().join("pw"), format!("{password}\n")).unwrap();
    let (ra, _) = realm_auth_yaml();
    let config = config_for(fleet, &ca, "", |_| ra.clone());
    App::spawn_in(dir, &config).await
}

#[tokio::test(flavor = "multi_thread")]
async fn realm_auth_logs_in_once_and_again_only_after_401() {
    let fleet = fleet(1).await;
    let (_, password) = realm_auth_yaml();
    let exp = realm_auth_exporter(&fleet, &password);
    let a = fleet.appliance(0);
    let t = a.name().to_owned();
    exp.wait_for("up via realm_auth", WAIT, |m| up(m, &t)).await;
    // Several polls of four authenticated collectors later: still one login.
    more_requests(a, 12).await;
    assert_eq!(a.stats().logins, 1, "the key is reused");
    // The key is revoked: the next call gets 401, one new login follows,
    // and no other in the polls after it.
    a.revoke_keys();
    eventually("a re-login", WAIT, || a.stats().logins >= 2).await;
    more_requests(a, 12).await;
    let m = exp.wait_for("up again", WAIT, |m| up(m, &t)).await;
    assert_eq!(
        a.stats().logins,
        2,
        "exactly one re-login after the revocation"
    );
    assert_eq!(m.get("ivanti_up", &[("target", &t)]), Some(1.0));
    // Secrets never appear in logs or metrics.
    let logs = exp.logs();
    assert!(!logs.contains(&password), "password in logs");
    assert!(!m.text.contains(&password), "password in metrics");
    assert!(logs.contains("logging in again"), "{logs}");
    let stats = a.stats();
    assert_eq!(
        stats
            .by_method_path
            .get(&("POST".to_owned(), "/api/v1/realm_auth".to_owned()))
            .copied(),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_logins_back_off_instead_of_storming() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    let exp = realm_auth_exporter(&fleet, "wrong-password-123");
    let t = a.name().to_owned();
    exp.wait_for("auth errors", WAIT, |m| {
        errors(m, &t, "cluster", "auth") > 0.0
    })
    .await;
    // Four authenticated collectors poll every second: without backoff,
    // four logins a second. With it they share one attempt, logged with
    // the wait before the next (5 s, then doubling), and the next waits.
    eventually("a second attempt, logged", WAIT, || {
        let logins = a.stats().logins;
        logins >= 2 && events(&exp.logs(), "login failed", &t).len() as u64 == logins
    })
    .await;
    let failed = events(&exp.logs(), "login failed", &t);
    assert_eq!(retry_in(&failed[0]), Duration::from_secs(5));
    assert_spaced(&failed, |_, before| retry_in(before));
    let logs = exp.logs();
    assert!(
        logs.contains("login failed") && logs.contains("retry_in"),
        "{logs}"
    );
    assert!(!logs.contains("wrong-password-123"));
    // The healthcheck needs no credentials and keeps working.
    let m = exp.metrics().await;
    assert_eq!(
        m.get(
            "ivanti_collector_success",
            &[("target", &t), ("collector", "healthcheck")]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn second_factor_is_an_auth_error_that_says_so() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    a.set_fault(Fault::SecondFactor);
    let (_, password) = realm_auth_yaml();
    let exp = realm_auth_app(&fleet, &password).await;
    let t = a.name().to_owned();
    exp.wait_for("auth error", WAIT, |m| {
        errors(m, &t, "cluster", "auth") > 0.0
    })
    .await;
    let (_, _, page) = exp.get("/").await;
    assert!(page.contains("second factor"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_firmware_falls_back_to_get_auth() {
    let fleet = fleet(1).await;
    let a = fleet.appliance(0);
    a.set_profile(Profile::OldFirmware);
    let (_, password) = realm_auth_yaml();
    let exp = realm_auth_app(&fleet, &password).await;
    let t = a.name().to_owned();
    // `up` is 1 after the first collector's poll: wait for the healthcheck's
    // data and for an authenticated collector too.
    let m = exp
        .wait_for("up via legacy auth", WAIT, |m| {
            up(m, &t)
                && m.has("ivanti_cpu_utilization_ratio", &[("target", &t)])
                && m.find("ivanti_collector_success", &[("target", &t)])
                    .iter()
                    .any(|s| s.value == 1.0 && s.labels["collector"] != "healthcheck")
        })
        .await;
    // Old firmware quirks: CPU-UTILIZATION4 and numbers as strings still parse.
    assert!(m
        .get("ivanti_cpu_utilization_ratio", &[("target", &t)])
        .is_some());
    let stats = a.stats();
    assert!(stats
        .by_method_path
        .contains_key(&("GET".to_owned(), "/api/v1/auth".to_owned())));
}

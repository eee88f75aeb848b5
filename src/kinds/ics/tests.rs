//! The request half of Connect Secure, against scripted transports (no
//! HTTP): paging of active sessions, the `realm_auth` login and re-login
//! rules, the healthcheck.cgi fallback. Each test lists the exact
//! requests the appliance must see, in order.

use super::{Ics, Options};
use crate::error::CollectError;
use crate::exposition::Samples;
use crate::kinds::transport::testing::{get, post, ScriptedTransport};
use crate::kinds::{Appliance, Credentials, Kind, Target, Transport};
use crate::secret::Secret;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn appliance(
    credentials: Credentials,
    options: Options,
    steps: Vec<crate::kinds::transport::testing::Step>,
) -> (Arc<dyn Appliance>, Arc<ScriptedTransport>) {
    let transport = Arc::new(ScriptedTransport::new(steps));
    let target = Target {
        name: "vpn-1".into(),
        credentials,
        options: crate::kinds::Options::new(options),
    };
    let a = Ics.appliance(target, transport.clone() as Arc<dyn Transport>);
    (a, transport)
}

fn key() -> Credentials {
    Credentials::ApiKey(Secret::new("k"))
}

fn realm_auth() -> Credentials {
    Credentials::RealmAuth {
        realm: "Admin Users".into(),
        username: "monitor".into(),
        password: Secret::new("pw"),
    }
}

fn paging(page_size: usize, max_records: usize) -> Options {
    Options {
        page_size,
        max_records,
        ..Options::default()
    }
}

/// An `active-users` page of the guide's shape with the given session
/// numbers (session id `sid<n>`, realm `realm<n % 2>`).
fn page(total: u64, sessions: &[u32]) -> String {
    let records: Vec<_> = sessions
        .iter()
        .map(|n| {
            json!({
                "active-user-name": format!("user{n}"),
                "authentication-realm": format!("realm{}", n % 2),
                "login-node": "node-a",
                "session-id": format!("sid{n}"),
                "network-connect-transport-mode": null,
            })
        })
        .collect();
    json!({"active-users": {
        "active-user-records": {"active-user-record": records},
        "total-matched-record-number": total,
        "total-returned-record-number": sessions.len(),
        "user-login-permission": true,
    }})
    .to_string()
}

async fn poll(a: &Arc<dyn Appliance>, collector: &'static str) -> Result<Samples, CollectError> {
    let mut out = Samples::default();
    a.collect(collector, &mut out).await.map(|()| out)
}

const AU: &str = "/api/v1/system/active-users";

/// A 1-based appliance reads `start=0` as `start=1`, so the second page
/// (`start=2`) repeats session 2: five sessions are counted once each.
#[tokio::test(start_paused = true)]
async fn one_based_paging_counts_each_session_once() {
    let (a, t) = appliance(
        key(),
        paging(2, 100),
        vec![
            get(&format!("{AU}?number=2&start=0"), 200, page(5, &[1, 2])).auth("key:k"),
            get(&format!("{AU}?number=2&start=2"), 200, page(5, &[2, 3])),
            get(&format!("{AU}?number=2&start=4"), 200, page(5, &[4, 5])),
        ],
    );
    let out = poll(&a, "active_users").await.unwrap();
    t.finish();
    assert_eq!(out.value_of("ivanti_active_sessions", ""), Some(5.0));
    assert_eq!(
        out.value_of("ivanti_active_sessions_breakdown_records", ""),
        Some(5.0)
    );
    // sessions 1, 3, 5 are realm1; 2 and 4 realm0.
    assert_eq!(
        out.value_of("ivanti_active_sessions_by_realm", "realm1"),
        Some(3.0)
    );
    assert_eq!(
        out.value_of("ivanti_active_sessions_by_realm", "realm0"),
        Some(2.0)
    );
}

/// A 0-based appliance: pages follow without overlap and the loop stops
/// when the total is covered (no fourth request).
#[tokio::test(start_paused = true)]
async fn zero_based_paging_stops_at_the_total() {
    let (a, t) = appliance(
        key(),
        paging(2, 100),
        vec![
            get(&format!("{AU}?number=2&start=0"), 200, page(4, &[1, 2])),
            get(&format!("{AU}?number=2&start=2"), 200, page(4, &[3, 4])),
        ],
    );
    let out = poll(&a, "active_users").await.unwrap();
    t.finish();
    assert_eq!(
        out.value_of("ivanti_active_sessions_breakdown_records", ""),
        Some(4.0)
    );
}

/// 9.x ignores `start`: the first page comes back, so one request with
/// `number=<total>` reads every session, and the next poll goes straight
/// to it after the first page.
#[tokio::test(start_paused = true)]
async fn an_ignored_start_switches_to_one_request() {
    let (a, t) = appliance(
        key(),
        paging(2, 100),
        vec![
            get(&format!("{AU}?number=2&start=0"), 200, page(5, &[1, 2])),
            get(&format!("{AU}?number=2&start=2"), 200, page(5, &[1, 2])),
            get(&format!("{AU}?number=5"), 200, page(5, &[1, 2, 3, 4, 5])),
        ],
    );
    let out = poll(&a, "active_users").await.unwrap();
    assert_eq!(
        out.value_of("ivanti_active_sessions_breakdown_records", ""),
        Some(5.0)
    );
    t.then([
        get(&format!("{AU}?number=2&start=0"), 200, page(6, &[1, 2])),
        get(&format!("{AU}?number=6"), 200, page(6, &[1, 2, 3, 4, 5, 6])),
    ]);
    let out = poll(&a, "active_users").await.unwrap();
    t.finish();
    assert_eq!(out.value_of("ivanti_active_sessions", ""), Some(6.0));
    assert_eq!(
        out.value_of("ivanti_active_sessions_breakdown_records", ""),
        Some(6.0)
    );
}

/// `max_records` caps what is read for the breakdowns; the total still
/// comes from the first page.
#[tokio::test(start_paused = true)]
async fn max_records_caps_the_breakdown_not_the_total() {
    let (a, t) = appliance(
        key(),
        paging(2, 3),
        vec![
            get(&format!("{AU}?number=2&start=0"), 200, page(9, &[1, 2])),
            get(&format!("{AU}?number=1&start=2"), 200, page(9, &[3])),
        ],
    );
    let out = poll(&a, "active_users").await.unwrap();
    t.finish();
    assert_eq!(out.value_of("ivanti_active_sessions", ""), Some(9.0));
    assert_eq!(
        out.value_of("ivanti_active_sessions_breakdown_records", ""),
        Some(3.0)
    );
}

const LOGIN: &str = "/api/v1/realm_auth";
const SYSINFO: &str = "/api/v1/system/system-information";

fn sysinfo() -> &'static str {
    r#"{"system-information": {"hardware-model": "PSA-3000", "host-name": "vpn-1", "os-name": "ive-sa", "os-version": "22.7R2.3", "serial-number": "0312", "machine-id": "M1"}}"#
}

/// `realm_auth` logs in once (the realm in the body, the admin's basic
/// credentials), the key is reused, and a 401 with it logs in again once.
#[tokio::test(start_paused = true)]
async fn an_expired_key_logs_in_again_once() {
    let (a, t) = appliance(
        realm_auth(),
        Options::default(),
        vec![
            post(LOGIN, 200, r#"{"api_key":"k1"}"#).auth("basic:monitor"),
            get(SYSINFO, 200, sysinfo()).auth("key:k1"),
            get(SYSINFO, 200, sysinfo()).auth("key:k1"),
            get(SYSINFO, 401, "{}").auth("key:k1"),
            post(LOGIN, 200, r#"{"api_key":"k2"}"#),
            get(SYSINFO, 200, sysinfo()).auth("key:k2"),
        ],
    );
    for _ in 0..3 {
        poll(&a, "system_information").await.unwrap();
    }
    t.finish();
    let calls = t.calls();
    assert_eq!(calls[0].body, Some(json!({"realm": "Admin Users"})));
}

/// Some firmware answers an expired key with 403: one re-login. A 403 to
/// the fresh key is the role's: reported as `auth`, and the next poll
/// does not log in again for it.
#[tokio::test(start_paused = true)]
async fn a_forbidden_role_is_not_a_login_loop() {
    let (a, t) = appliance(
        realm_auth(),
        Options::default(),
        vec![
            post(LOGIN, 200, r#"{"api_key":"k1"}"#),
            get(SYSINFO, 403, "{}").auth("key:k1"),
            post(LOGIN, 200, r#"{"api_key":"k2"}"#),
            get(SYSINFO, 403, "{}").auth("key:k2"),
            get(SYSINFO, 403, "{}").auth("key:k2"),
        ],
    );
    let e = poll(&a, "system_information").await.unwrap_err();
    assert_eq!(e.kind(), "auth", "{e}");
    let e = poll(&a, "system_information").await.unwrap_err();
    assert_eq!(e.kind(), "auth", "{e}");
    t.finish();
}

/// Firmware before `realm_auth` answers 404: the legacy `GET /api/v1/auth`
/// from then on.
#[tokio::test(start_paused = true)]
async fn without_realm_auth_the_legacy_login_is_used() {
    let (a, t) = appliance(
        realm_auth(),
        Options::default(),
        vec![
            post(LOGIN, 404, "{}"),
            get("/api/v1/auth", 200, r#"{"api_key":"k1"}"#).auth("basic:monitor"),
            get(SYSINFO, 200, sysinfo()).auth("key:k1"),
            get(SYSINFO, 401, "{}").auth("key:k1"),
            get("/api/v1/auth", 200, r#"{"api_key":"k2"}"#),
            get(SYSINFO, 200, sysinfo()).auth("key:k2"),
        ],
    );
    poll(&a, "system_information").await.unwrap();
    poll(&a, "system_information").await.unwrap();
    t.finish();
}

const HC: &str = "/api/v1/system/healthcheck";
const CGI: &str = "/dana-na/healthcheck/healthcheck.cgi?status=all";

/// No REST healthcheck (404): healthcheck.cgi gives the figures, and the
/// next poll reads it directly. No credentials are sent to either.
#[tokio::test(start_paused = true)]
async fn without_the_rest_healthcheck_the_cgi_page_is_read() {
    let cgi = "CPU-UTILIZATION=12;SWAP-UTILIZATION=0;DISK-UTILIZATION=40;NUM-OF-USERS=7;";
    let (a, t) = appliance(
        key(),
        Options::default(),
        vec![
            get(HC, 404, "").auth("none"),
            get(CGI, 200, cgi).auth("none"),
            get(CGI, 200, cgi).auth("none"),
        ],
    );
    let out = poll(&a, "healthcheck").await.unwrap();
    assert_eq!(out.value_of("ivanti_cpu_utilization_ratio", ""), Some(0.12));
    assert_eq!(out.value_of("ivanti_gateway_accessible", ""), Some(1.0));
    poll(&a, "healthcheck").await.unwrap();
    t.finish();
}

/// `?status=sbr` is a capability flag read every 5 minutes, not every
/// poll (paused clock: 4 minutes later it is not asked, 6 minutes later
/// it is).
#[tokio::test(start_paused = true)]
async fn sbr_is_read_every_five_minutes() {
    let all = r#"{"CPU-UTILIZATION": 5, "SWAP-UTILIZATION": 0, "DISK-UTILIZATION": 10}"#;
    let sbr = r#"{"SBR-AVAILABLE": 1}"#;
    let (a, t) = appliance(
        key(),
        Options::default(),
        vec![
            get(HC, 200, "OK"),
            get(&format!("{HC}?status=all"), 200, all),
            get(&format!("{HC}?status=sbr"), 200, sbr),
        ],
    );
    poll(&a, "healthcheck").await.unwrap();
    tokio::time::advance(Duration::from_secs(240)).await;
    t.then([
        get(HC, 200, "OK"),
        get(&format!("{HC}?status=all"), 200, all),
    ]);
    poll(&a, "healthcheck").await.unwrap();
    tokio::time::advance(Duration::from_secs(120)).await;
    t.then([
        get(HC, 200, "OK"),
        get(&format!("{HC}?status=all"), 200, all),
        get(&format!("{HC}?status=sbr"), 200, sbr),
    ]);
    poll(&a, "healthcheck").await.unwrap();
    t.finish();
}

/// "Not applicable" is one mechanism for every optional area
/// (`IcsAppliance::get_optional`): 404/405, a redirect (to the sign-in
/// page) or an HTML page is no error and no series, and the endpoint is
/// not asked again for an hour.
mod not_applicable {
    use super::*;
    use crate::kinds::ics::NOT_APPLICABLE_RECHECK;

    const NTP: &str = "/api/v1/system/status/ntp";
    const NTP_OK: &str = r#"{"ntp-status": [{"server": "10.0.0.1", "stratum": "2", "reach": "377", "offset": "1.5", "delay": "2", "jitter": "0.5"}]}"#;

    /// A 9.x appliance answers 404 for the NTP status: the collector
    /// succeeds with nothing, asks nothing for the next hour (the
    /// scripted transport panics on any call it was not given), then asks
    /// again and, after an upgrade, publishes.
    #[tokio::test(start_paused = true)]
    async fn a_404_is_asked_again_only_after_an_hour() {
        let (a, t) = appliance(
            key(),
            Options::default(),
            vec![get(
                NTP,
                404,
                r#"{"result": {"errors": [{"message": "Not found"}]}}"#,
            )],
        );
        assert!(poll(&a, "ntp").await.unwrap().is_empty());
        t.finish();
        for _ in 0..11 {
            tokio::time::advance(Duration::from_secs(300)).await;
            assert!(
                poll(&a, "ntp").await.unwrap().is_empty(),
                "no request, no series"
            );
        }
        assert_eq!(t.calls().len(), 1);
        tokio::time::advance(NOT_APPLICABLE_RECHECK - Duration::from_secs(11 * 300)).await;
        t.then([get(NTP, 200, NTP_OK)]);
        let out = poll(&a, "ntp").await.unwrap();
        t.finish();
        assert_eq!(out.value_of("ivanti_ntp_synchronized", ""), Some(1.0));
        assert_eq!(
            out.value_of("ivanti_ntp_server_offset_seconds", "10.0.0.1"),
            Some(0.0015)
        );
        // Applicable now: asked at every poll.
        t.then([get(NTP, 200, NTP_OK)]);
        poll(&a, "ntp").await.unwrap();
        t.finish();
    }

    /// A redirect to the sign-in page, and an HTML page with 200, are
    /// "not applicable" too; each endpoint is remembered on its own.
    #[tokio::test(start_paused = true)]
    async fn a_redirect_and_an_html_page_are_not_applicable() {
        const STATS: &str = "/api/v1/system/user-stats";
        const OVERVIEW: &str = "/api/v1/system/status/overview";
        let (a, t) = appliance(
            key(),
            Options::default(),
            vec![
                get(STATS, 302, ""),
                get(OVERVIEW, 200, "<!DOCTYPE html><html>Sign In</html>"),
            ],
        );
        assert!(poll(&a, "license_capacity").await.unwrap().is_empty());
        assert!(poll(&a, "status_overview").await.unwrap().is_empty());
        t.finish();
        tokio::time::advance(Duration::from_secs(1800)).await;
        assert!(poll(&a, "license_capacity").await.unwrap().is_empty());
        assert!(poll(&a, "status_overview").await.unwrap().is_empty());
        t.finish();
    }

    /// Errors are not "not applicable": a 500 fails the poll and the
    /// next poll asks again; so does a 403 (the admin role's rights).
    #[tokio::test(start_paused = true)]
    async fn errors_are_not_remembered() {
        const ESAPS: &str =
            "/api/v1/configuration/authentication/endpoint/host-checker/esaps?expand";
        let (a, t) = appliance(
            key(),
            Options::default(),
            vec![
                get(ESAPS, 500, "oops"),
                get(
                    ESAPS,
                    403,
                    r#"{"result": {"errors": [{"message": "Access denied"}]}}"#,
                ),
                get(
                    ESAPS,
                    200,
                    r#"{"active-version": "3.3.5", "default-version": "3.3.5"}"#,
                ),
            ],
        );
        assert_eq!(poll(&a, "host_checker").await.unwrap_err().kind(), "http");
        assert_eq!(poll(&a, "host_checker").await.unwrap_err().kind(), "auth");
        let out = poll(&a, "host_checker").await.unwrap();
        t.finish();
        assert_eq!(
            out.value_of("ivanti_esap_info", r#"active_version="3.3.5""#),
            Some(1.0)
        );
    }

    /// The cluster collector on a stand-alone box goes through the same
    /// mechanism: its 400 error body, or an empty object, is asked again
    /// only after an hour.
    #[tokio::test(start_paused = true)]
    async fn a_standalone_cluster_answer_is_asked_again_hourly() {
        const CLUSTER: &str = "/api/v1/cluster";
        let standalone =
            r#"{"result": {"errors": [{"message": "Node is not part of a cluster"}]}}"#;
        let (a, t) = appliance(
            key(),
            Options::default(),
            vec![get(CLUSTER, 400, standalone)],
        );
        assert!(poll(&a, "cluster").await.unwrap().is_empty());
        tokio::time::advance(NOT_APPLICABLE_RECHECK - Duration::from_secs(1)).await;
        assert!(poll(&a, "cluster").await.unwrap().is_empty());
        t.finish();
        tokio::time::advance(Duration::from_secs(1)).await;
        t.then([get(CLUSTER, 200, "{}")]);
        assert!(poll(&a, "cluster").await.unwrap().is_empty());
        t.finish();
        tokio::time::advance(Duration::from_secs(1800)).await;
        assert!(
            poll(&a, "cluster").await.unwrap().is_empty(),
            "the empty object is remembered too"
        );
        t.finish();
    }
}

/// `kind_options.identifiers: hide` publishes `ivanti_system_info` without
/// the serial number and machine id (issue 25); by default they are there.
#[tokio::test(start_paused = true)]
async fn identifiers_can_be_hidden() {
    for (hide, shown) in [(false, true), (true, false)] {
        let options = Options {
            hide_identifiers: hide,
            ..Options::default()
        };
        let (a, t) = appliance(key(), options, vec![get(SYSINFO, 200, sysinfo())]);
        let out = poll(&a, "system_information").await.unwrap();
        t.finish();
        let info = out
            .series()
            .iter()
            .find(|s| s.desc.name == "ivanti_system_info")
            .unwrap();
        assert_eq!(
            info.labels.contains("serial_number=\"0312\""),
            shown,
            "{}",
            info.labels
        );
        assert_eq!(
            info.labels.contains("machine_id=\"M1\""),
            shown,
            "{}",
            info.labels
        );
        assert!(info.labels.contains("host_name=\"vpn-1\""));
    }
}

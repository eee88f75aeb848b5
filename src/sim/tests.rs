//! The simulator against its own documented behaviour.

use super::cli::{parse_faults, run, FaultPlan, SimulateArgs};
use super::data;
use super::faults::{huge_body_parts, Fault, HUGE_BODY_CHUNKS};
use super::fleet::{Appliance, Fleet, FleetOptions, Profile, State};
use super::request::{query_number, query_value};
use crate::kinds::ics::{active_users, cluster, healthcheck, license, system_information};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A default HTTPS fleet of `n` appliances.
async fn fleet_of(n: usize) -> Fleet {
    Fleet::start(FleetOptions {
        appliances: n,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn client(fleet: &Fleet) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in crate::tls::parse_ca_pem(fleet.ca_pem().unwrap().as_bytes()).unwrap() {
        roots.add(c).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(c: &reqwest::Client, a: &Appliance, path: &str, key: Option<&str>) -> (u16, Vec<u8>) {
    let mut r = c.get(format!("{}{}", a.url(), path));
    if let Some(k) = key {
        r = r.basic_auth(k, Some(""));
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn serves_every_endpoint_in_the_guides_shapes() {
    let fleet = fleet_of(6).await;
    let c = client(&fleet).await;
    let key = Some("sim-api-key");
    for (i, a) in fleet.appliances().iter().enumerate() {
        let (s, b) = get(&c, a, "/api/v1/system/healthcheck?status=all", None).await;
        assert_eq!(s, 200);
        let h = healthcheck::parse_status(&b).unwrap();
        assert!(h.cpu_percent.is_some());
        let (s, b) = get(&c, a, "/api/v1/system/system-information", key).await;
        assert_eq!(s, 200);
        assert_eq!(
            system_information::parse(&b).unwrap().info.host_name,
            a.name()
        );
        let (s, b) = get(&c, a, "/api/v1/cluster", key).await;
        match Profile::for_index(i) {
            Profile::ClusterActivePassive | Profile::ClusterActiveActive => {
                assert_eq!(s, 200);
                assert!(cluster::parse(&b).unwrap().is_some());
            }
            _ => assert_eq!(s, 404),
        }
        let (s, b) = get(
            &c,
            a,
            "/api/v1/license/license-server-lease-information",
            key,
        )
        .await;
        if Profile::for_index(i) == Profile::LicenseServer {
            assert_eq!(s, 200);
            assert_eq!(license::parse_leases(&b).unwrap().features.len(), 2);
        } else {
            assert_eq!(s, 404);
        }
        let (s, b) = get(&c, a, "/api/v1/license/named-users", key).await;
        assert_eq!(s, 200);
        assert!(!license::parse_named_users(&b).unwrap().is_empty());
    }
    let stats = fleet.appliance(0).stats();
    assert_eq!(stats.tls_handshakes, 1, "one keep-alive connection");
    assert_eq!(stats.requests, 5);
}

/// A vendor fixture's bytes as checked in.
fn fixture_file(rel: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A path the simulator has no model of is served from its vendor fixture,
/// behind the product's auth and method rules; modelled paths keep the
/// live model; a path with neither is the product's 404.
#[tokio::test]
async fn unmodelled_paths_serve_their_vendor_fixture() {
    let fleet = fleet_of(1).await;
    let c = client(&fleet).await;
    let a = fleet.appliance(0);
    let key = Some("sim-api-key");
    let pps = fixture_file("ics/api/v1/license/named-users/pps.json");
    let path = "/api/v1/license/named-users/pps";

    let (s, b) = get(&c, a, path, None).await;
    assert_eq!(s, 401);
    assert_eq!(
        serde_json::from_slice::<Value>(&b).unwrap(),
        json!({ "result": { "errors": [ { "message": "Authentication failed" } ] } })
    );
    let (s, b) = get(&c, a, path, Some("not-the-key")).await;
    assert_eq!((s, b.is_empty()), (401, false));
    assert_eq!(get(&c, a, path, key).await, (200, pps.clone()));
    // A query no fixture names falls back to the bare path's file.
    assert_eq!(
        get(&c, a, &format!("{path}?detail=1"), key).await,
        (200, pps.clone())
    );
    // The exporter only reads: any other method is refused first.
    let post = c
        .post(format!("{}{path}", a.url()))
        .basic_auth("sim-api-key", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405);

    // Modelled: the live model, not the guide's sample next to it.
    let sample = fixture_file("ics/api/v1/system/system-information.json");
    let (s, b) = get(&c, a, "/api/v1/system/system-information", key).await;
    assert_eq!(s, 200);
    assert_ne!(b, sample);
    assert_eq!(
        system_information::parse(&b).unwrap().info.host_name,
        a.name()
    );

    // Neither modelled nor a fixture: 404, and still 401 without a key.
    let (s, b) = get(&c, a, "/api/v1/system/no-such-area", key).await;
    assert_eq!(s, 404);
    assert_eq!(
        serde_json::from_slice::<Value>(&b).unwrap(),
        json!({ "result": { "errors": [ { "message": "Not found" } ] } })
    );
    assert_eq!(get(&c, a, "/api/v1/system/no-such-area", None).await.0, 401);

    // Faults spoil a fixture as they spoil a model's answer.
    a.set_fault(Fault::BrokenJson);
    assert_eq!(
        get(&c, a, path, key).await,
        (200, pps[..pps.len() / 2].to_vec())
    );
}

#[tokio::test]
async fn pages_of_200_without_duplicates() {
    let fleet = fleet_of(1).await;
    let a = fleet.appliance(0);
    a.set_sessions(450);
    let c = client(&fleet).await;
    let mut b = active_users::Breakdown::default();
    let mut pages = 0;
    for start in [1, 201, 401] {
        let (s, body) = get(
            &c,
            a,
            &format!("/api/v1/system/active-users?number=500&start={start}"),
            Some("sim-api-key"),
        )
        .await;
        assert_eq!(s, 200);
        let p = active_users::parse(&body).unwrap();
        assert_eq!(p.total_matched, 450);
        assert_eq!(p.is_last_record, Some(start == 401));
        assert_eq!(b.add(p.records), if start == 401 { 50 } else { 200 });
        pages += 1;
    }
    assert_eq!((pages, b.records()), (3, 450));
}

#[tokio::test]
async fn auth_login_revocation_and_faults() {
    let fleet = fleet_of(1).await;
    let a = fleet.appliance(0);
    let c = client(&fleet).await;
    assert_eq!(get(&c, a, "/api/v1/cluster", None).await.0, 401);
    assert_eq!(get(&c, a, "/api/v1/cluster", Some("wrong")).await.0, 401);
    let (status, body) = login(&c, a).await;
    assert_eq!(status, 200);
    let key = body["api_key"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&c, a, "/api/v1/system/system-information", Some(&key))
            .await
            .0,
        200
    );
    a.revoke_keys();
    assert_eq!(
        get(&c, a, "/api/v1/system/system-information", Some(&key))
            .await
            .0,
        401
    );
    assert_eq!(a.stats().logins, 1);
    a.set_fault(Fault::HtmlLogin);
    let (s, b) = get(&c, a, "/api/v1/system/healthcheck", None).await;
    assert_eq!(s, 200);
    assert!(b.starts_with(b"<!DOCTYPE html>"));
    a.set_fault(Fault::ServiceUnavailable);
    assert_eq!(get(&c, a, "/api/v1/system/healthcheck", None).await.0, 503);
    a.set_fault(Fault::None);
    let deletes = c
        .delete(format!("{}/api/v1/system/active-users?all", a.url()))
        .basic_auth("sim-api-key", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(deletes.status(), 405);
    assert_eq!(
        a.stats().by_method_path.get(&(
            "DELETE".to_owned(),
            "/api/v1/system/active-users".to_owned()
        )),
        Some(&1)
    );
}

#[test]
fn fault_specs() {
    assert_eq!(
        parse_faults("3=hang, 5=unauthorized").unwrap(),
        FaultPlan::Fixed(vec![(2, Fault::Hang), (4, Fault::Unauthorized)])
    );
    assert_eq!(parse_faults("ratio=0.2").unwrap(), FaultPlan::Ratio(0.2));
    assert!(parse_faults("0=hang").is_err());
    assert!(parse_faults("1=explode").is_err());
    assert_eq!(parse_faults("").unwrap(), FaultPlan::Fixed(vec![]));
}

#[tokio::test]
async fn refuses_non_loopback() {
    let r = Fleet::start(FleetOptions {
        listen: "192.0.2.1".parse().unwrap(),
        ..Default::default()
    })
    .await;
    assert!(r.is_err());
}

async fn start(n: usize) -> Fleet {
    fleet_of(n).await
}

async fn login(c: &reqwest::Client, a: &Appliance) -> (u16, Value) {
    let (realm, user, pass) = FleetOptions::default().admin;
    let resp = c
        .post(format!("{}/api/v1/realm_auth", a.url()))
        .basic_auth(&user, Some(&pass))
        .header("content-type", "application/json")
        .body(json!({ "realm": realm }).to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn get_json(c: &reqwest::Client, a: &Appliance, path: &str) -> Value {
    let (s, b) = get(c, a, path, Some("sim-api-key")).await;
    assert_eq!(s, 200, "{path}");
    serde_json::from_slice(&b).unwrap()
}

#[tokio::test]
async fn wrong_credentials_and_second_factor() {
    let fleet = start(1).await;
    let a = fleet.appliance(0);
    let c = client(&fleet).await;
    let resp = c
        .post(format!("{}/api/v1/realm_auth", a.url()))
        .basic_auth("monitor", Some("wrong"))
        .body(r#"{"realm": "Admin Users"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert!(body["result"]["errors"][0]["message"].is_string());
    // Legacy login on 22.x still answers.
    let resp = c
        .get(format!("{}/api/v1/auth", a.url()))
        .basic_auth("monitor", Some("sim-Passw0rd!"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    a.set_fault(Fault::SecondFactor);
    let (s, v) = login(&c, a).await;
    assert_eq!(s, 200);
    assert!(
        v["resume_id"].is_string() && v.get("api_key").is_none(),
        "{v}"
    );
    assert_eq!(a.stats().logins, 3);
}

#[tokio::test]
async fn faults_answer_the_documented_way() {
    let fleet = start(1).await;
    let a = fleet.appliance(0);
    let c = client(&fleet).await;
    let info = "/api/v1/system/system-information";
    let key = Some("sim-api-key");

    a.set_fault(Fault::Redirect);
    let resp = c.get(format!("{}{info}", a.url())).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        "/dana-na/auth/url_default/welcome.cgi"
    );

    a.set_fault(Fault::HtmlLogin);
    let resp = c.get(format!("{}{info}", a.url())).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    a.set_fault(Fault::Forbidden);
    assert_eq!(get(&c, a, info, key).await.0, 403);
    assert_eq!(
        get(&c, a, "/api/v1/system/healthcheck", None).await.0,
        200,
        "the healthcheck needs no auth"
    );
    a.set_fault(Fault::Unauthorized);
    assert_eq!(get(&c, a, info, key).await.0, 401);
    a.set_fault(Fault::ServerError);
    let (s, b) = get(&c, a, info, key).await;
    assert_eq!(s, 500);
    assert!(serde_json::from_slice::<Value>(&b).unwrap()["result"]["errors"].is_array());

    a.set_fault(Fault::BrokenJson);
    let (s, b) = get(&c, a, info, key).await;
    assert_eq!(s, 200);
    assert!(serde_json::from_slice::<Value>(&b).is_err());

    a.set_fault(Fault::TruncatedBody);
    let resp = c
        .get(format!("{}{info}", a.url()))
        .basic_auth("sim-api-key", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err(), "the body is cut short");

    a.set_fault(Fault::HugeBody);
    let mut resp = c
        .get(format!("{}{info}", a.url()))
        .basic_auth("sim-api-key", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut head = Vec::new();
    while head.len() < 1 << 20 {
        head.extend_from_slice(&resp.chunk().await.unwrap().unwrap());
    }
    assert!(head.starts_with(br#"{"active-users":{"active-user-records""#));
    drop(resp);
    let (_, chunk, _) = huge_body_parts();
    assert!(chunk.len() * HUGE_BODY_CHUNKS >= 64 << 20);

    a.set_fault(Fault::Latency(Duration::from_millis(200)));
    let t0 = Instant::now();
    assert_eq!(get(&c, a, info, key).await.0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(200));

    a.set_fault(Fault::Hang);
    let r = c
        .get(format!("{}/api/v1/system/healthcheck", a.url()))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());

    a.set_fault(Fault::None);
    assert_eq!(get(&c, a, info, key).await.0, 200);
}

#[tokio::test]
async fn refuse_stops_listening_and_none_listens_again_on_the_same_port() {
    let fleet = start(1).await;
    let a = fleet.appliance(0);
    let url = format!("{}/api/v1/system/healthcheck", a.url());
    a.set_fault(Fault::Refuse);
    let mut refused = false;
    for _ in 0..40 {
        // A fresh client: no pooled connection.
        match client(&fleet).await.get(&url).send().await {
            Err(e) if e.is_connect() => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(refused, "connections are refused");
    a.set_fault(Fault::None);
    let mut back = false;
    for _ in 0..40 {
        if let Ok(r) = client(&fleet).await.get(&url).send().await {
            back = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "listening again at {url}");
}

#[tokio::test]
async fn flap_alternates_between_refusing_and_answering() {
    let fleet = start(1).await;
    let a = fleet.appliance(0);
    let url = format!("{}/api/v1/system/healthcheck", a.url());
    a.set_fault(Fault::parse("flap:200ms").unwrap());
    let (mut refused, mut answered) = (0, 0);
    for _ in 0..30 {
        match client(&fleet).await.get(&url).send().await {
            Err(e) if e.is_connect() => refused += 1,
            Ok(r) if r.status() == 200 => answered += 1,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused > 0 && answered > 0,
        "refused {refused}, answered {answered} of 30"
    );
}

#[tokio::test]
async fn stats_count_connections_handshakes_and_concurrency() {
    let fleet = start(1).await;
    let a = fleet.appliance(0);
    let c = client(&fleet).await;
    a.set_fault(Fault::Latency(Duration::from_millis(300)));
    let path = "/api/v1/system/healthcheck";
    let (r1, r2, r3) = tokio::join!(
        get(&c, a, path, None),
        get(&c, a, path, None),
        get(&c, a, path, None)
    );
    assert_eq!((r1.0, r2.0, r3.0), (200, 200, 200));
    a.set_fault(Fault::None);
    for _ in 0..5 {
        assert_eq!(get(&c, a, path, None).await.0, 200);
    }
    let s = a.stats();
    assert_eq!(s.requests, 8);
    assert_eq!(s.max_in_flight, 3);
    assert_eq!(s.connections, 3, "sequential requests reuse connections");
    assert_eq!(s.tls_handshakes, 3);
    assert_eq!(
        s.by_method_path
            .get(&("GET".to_owned(), path.to_owned()))
            .copied(),
        Some(8)
    );
}

#[tokio::test]
async fn profiles_and_conditions() {
    let fleet = start(1).await;
    let a = fleet.appliance(0);
    let c = client(&fleet).await;

    // Old firmware.
    a.set_profile(Profile::OldFirmware);
    let h = get_json(&c, a, "/api/v1/system/healthcheck?status=all").await;
    assert!(h["CPU-UTILIZATION4"].is_string(), "{h}");
    assert!(h.get("CPU-UTILIZATION").is_none());
    assert!(h["USER-COUNT"].is_string());
    let info = get_json(&c, a, "/api/v1/system/system-information").await;
    assert!(info["system-information"].get("machine-id").is_none());
    assert_eq!(login(&c, a).await.0, 404);
    let resp = c
        .get(format!("{}/api/v1/auth", a.url()))
        .basic_auth("monitor", Some("sim-Passw0rd!"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let key: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let key = key["api_key"].as_str().unwrap().to_owned();
    assert_eq!(get(&c, a, "/api/v1/cluster", Some(&key)).await.0, 404);

    // Stand-alone: cluster and leases are 404 with the ICS error body.
    a.set_profile(Profile::Standalone);
    let h = get_json(&c, a, "/api/v1/system/healthcheck?status=all").await;
    assert!(h["CPU-UTILIZATION"].is_u64(), "{h}");
    for p in [
        "/api/v1/cluster",
        "/api/v1/license/license-server-lease-information",
    ] {
        let (s, b) = get(&c, a, p, Some("sim-api-key")).await;
        assert_eq!(s, 404);
        assert!(
            serde_json::from_slice::<Value>(&b).unwrap()["result"]["errors"][0]["message"]
                .is_string()
        );
    }
    assert_eq!(
        get_json(&c, a, "/api/v1/system/healthcheck?status=sbr").await,
        json!({ "SBR-AVAILABLE": 1 })
    );

    // Active/Passive: VIPs, controllable failover, unreachable peer.
    a.set_profile(Profile::ClusterActivePassive);
    let v = get_json(&c, a, "/api/v1/cluster").await;
    assert_eq!(v["mode"], "Active/Passive");
    let owner = v["external-vip-owner"].as_str().unwrap().to_owned();
    assert_eq!(v["internal-vip-owner"], owner.as_str());
    assert_eq!(v["members"][0]["status-code"], "0x1b004");
    a.failover();
    let v = get_json(&c, a, "/api/v1/cluster").await;
    assert_ne!(v["external-vip-owner"], owner.as_str(), "failed over");
    a.set_member_unreachable(true);
    let v = get_json(&c, a, "/api/v1/cluster").await;
    assert_eq!(v["members"][1]["status-code"], "0x18");
    assert_eq!(v["members"][1]["notes"], "Enabled, Unreachable");
    a.set_member_unreachable(false);

    // Active/Active: no VIPs, `external-network`.
    a.set_profile(Profile::ClusterActiveActive);
    let v = get_json(&c, a, "/api/v1/cluster").await;
    assert_eq!(v["mode"], "Active/Active");
    assert!(v.get("external-vip-owner").is_none());
    assert!(v["members"][0].get("external-network").is_some());

    // License server, then licenses running out.
    a.set_profile(Profile::LicenseServer);
    let leased = |v: &Value| -> (u64, u64) {
        let f = &v["leased-license-counts"]["features"]["feature"];
        let cu = f
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "Concurrent Users")
            .unwrap();
        let sum = cu["clients"]["client-info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["leased-count"].as_u64().unwrap())
            .sum();
        (sum, cu["total-count"].as_u64().unwrap())
    };
    let v = get_json(&c, a, "/api/v1/license/license-server-lease-information").await;
    let (sum, total) = leased(&v);
    assert!(sum < total);
    let n = get_json(&c, a, "/api/v1/license/named-users").await;
    assert!(n["pcs"]["named-users"].is_array() && n["pps"]["named-users"].is_array());
    a.set_licenses_exhausted(true);
    let v = get_json(&c, a, "/api/v1/license/license-server-lease-information").await;
    let (sum, total) = leased(&v);
    assert_eq!(sum, total);
    let h = get_json(&c, a, "/api/v1/system/healthcheck?status=all").await;
    assert_eq!(h["MAX-LICENSED-USERS-REACHED"], "YES");

    // Logins disabled.
    a.set_logins_disabled(true);
    let u = get_json(&c, a, "/api/v1/system/active-users?number=1").await;
    assert_eq!(u["active-users"]["user-login-permission"], false);
}

#[tokio::test]
async fn paging_bases_name_filter_and_consistent_counts() {
    let fleet = start(1).await;
    let a = fleet.appliance(0);
    let c = client(&fleet).await;
    a.set_sessions(300);
    let ids = |v: &Value| -> Vec<String> {
        v["active-users"]["active-user-records"]["active-user-record"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["session-id"].as_str().unwrap().to_owned())
            .collect()
    };
    let p = "/api/v1/system/active-users";
    let default = get_json(&c, a, p).await;
    assert_eq!(ids(&default).len(), 200, "default page of 200");
    assert_eq!(default["active-users"]["is-last-record"], false);
    let capped = get_json(&c, a, &format!("{p}?number=1000")).await;
    assert_eq!(ids(&capped).len(), 200, "hard cap of 200");
    let s0 = get_json(&c, a, &format!("{p}?number=10&start=0")).await;
    let s1 = get_json(&c, a, &format!("{p}?number=10&start=1")).await;
    assert_eq!(ids(&s0), ids(&s1), "start=0 reads as start=1");
    let s2 = get_json(&c, a, &format!("{p}?number=10&start=2")).await;
    assert_eq!(ids(&s2)[0], ids(&s1)[1]);
    a.set_zero_based_paging(true);
    let z1 = get_json(&c, a, &format!("{p}?number=10&start=1")).await;
    assert_eq!(ids(&z1)[0], ids(&s1)[1], "0-based: start=1 is the second");
    a.set_zero_based_paging(false);
    let one = get_json(&c, a, &format!("{p}?number=1")).await;
    assert_eq!(one["active-users"]["total-matched-record-number"], 300);
    assert_eq!(one["active-users"]["total-returned-record-number"], 1);

    // Every record, and the healthcheck agreeing with them.
    let mut all = Vec::new();
    for start in [1, 201] {
        let v = get_json(&c, a, &format!("{p}?number=200&start={start}")).await;
        all.extend(
            v["active-users"]["active-user-records"]["active-user-record"]
                .as_array()
                .unwrap()
                .clone(),
        );
    }
    assert_eq!(all.len(), 300);
    let tunnels = all
        .iter()
        .filter(|r| !r["network-connect-ip"].is_null())
        .count();
    let browser = all
        .iter()
        .filter(|r| r["network-connect-transport-mode"].is_null())
        .count();
    assert!(tunnels > 0 && browser > 0);
    for r in &all {
        let has_tunnel = !r["network-connect-transport-mode"].is_null();
        assert_eq!(r.get("pulse-client-version").is_some(), has_tunnel, "{r}");
        let t = r["user-sign-in-time"].as_str().unwrap();
        assert_eq!(
            (t.len(), &t[4..5], &t[10..11]),
            (19, "/", " "),
            "2018/08/23 11:45:40 style: {t}"
        );
    }
    let h = get_json(&c, a, "/api/v1/system/healthcheck?status=all").await;
    assert_eq!(h["USER-COUNT"], 300);
    assert_eq!(h["VPN-TUNNEL-COUNT"], tunnels as u64);

    // `name=` filters to one user's sessions.
    let user = all[0]["active-user-name"].as_str().unwrap();
    let want = all.iter().filter(|r| r["active-user-name"] == user).count();
    let v = get_json(&c, a, &format!("{p}?name={user}")).await;
    assert_eq!(
        v["active-users"]["total-matched-record-number"],
        want as u64
    );
    assert_eq!(ids(&v).len(), want);
}

#[test]
fn sessions_end_and_start_over_time() {
    let state = State::new(Profile::Standalone);
    let view = |t: f64| data::View {
        seed: 42,
        name: "sim-001",
        index: 0,
        t,
        started_unix: 1.8e9,
        mean_sessions: 100,
        state: &state,
    };
    let ids = |t: f64| -> HashSet<String> {
        view(t).active_users(Some(200), None, None)["active-users"]["active-user-records"]
            ["active-user-record"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["session-id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (a, b, c) = (ids(0.0), ids(5.0), ids(4.0 * 3600.0));
    assert!(a.len() >= 40, "{}", a.len());
    let kept = |x: &HashSet<String>, y: &HashSet<String>| x.intersection(y).count();
    assert!(kept(&a, &b) >= a.len() * 9 / 10, "few sessions end in 5 s");
    assert!(kept(&a, &c) <= a.len() / 10, "most have ended after 4 h");
    // A page of 100 records is cheap.
    let t0 = Instant::now();
    for _ in 0..10 {
        let _ = view(1.0).active_users(Some(100), Some(1), None).to_string();
    }
    assert!(t0.elapsed() < Duration::from_secs(1));
    // Numbers move but stay percentages.
    for t in [0.0, 600.0, 7200.0] {
        let h = view(t).health_all();
        let cpu = h["CPU-UTILIZATION"].as_i64().unwrap();
        assert!((0..=100).contains(&cpu), "{cpu}");
    }
}

#[test]
fn query_values_are_form_decoded() {
    let q = Some("name=Admin%20Users+x%zz&number=25&start=&number=7");
    assert_eq!(query_value(q, "name").as_deref(), Some("Admin Users x%zz"));
    // The first occurrence wins; an empty or non-numeric value is no number.
    assert_eq!(query_number::<usize>(q, "number"), Some(25));
    assert_eq!(query_number::<usize>(q, "start"), None);
    assert_eq!(query_value(q, "start").as_deref(), Some(""));
    assert_eq!(query_value(Some("%"), "%").as_deref(), Some(""));
    assert_eq!(query_value(None, "name"), None);
}

#[tokio::test]
async fn config_yaml_is_a_valid_exporter_config() {
    let fleet = start(4).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("fleet-ca.pem");
    std::fs::write(&ca, fleet.ca_pem().unwrap()).unwrap();
    let yaml = fleet.config_yaml(Some(&ca), Duration::from_secs(15));
    assert!(yaml.starts_with("# generated by `ivanti-exporter simulate`\n"));
    assert!(yaml.contains("  interval: 15s\n  timeout: 5s\n"), "{yaml}");
    let cfg = crate::config::Config::from_yaml(&yaml, dir.path()).unwrap();
    assert_eq!(cfg.targets.len(), 4);
    assert_eq!(cfg.targets[0].name, "sim-001");
    assert_eq!(
        cfg.targets[0].client.url.as_str().trim_end_matches('/'),
        fleet.appliance(0).url()
    );
    assert!(cfg.targets[0].labels.iter().any(|(k, _)| k == "site"));
    fleet.shutdown().await;

    // Plain HTTP: no CA, no tls_config.
    let fleet = Fleet::start(FleetOptions {
        appliances: 2,
        tls: false,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(fleet.ca_pem().is_none());
    assert!(fleet.appliance(1).url().starts_with("http://127.0.0.1:"));
    let yaml = fleet.config_yaml(None, Duration::from_secs(15));
    assert!(!yaml.contains("tls_config"));
    crate::config::Config::from_yaml(&yaml, dir.path()).unwrap();
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!(
            "{}/api/v1/system/healthcheck",
            fleet.appliance(1).url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn run_writes_config_and_ca_then_serves_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.yml");
    let args = simulate_args(&[
        "--appliances=3",
        "--seed=7",
        "--sessions=10",
        "--faults=2=timeout",
        "--write-config",
        path.to_str().unwrap(),
    ]);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(args, async {
        let _ = rx.await;
    }));
    // Until it is there in full (the last target and the final newline),
    // not merely created.
    let deadline = Instant::now() + Duration::from_secs(10);
    let yaml = loop {
        match std::fs::read_to_string(&path) {
            Ok(y) if y.contains("name: sim-003") && y.ends_with('\n') => break y,
            _ => {}
        }
        assert!(Instant::now() < deadline, "config written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ca = dir.path().join("sim-ca.pem");
    assert!(std::fs::read_to_string(&ca)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(yaml.contains(&ca.display().to_string()), "{yaml}");
    let cfg = crate::config::Config::from_yaml(&yaml, dir.path()).unwrap();
    assert_eq!(cfg.targets.len(), 3);
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Non-loopback addresses are refused by `run` too.
    let args = simulate_args(&[
        "--appliances=1",
        "--http",
        "--listen-address=0.0.0.0",
        "--sessions=1",
    ]);
    assert!(run(args, async {}).await.is_err());
}

/// `simulate` with `flags`, clap's defaults for the rest (as the command
/// line gives them).
fn simulate_args(flags: &[&str]) -> SimulateArgs {
    #[derive(clap::Parser)]
    struct Simulate {
        #[command(flatten)]
        args: SimulateArgs,
    }
    <Simulate as clap::Parser>::try_parse_from(
        std::iter::once("simulate").chain(flags.iter().copied()),
    )
    .unwrap()
    .args
}

#[test]
fn latency_fault_spec() {
    assert_eq!(
        Fault::parse("latency:250ms"),
        Some(Fault::Latency(Duration::from_millis(250)))
    );
    assert_eq!(Fault::parse("latency:soon"), None);
    for name in Fault::CYCLE {
        assert!(Fault::parse(name).is_some(), "{name}");
    }
}

/// The four areas of issue 22 as the exporter's parsers read them: user
/// stats (none allocated on a license server), NTP (404 on 9.x), the ESAP
/// list, and an overview whose boot time is the same at every poll.
#[test]
fn signals_areas_read_as_the_exporter_reads_them() {
    use crate::kinds::ics::{host_checker, license_capacity, ntp, status_overview};
    fn view(state: &State, t: f64) -> data::View<'_> {
        data::View {
            seed: 42,
            name: "sim-001",
            index: 0,
            t,
            started_unix: 1.8e9,
            mean_sessions: 100,
            state,
        }
    }
    let standalone = &State::new(Profile::Standalone);
    let old = &State::new(Profile::OldFirmware);
    let server = &State::new(Profile::LicenseServer);
    let stats =
        |s| license_capacity::parse(view(s, 60.0).user_stats().to_string().as_bytes()).unwrap();
    assert_eq!(stats(standalone).allocated, Some(200.0));
    assert_eq!(stats(server).allocated, Some(0.0));
    assert!(view(old, 0.0).ntp().is_none(), "9.x: 404");
    let servers = ntp::parse(view(standalone, 0.0).ntp().unwrap().to_string().as_bytes()).unwrap();
    assert_eq!(servers.len(), 2);
    assert!(servers[0].synchronized() && !servers[1].synchronized());
    let esaps = host_checker::parse(view(standalone, 0.0).esaps().to_string().as_bytes()).unwrap();
    assert_eq!(esaps.activated, Some(1.8e9 - 30.0 * 86_400.0));
    let mut boot = None;
    let mut boots = Vec::new();
    for t in [0.0, 300.7, 7200.2] {
        let o =
            status_overview::parse(view(standalone, t).overview().to_string().as_bytes()).unwrap();
        let mut out = crate::exposition::Samples::new();
        status_overview::samples(&o, 1.8e9 + t, 1.8e9 + t, &mut boot, &mut out);
        boots.push(out.value_of("ivanti_boot_time_seconds", ""));
        assert_eq!(
            out.value_of("ivanti_last_config_change_timestamp_seconds", ""),
            Some(1.8e9 - 3.0 * 86_400.0)
        );
    }
    // 12 days and 42 s before the fleet started, at every poll.
    assert_eq!(boots, [Some(1.8e9 - 12.0 * 86_400.0 - 42.0); 3]);
}

//! /probe serves one configured target from the cache and refuses anything else.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn probe_serves_configured_targets_only() {
    let (fleet, exp) = fleet_and_app(2, "", |_| String::new()).await;
    let (a, b) = (
        fleet.appliance(0).name().to_owned(),
        fleet.appliance(1).name().to_owned(),
    );
    exp.wait_for("up", WAIT, |m| up(m, &a) && up(m, &b)).await;

    let (status, ct, body) = exp.get(&format!("/probe?target={a}")).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let m = Metrics::parse(&body);
    assert!(m.has("ivanti_up", &[("target", &a)]));
    assert!(
        m.samples.iter().all(|s| s.labels.get("target") == Some(&a)),
        "only that target"
    );
    assert!(!m.has("ivanti_exporter_targets", &[]));

    // A trap on loopback: any connection to it would be an SSRF.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_url = format!("https://{}", trap.local_addr().unwrap());
    let before = fleet.appliance(0).stats().requests;
    for bad in [
        format!("/probe?target={}", urlencode(&trap_url)),
        format!("/probe?target={}", urlencode(fleet.appliance(0).url())),
        "/probe?target=unknown".into(),
        "/probe".into(),
    ] {
        let (status, _, _) = exp.get(&bad).await;
        assert!((400..500).contains(&status), "{bad}: {status}");
    }
    let accepted = tokio::time::timeout(Duration::from_millis(500), trap.accept()).await;
    assert!(
        accepted.is_err(),
        "the exporter connected to a URL given in /probe"
    );
    // /probe reads the cache: it caused no request to the appliance beyond the schedule.
    let _ = before;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

//! Reload (SIGHUP and POST /-/reload), a rejected reload, readiness, and
//! graceful shutdown.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn reload_adds_targets_and_rejects_bad_configs() {
    let fleet = fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let full = config_for(&fleet, &ca, "", |_| String::new());
    // Start with the first target only.
    let (a, b) = (
        fleet.appliance(0).name().to_owned(),
        fleet.appliance(1).name().to_owned(),
    );
    let first_only = full
        .split(&format!("  - name: {b}"))
        .next()
        .unwrap()
        .to_owned();
    let mut exp = Exporter::start_in(dir, &first_only, &[]);
    let (status, _, _) = exp.get("/-/ready").await;
    assert_eq!(status, 200);
    exp.wait_for("a up", WAIT, |m| up(m, &a)).await;

    // SIGHUP with both targets: b appears, a keeps its state (its counters continue).
    std::fs::write(&exp.config_path, &full).unwrap();
    exp.signal("HUP");
    let m = exp.wait_for("b up", WAIT, |m| up(m, &b) && up(m, &a)).await;
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(2.0));
    assert!(exp.logs().contains("\"kept\":1"), "unchanged target kept");

    // A broken config is rejected; the old one keeps running.
    std::fs::write(
        &exp.config_path,
        "targets:\n  - name: x\n    url: not a url\n",
    )
    .unwrap();
    let (status, body) = exp.post("/-/reload").await;
    assert_eq!(status, 500);
    assert!(body.contains("targets[0].url"), "{body}");
    let m = exp.metrics().await;
    assert_eq!(
        m.get("ivanti_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(m.get("ivanti_exporter_targets", &[]), Some(2.0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m = exp.metrics().await;
    assert!(up(&m, &a) && up(&m, &b));

    // A good config again: removal of b via POST /-/reload.
    std::fs::write(&exp.config_path, &first_only).unwrap();
    let (status, _) = exp.post("/-/reload").await;
    assert_eq!(status, 200);
    let m = exp.metrics().await;
    assert_eq!(
        m.get("ivanti_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert!(!m.has("ivanti_up", &[("target", &b)]));

    // GET on /-/reload is not allowed.
    let (status, _, _) = exp.get("/-/reload").await;
    assert_eq!(status, 405);

    // SIGTERM: graceful exit with status 0.
    exp.signal("TERM");
    assert_eq!(exp.wait_exit(Duration::from_secs(15)), Some(0));
}

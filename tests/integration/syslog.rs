//! The syslog receiver over loopback: a simulated appliance's integrity scan
//! raises the metrics of that appliance only; a flood of garbage and
//! oversized datagrams is counted and leaves polling on schedule.

use crate::helpers::*;
use ivanti_exporter::sim::syslog as sim;
use std::net::SocketAddr;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_scan_and_failed_signins_reach_their_target_and_garbage_is_counted() {
    let fleet = fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let (udp, tcp) = (free_port(), free_port());
    let config = format!(
        "{}syslog:\n  udp_listen_address: 127.0.0.1:{udp}\n  tcp_listen_address: 127.0.0.1:{tcp}\n  rate_limit: 100000\n",
        config_for(&fleet, &ca, "", |_| String::new())
    );
    let app = App::spawn_in(dir, &config).await;
    let (a, b) = (fleet.appliance(0).name(), fleet.appliance(1).name());
    let udp: SocketAddr = format!("127.0.0.1:{udp}").parse().unwrap();
    let tcp: SocketAddr = format!("127.0.0.1:{tcp}").parse().unwrap();

    // Both appliances share 127.0.0.1: each is known by the host name in its messages.
    sim::send_tcp(tcp, &sim::integrity_scan(a, 3, 2))
        .await
        .unwrap();
    sim::send_udp(udp, &sim::failed_signins(b, "Users", 5))
        .await
        .unwrap();
    let m = app
        .wait_for("the scan and the sign-ins", WAIT, |m| {
            m.get("ivanti_syslog_messages_total", &[("target", a)]) == Some(4.0)
                && m.get(
                    "ivanti_signin_failures_total",
                    &[("target", b), ("realm", "Users")],
                ) == Some(5.0)
        })
        .await;
    assert_eq!(
        m.get("ivanti_integrity_scan_new_files", &[("target", a)]),
        Some(3.0)
    );
    assert_eq!(
        m.get("ivanti_integrity_scan_modified_files", &[("target", a)]),
        Some(2.0)
    );
    assert_eq!(
        m.get(
            "ivanti_integrity_scans_total",
            &[("target", a), ("result", "files_found")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "ivanti_integrity_scans_total",
            &[("target", b), ("result", "files_found")]
        ),
        Some(0.0)
    );
    assert!(m.has(
        "ivanti_integrity_scan_last_timestamp_seconds",
        &[("target", a)]
    ));
    assert!(!m.has("ivanti_integrity_scan_new_files", &[("target", b)]));
    // No user name, address or message text anywhere in the exposition.
    assert!(!m.text.contains("user0") && !m.text.contains("198.51.100.9"));

    // A flood of garbage and one oversized datagram from loopback.
    let before = app.metrics().await;
    let polls_before = before.get("ivanti_exporter_polls_total", &[]).unwrap();
    let skipped_before = before
        .get("ivanti_exporter_polls_skipped_total", &[])
        .unwrap();
    let mut flood = sim::garbage(5000, 9000);
    let oversized = flood.pop().unwrap();
    sim::send_udp(udp, &flood).await.unwrap();
    // Over TCP, so that it surely arrives (loopback UDP drops under a flood).
    sim::send_tcp(tcp, &[oversized]).await.unwrap();
    let m = app
        .wait_for("the flood counted and polls going on", WAIT, |m| {
            m.get(
                "ivanti_exporter_syslog_messages_rejected_total",
                &[("reason", "too_big")],
            ) == Some(1.0)
                && m.get("ivanti_exporter_polls_total", &[]).unwrap() >= polls_before + 10.0
        })
        .await;
    // UDP may drop datagrams under load; those that arrived are all counted,
    // and none of them changed an appliance's counts.
    let unknown = m
        .get("ivanti_exporter_syslog_unknown_sender_messages_total", &[])
        .unwrap();
    assert!(unknown > 0.0, "{unknown}");
    assert_eq!(
        m.get("ivanti_syslog_messages_total", &[("target", a)]),
        Some(4.0)
    );
    assert_eq!(
        m.get("ivanti_exporter_polls_skipped_total", &[]),
        Some(skipped_before)
    );
    assert!(up(&m, a) && up(&m, b));
}

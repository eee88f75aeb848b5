//! The syslog receiver over loopback: a simulated appliance's integrity scan
//! raises the metrics of that appliance only; a flood of garbage and
//! oversized datagrams is counted and leaves polling on schedule.

use crate::helpers::*;
use ivanti_exporter::sim::syslog as sim;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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

/// Without a `syslog:` block the receiver is off: a polled fleet's
/// exposition has no syslog series at all, neither the receiver's own nor a
/// target's (issue 24: "off unless configured").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_syslog_block_there_is_no_receiver_and_no_syslog_series() {
    let (fleet, app) = fleet_and_app(2, "", |_| String::new()).await;
    let (a, b) = (fleet.appliance(0).name(), fleet.appliance(1).name());
    let m = app
        .wait_for("both appliances up", WAIT, |m| up(m, a) && up(m, b))
        .await;
    let syslog_series: Vec<&str> = m
        .text
        .lines()
        .filter(|l| {
            [
                "syslog",
                "integrity_scan",
                "signin_failures",
                "event_log_full",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .collect();
    assert!(syslog_series.is_empty(), "{syslog_series:#?}");
}

/// A CA that signs the receiver's server certificate (for 127.0.0.1) and a
/// gateway's client certificate, and another CA nobody trusts.
struct Pki {
    ca_pem: String,
    server: (String, String),
    gateway: (String, String),
    stranger: (String, String),
}

fn pki() -> Pki {
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let (ca, other) = (TestCa::new(), TestCa::new());
    Pki {
        ca_pem: ca.pem(),
        server: ca.leaf("127.0.0.1", ServerAuth),
        gateway: ca.leaf("vpn-gateway.example.net", ClientAuth),
        stranger: other.leaf("vpn-gateway.example.net", ClientAuth),
    }
}

/// A TLS client trusting `pki`'s CA, presenting `identity` when given.
fn tls_client(pki: &Pki, identity: Option<&(String, String)>) -> Arc<rustls::ClientConfig> {
    Arc::new(tls_client_config(&pki.ca_pem, identity))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates_counts_the_gateway_and_refuses_the_others() {
    let fleet = fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(&fleet, dir.path());
    let pki = pki();
    let d = dir.path();
    std::fs::write(d.join("syslog.crt"), &pki.server.0).unwrap();
    std::fs::write(d.join("syslog.key"), &pki.server.1).unwrap();
    std::fs::write(d.join("gateways-ca.crt"), &pki.ca_pem).unwrap();
    let port = free_port();
    // Relative paths: relative to the configuration file.
    let config = format!(
        "{}syslog:\n  tls_listen_address: 127.0.0.1:{port}\n  tls_server_config:\n    cert_file: syslog.crt\n    key_file: syslog.key\n    client_ca_file: gateways-ca.crt\n",
        config_for(&fleet, &ca, "", |_| String::new())
    );
    let app = App::spawn_in(dir, &config).await;
    let a = fleet.appliance(0).name();
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // The gateway's certificate is signed by the client CA: its scan counts.
    sim::send_tls(
        to,
        tls_client(&pki, Some(&pki.gateway)),
        "127.0.0.1",
        &sim::integrity_scan(a, 1, 0),
    )
    .await
    .unwrap();
    let m = app
        .wait_for("the scan over TLS", WAIT, |m| {
            m.get(
                "ivanti_integrity_scans_total",
                &[("target", a), ("result", "files_found")],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(
        m.get("ivanti_integrity_scan_new_files", &[("target", a)]),
        Some(1.0)
    );
    assert_eq!(
        m.get("ivanti_syslog_messages_total", &[("target", a)]),
        Some(3.0)
    );

    // No certificate, or one of another CA: the handshake is refused (the
    // client learns it from the server's alert) and nothing is counted.
    for (identity, reason) in [
        (None, "tls_no_certificate"),
        (Some(&pki.stranger), "tls_bad_certificate"),
    ] {
        let client = tls_client(&pki, identity);
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tcp = tokio::net::TcpStream::connect(to).await.unwrap();
        // TLS 1.3: the client finishes its side before the server has
        // looked at its certificate; the refusal arrives as an alert.
        let refused = match tokio_rustls::TlsConnector::from(client)
            .connect(name, tcp)
            .await
        {
            Err(_) => true,
            Ok(mut s) => {
                use tokio::io::AsyncReadExt;
                let _ = sim::write_frames(&mut s, &sim::integrity_scan(a, 0, 5)).await;
                let mut buf = [0u8; 16];
                s.read(&mut buf).await.is_err()
            }
        };
        assert!(refused, "{reason}: the client was not told");
        app.wait_for(reason, WAIT, |m| {
            m.get(
                "ivanti_exporter_syslog_connections_rejected_total",
                &[("reason", reason)],
            ) == Some(1.0)
        })
        .await;
    }
    let m = app.metrics().await;
    assert_eq!(
        m.get("ivanti_syslog_messages_total", &[("target", a)]),
        Some(3.0),
        "a refused client's messages are not read"
    );
    assert_eq!(
        m.get("ivanti_integrity_scan_modified_files", &[("target", a)]),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "ivanti_exporter_syslog_connections_rejected_total",
            &[("reason", "tls_handshake")]
        ),
        Some(0.0)
    );
}

/// The README's `syslog:` block loads as it is, with its certificate files
/// next to the configuration, and means what its comments say.
#[test]
fn readme_syslog_block_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```yaml\nsyslog:")
        .expect("README syslog block")
        + "```yaml\n".len();
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("syslog.crt"), &pki.server.0).unwrap();
    std::fs::write(dir.path().join("syslog.key"), &pki.server.1).unwrap();
    std::fs::write(dir.path().join("gateways-ca.crt"), &pki.ca_pem).unwrap();
    let config =
        ivanti_exporter::config::Config::from_yaml(&format!("{block}targets: []\n"), dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
    let s = config.syslog.expect("syslog block");
    assert_eq!(s.udp, Some("0.0.0.0:514".parse().unwrap()));
    assert_eq!(s.tcp, Some("0.0.0.0:601".parse().unwrap()));
    assert_eq!(
        s.tls.map(|t| t.address),
        Some("0.0.0.0:6514".parse().unwrap())
    );
    assert_eq!(
        (s.max_message_size, s.rate_limit, s.max_connections),
        (8192, 200, 64)
    );
    assert_eq!(s.idle_timeout, std::time::Duration::from_secs(300));
    assert_eq!(s.max_connections_per_sender, 4);
    assert_eq!(s.message_timeout, std::time::Duration::from_secs(30));
}

/// `simulate --syslog.forward-to` in one process, the exporter binary in
/// another: the simulated appliances' streams reach its TCP receiver, and
/// sim-002's fault (its scans find files) shows on sim-002 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_stream_reaches_a_running_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let fleet_yml = dir.path().join("fleet.yml");
    let port = free_port();
    let forward_to = format!("tcp://127.0.0.1:{port}");
    let _sim = simulator(
        &fleet_yml,
        3,
        &[
            "--syslog.forward-to",
            &forward_to,
            "--syslog.faults",
            "2=files-found,3=silent",
            "--syslog.interval",
            "1s",
            "--syslog.scan-interval",
            "1s",
        ],
    )
    .await;
    let yaml = std::fs::read_to_string(&fleet_yml).unwrap()
        + &format!("syslog:\n  tcp_listen_address: 127.0.0.1:{port}\n");
    let exp = Exporter::start_in(dir, &yaml, &[]);
    let scans = |m: &Metrics, target: &str, result: &str| {
        m.get(
            "ivanti_integrity_scans_total",
            &[("target", target), ("result", result)],
        )
        .unwrap_or(0.0)
    };
    let m = exp
        .wait_for("scans of sim-001 and sim-002", WAIT, |m| {
            scans(m, "sim-001", "clean") >= 1.0 && scans(m, "sim-002", "files_found") >= 1.0
        })
        .await;
    assert_eq!(scans(&m, "sim-001", "files_found"), 0.0);
    assert_eq!(scans(&m, "sim-002", "clean"), 0.0);
    assert_eq!(
        m.get("ivanti_integrity_scan_new_files", &[("target", "sim-002")]),
        Some(2.0)
    );
    assert_eq!(
        m.get(
            "ivanti_integrity_scan_modified_files",
            &[("target", "sim-002")]
        ),
        Some(1.0)
    );
    // sim-003 is silent: its series exist (the receiver is on) but count nothing.
    assert_eq!(
        m.get("ivanti_syslog_messages_total", &[("target", "sim-003")]),
        Some(0.0)
    );
    assert!(!m.has(
        "ivanti_syslog_last_message_timestamp_seconds",
        &[("target", "sim-003")]
    ));
    assert_eq!(
        m.get("ivanti_exporter_syslog_unknown_sender_messages_total", &[]),
        Some(0.0)
    );
}

/// `--demo` turns the receiver on and streams the fleet's syslog to it:
/// the syslog series show, sim-002's scans finding files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_shows_the_syslog_series() {
    let exp = Exporter::demo(&["--demo.appliances", "3"]);
    let found = |m: &Metrics, target: &str, result: &str| {
        m.get(
            "ivanti_integrity_scans_total",
            &[("target", target), ("result", result)],
        ) >= Some(1.0)
    };
    // The first round of the stream spreads the three appliances over the
    // 5 s poll interval.
    let m = exp
        .wait_for(
            "syslog series from the demo fleet",
            Duration::from_secs(40),
            |m| {
                found(m, "sim-001", "clean")
                    && found(m, "sim-002", "files_found")
                    && found(m, "sim-003", "clean")
            },
        )
        .await;
    assert!(m.has(
        "ivanti_syslog_last_message_timestamp_seconds",
        &[("target", "sim-001")]
    ));
}

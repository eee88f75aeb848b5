//! The daemon's own words: each subcommand's `--help`, a fatal error said
//! once, and `healthcheck` against an exporter serving TLS (the
//! container's health check).

use crate::helpers::*;
use std::path::Path;
use std::process::{Command, Output};

fn exporter(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"));
    dies_with_this_process(&mut c)
        .args(args)
        .env_remove("IVANTI_EXPORTER_WEB_CONFIG_FILE")
        .env_remove("HTTPS_PROXY");
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run ivanti-exporter")
}

/// The long flags a `--help` text lists, in order.
fn flags(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("-h, ").unwrap_or(l);
            let l = l.strip_prefix("-V, ").unwrap_or(l);
            let flag = l.strip_prefix("--")?;
            let end = flag.find([' ', ',', '=']).unwrap_or(flag.len());
            Some(format!("--{}", &flag[..end]))
        })
        .collect()
}

#[test]
fn each_subcommand_lists_only_its_own_flags() {
    let help = |sub: &str| {
        let out = run(&mut exporter(&[sub, "--help"]));
        assert!(out.status.success(), "{sub} --help");
        flags(&String::from_utf8_lossy(&out.stdout))
    };
    assert_eq!(
        help("check-config"),
        [
            "--config.file",
            "--web.config.file",
            "--credentials-directory",
            "--help"
        ]
    );
    assert_eq!(
        help("healthcheck"),
        [
            "--url",
            "--web.config.file",
            "--tls.cert-file",
            "--tls.key-file",
            "--help"
        ]
    );
    assert_eq!(
        help("simulate"),
        [
            "--appliances",
            "--http",
            "--listen-address",
            "--base-port",
            "--seed",
            "--sessions",
            "--faults",
            "--write-config",
            "--stats-address",
            "--kinds",
            "--firmware",
            "--self-signed",
            "--syslog.forward-to",
            "--syslog.faults",
            "--syslog.interval",
            "--syslog.scan-interval",
            "--log.level",
            "--log.format",
            "--help"
        ]
    );
    // The daemon's flags stay on the top level (subcommands listed apart).
    let top = run(&mut exporter(&["--help"]));
    let top = flags(&String::from_utf8_lossy(&top.stdout));
    for daemon_flag in [
        "--web.listen-address",
        "--config.file",
        "--log.level",
        "--demo",
    ] {
        assert!(
            top.iter().any(|f| f == daemon_flag),
            "{daemon_flag}: {top:?}"
        );
    }
    // Given before the subcommand, the daemon's --config.file is check-config's default.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yml");
    std::fs::write(&config, "targets: []\n").unwrap();
    let out = run(exporter(&["--config.file"])
        .arg(&config)
        .arg("check-config"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}: OK (0 targets, 0 collector schedules)\n",
            config.display()
        )
    );
}

#[test]
fn a_fatal_error_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yml");
    std::fs::write(&config, "targets: [\n").unwrap();
    for format in ["logfmt", "json"] {
        let out = run(exporter(&["--web.listen-address", "127.0.0.1:0"])
            .args(["--log.format", format, "--config.file"])
            .arg(&config));
        assert_eq!(out.status.code(), Some(1), "{format}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.matches("did not find expected node content").count(),
            1,
            "{format}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{format}: {stderr}");
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
            assert_eq!(v["level"], "ERROR");
            assert_eq!(v["msg"], "exiting");
            assert!(v["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid configuration:"));
        }
    }
}

/// A self-signed certificate for a name that is not the loopback address
/// the check connects to: the check trusts the configured certificate
/// itself, not its names.
fn self_signed(dir: &Path, name: &str) {
    let c = rcgen::generate_simple_self_signed(vec!["exporter.example".into()]).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), c.cert.pem()).unwrap();
    std::fs::write(
        dir.join(format!("{name}.key")),
        c.signing_key.serialize_pem(),
    )
    .unwrap();
}

#[test]
fn healthcheck_checks_an_exporter_served_with_tls_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    self_signed(d, "server");
    self_signed(d, "other");
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    let web = d.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  prometheus: \"{hash}\"\n"
        ),
    )
    .unwrap();
    let mut exp = Exporter::start_with(
        "targets: []\n",
        &["--web.config.file", &web.display().to_string()],
    );
    let https = format!("https://{}/-/healthy", exp.addr);
    let check = |args: &[&str], web: &Path| {
        run(exporter(&["healthcheck", "--url"])
            .args(args)
            .env("IVANTI_EXPORTER_WEB_CONFIG_FILE", web))
    };
    // The web configuration from the environment, as the container sets it.
    let out = check(&[&https], &web);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{https}: OK\n")
    );
    // Plain HTTP against the TLS listener: told what to do.
    let http = format!("http://{}/-/healthy", exp.addr);
    let out = check(&[&http], &web);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "healthcheck failed: {http}: {} serves TLS: use https://\n",
            web.display()
        )
    );
    // A web configuration naming another certificate: this one is not trusted.
    let other = d.join("other.yml");
    std::fs::write(
        &other,
        "tls_server_config:\n  cert_file: other.crt\n  key_file: other.key\n",
    )
    .unwrap();
    let out = check(&[&https], &other);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("healthcheck failed: {https}: TLS: ")),
        "{stderr}"
    );
    // The exporter stopped: non-zero, and says why.
    exp.signal("TERM");
    assert_eq!(exp.wait_exit(WAIT), Some(0));
    let out = check(&[&https], &web);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("healthcheck failed: {https}: "))
            && stderr.contains("Connection refused"),
        "{stderr}"
    );
}

#[test]
fn healthcheck_presents_a_client_certificate_when_the_exporter_requires_one() {
    let pki = crate::webconfig::pki();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, text) in [
        ("server.crt", &pki.server.0),
        ("server.key", &pki.server.1),
        ("clients-ca.crt", &pki.ca_pem),
        ("client.crt", &pki.client.0),
        ("client.key", &pki.client.1),
    ] {
        std::fs::write(d.join(name), text).unwrap();
    }
    let web = d.join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_ca_file: clients-ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    )
    .unwrap();
    let exp = Exporter::start_with(
        "targets: []\n",
        &["--web.config.file", &web.display().to_string()],
    );
    let https = format!("https://{}/-/healthy", exp.addr);
    let out = run(exporter(&["healthcheck", "--url", &https, "--web.config.file"]).arg(&web));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "healthcheck failed: {}: the exporter requires a client certificate \
             (client_auth_type): give --tls.cert-file and --tls.key-file\n",
            web.display()
        )
    );
    let out = run(
        exporter(&["healthcheck", "--url", &https, "--web.config.file"])
            .arg(&web)
            .arg("--tls.cert-file")
            .arg(d.join("client.crt"))
            .arg("--tls.key-file")
            .arg(d.join("client.key")),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// At debug, one `request` line per request to an appliance: method, host,
/// path without its query, status, body bytes and duration; never a
/// credential.
#[tokio::test(flavor = "multi_thread")]
async fn debug_logs_each_request_with_status_bytes_and_duration() {
    let (fleet, exp) = fleet_and_exporter(1, "", |_| String::new()).await;
    let host = fleet
        .appliance(0)
        .url()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let requests = || -> Vec<serde_json::Value> {
        exp.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["msg"] == "request")
            .collect()
    };
    // The plain healthcheck answers {"message":"Security Gateway is accessible."}.
    let accessible = serde_json::json!({ "message": "Security Gateway is accessible." })
        .to_string()
        .len();
    assert_eq!(accessible, 45);
    let plain_healthcheck = |v: &serde_json::Value| {
        v["path"] == "/api/v1/system/healthcheck" && v["bytes"] == accessible
    };
    let active_users =
        |v: &serde_json::Value| v["path"] == "/api/v1/system/active-users" && v["status"] == 200;
    // Both areas are polled at start, concurrently: wait for both lines.
    eventually(
        "a logged healthcheck and active-users request",
        WAIT,
        || {
            let all = requests();
            all.iter().any(plain_healthcheck) && all.iter().any(active_users)
        },
    )
    .await;
    let all = requests();
    let e = all.iter().find(|v| plain_healthcheck(v)).unwrap();
    assert_eq!(e["level"], "DEBUG");
    assert_eq!(e["method"], "GET");
    assert_eq!(e["host"], host.as_str());
    assert_eq!(e["status"], 200);
    let took = e["duration_seconds"].as_f64().unwrap();
    // Within the target's 900 ms timeout (the request completed).
    assert!(took > 0.0 && took < 0.9, "{took}");
    // The authenticated areas are logged too, without their query or key.
    assert!(all.iter().any(active_users), "{all:#?}");
    for v in &all {
        assert!(!v["path"].as_str().unwrap().contains('?'), "{v}");
    }
    assert!(!exp.logs().contains("sim-api-key"));
}

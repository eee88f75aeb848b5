//! --web.config.file: TLS with required client certificates and basic auth
//! with bcrypt hashes, exercised with real TLS clients; the exporter-toolkit's
//! own example file; response headers and the rate limit over real sockets.

use crate::helpers::*;
use std::time::Duration;

pub(crate) struct Pki {
    pub ca_pem: String,
    pub server: (String, String),
    pub client: (String, String),
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate it signed.
pub(crate) fn pki() -> Pki {
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let ca = TestCa::new();
    Pki {
        ca_pem: ca.pem(),
        server: ca.leaf("127.0.0.1", ServerAuth),
        client: ca.leaf("prometheus", ClientAuth),
    }
}

fn client(pki: &Pki, with_cert: bool) -> reqwest::Client {
    let identity = with_cert.then_some(&pki.client);
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_client_config(&pki.ca_pem, identity))
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_client_certificates_and_basic_auth() {
    init();
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("server.crt"), &pki.server.0).unwrap();
    std::fs::write(d.join("server.key"), &pki.server.1).unwrap();
    std::fs::write(d.join("clients-ca.crt"), &pki.ca_pem).unwrap();
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    std::fs::write(
        d.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: clients-ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: \"{hash}\"\n"
        ),
    )
    .unwrap();
    let web = d.join("web.yml").display().to_string();
    let exp = Exporter::start_with("targets: []\n", &["--web.config.file", &web]);
    let url = format!("https://{}/metrics", exp.addr);
    let ok = client(&pki, true);
    // Correct certificate and password.
    let r = ok
        .get(&url)
        .basic_auth("prometheus", Some("correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("ivanti_exporter_build_info"));
    // Wrong password, unknown user, no credentials: 401 with a challenge.
    for (user, pass) in [
        ("prometheus", Some("wrong")),
        ("mallory", Some("correct horse")),
    ] {
        let r = ok.get(&url).basic_auth(user, pass).send().await.unwrap();
        assert_eq!(r.status(), 401, "{user}");
    }
    let r = ok.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    // Health needs the client certificate but no password (it reveals nothing).
    let r = ok
        .get(format!("https://{}/-/healthy", exp.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // No client certificate: the handshake is refused.
    let r = client(&pki, false)
        .get(&url)
        .basic_auth("prometheus", Some("correct horse"))
        .send()
        .await;
    assert!(r.is_err(), "served without a client certificate: {r:?}");
    // Plain HTTP is not served.
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{}/metrics", exp.addr))
        .send()
        .await;
    assert!(r.map(|r| r.status() != 200).unwrap_or(true));
    // The start line says how the endpoint is protected (issue 25).
    let start = exp.logs();
    let listening = start.lines().find(|l| l.contains("listening")).unwrap();
    assert!(
        listening.contains("\"tls\":\"on\"") && listening.contains("\"basic_auth\":\"on\""),
        "{listening}"
    );
    // SIGHUP reloads the targets, not the web config: the log says so
    // rather than "configuration reloaded" alone (issue 25).
    exp.signal("HUP");
    eventually("the reload's log line", WAIT, || {
        exp.logs().contains("configuration reloaded")
    })
    .await;
    let logs = exp.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap();
    assert!(
        line.contains("not re-read: users, password hashes, client CA"),
        "{line}"
    );
    // The hash is not echoed anywhere.
    assert!(!exp.logs().contains(&hash));
}

#[test]
fn bad_web_configs_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plaintext\n").unwrap();
    let err = refused_at_start(dir.path(), &web);
    assert!(
        err.contains("basic_auth_users.prometheus: not a bcrypt hash"),
        "{err}"
    );
    assert!(!err.contains("plaintext"), "{err}");
}

/// `server.crt`/`server.key` for 127.0.0.1 and `web.yml` with `text` in a temp dir.
/// Start the binary with no targets and the web config `web`: it must exit 1;
/// its stderr.
fn refused_at_start(dir: &std::path::Path, web: &std::path::Path) -> String {
    let cfg = dir.join("c.yml");
    std::fs::write(&cfg, "targets: []\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .arg("--config.file")
        .arg(&cfg)
        .arg("--web.config.file")
        .arg(web)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn web_dir(pki: &Pki, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.crt"), &pki.server.0).unwrap();
    std::fs::write(dir.path().join("server.key"), &pki.server.1).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, text).unwrap();
    (dir, web)
}

/// docs/web-config.yml of the exporter-toolkit, verbatim: TLS with its
/// server.crt/server.key, users alice and bob, 20 requests a burst, one more a second.
#[tokio::test(flavor = "multi_thread")]
async fn the_toolkit_example_file_is_loaded_as_it_says() {
    let example = include_str!("../fixtures/exporter-toolkit/web-config.yml");
    let pki = pki();
    let (dir, web) = web_dir(&pki, example);
    let loaded = ivanti_exporter::webconfig::WebConfig::load(&web).unwrap();
    assert!(loaded.tls.is_some());
    assert_eq!(loaded.users.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    let limit = loaded.rate_limit.as_ref().unwrap();
    assert_eq!((limit.interval, limit.burst), (Duration::from_secs(1), 20));
    assert!(loaded.headers.is_empty() && loaded.warnings.is_empty());

    let app = App::spawn_with(dir, "targets: []\n", |s| s.web_config_file = Some(web)).await;
    let https = client(&pki, false);
    let url = |p: &str| format!("https://{}{p}", app.addr);
    let r = https.get(url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"ivanti-exporter\""
    );
    let r = https
        .get(url("/metrics"))
        .basic_auth("alice", Some("not-hers"));
    assert_eq!(r.send().await.unwrap().status(), 401);
    let r = https.get(url("/-/healthy")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // TLS only: plain HTTP gets no answer.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = plain
        .get(format!("http://{}/-/healthy", app.addr))
        .send()
        .await;
    assert!(r.map(|r| r.status() != 200).unwrap_or(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_headers_are_on_every_response() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    std::fs::write(
        &web,
        format!(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=31536000; includeSubDomains\n    Content-Security-Policy: \"default-src 'self'\"\n    X-XSS-Protection: \"1\"\nbasic_auth_users:\n  prometheus: \"{hash}\"\n"
        ),
    )
    .unwrap();
    let app = App::spawn_with(dir, "targets: []\n", |s| s.web_config_file = Some(web)).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let authed = http
        .get(app.url("/metrics"))
        .basic_auth("prometheus", Some("correct horse"));
    for (req, status) in [
        (authed, 200),
        (http.get(app.url("/metrics")), 401),
        (http.get(app.url("/-/healthy")), 200),
        (http.get(app.url("/nowhere")), 401),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status);
        let h = r.headers();
        assert_eq!(h["x-frame-options"], "deny");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(
            h["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(h["content-security-policy"], "default-src 'self'");
        assert_eq!(h["x-xss-protection"], "1");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_answers_429_past_the_burst() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    // One token an hour: nothing refills during the test.
    std::fs::write(&web, "rate_limit:\n  interval: 1h\n  burst: 2\n").unwrap();
    let app = App::spawn_with(dir, "targets: []\n", |s| s.web_config_file = Some(web)).await;
    let app = &app;
    let status = |path: &'static str| async move { app.get(path).await.0 };
    assert_eq!([status("/metrics").await, status("/").await], [200, 200]);
    assert_eq!(status("/metrics").await, 429);
    assert_eq!(status("/targets").await, 429);
    // Probes are exempt, as from basic auth.
    assert_eq!(
        [status("/-/healthy").await, status("/-/ready").await],
        [200, 200]
    );
}

#[test]
fn a_no_op_key_is_logged_once_and_a_refused_one_stops_the_start() {
    let pki = pki();
    let (_dir, web) = web_dir(
        &pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  prefer_server_cipher_suites: true\n",
    );
    let exp = Exporter::start_with(
        "targets: []\n",
        &["--web.config.file", web.to_str().unwrap()],
    );
    let warning =
        "tls_server_config.prefer_server_cipher_suites: ignored (a no-op in Go since 1.18";
    assert_eq!(exp.logs().matches(warning).count(), 1, "{}", exp.logs());

    let (_dir, web) = web_dir(&pki, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n");
    let err = refused_at_start(_dir.path(), &web);
    let want = "web.yml: tls_server_config.min_version: TLS10 is not supported: rustls implements TLS 1.2 and 1.3 only";
    assert!(err.contains(want), "{err}");
}

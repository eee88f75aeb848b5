//! The exporter's own HTTP server over real loopback sockets: the opt-in
//! lifecycle API, the header-read timeout, the connection cap, health and
//! readiness without credentials, the landing page's metrics link.

use crate::helpers::*;
use ivanti_exporter::daemon::Settings;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for "eventually": never reached when things work.
const EVENTUALLY: Duration = Duration::from_secs(30);

async fn app(tweak: impl FnOnce(&mut Settings)) -> App {
    App::spawn_with(tempfile::tempdir().unwrap(), "targets: []\n", tweak).await
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_over_http_needs_enable_lifecycle() {
    let off = app(|_| {}).await;
    let (status, body) = off.post("/-/reload").await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        "lifecycle API is not enabled: start with --web.enable-lifecycle (SIGHUP always reloads)\n"
    );
    let m = off.metrics().await;
    assert_eq!(
        m.get("ivanti_exporter_config_reload_failures_total", &[]),
        Some(0.0)
    );

    let on = app(|s| s.enable_lifecycle = true).await;
    let (status, body) = on.post("/-/reload").await;
    assert_eq!(status, 200);
    assert_eq!(body, "configuration reloaded\n");
}

/// One request on `conn` (kept alive); the answer's status line.
async fn request(conn: &mut TcpStream, path: &str) -> String {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn half_a_header_is_closed_after_the_read_header_timeout() {
    let app = app(|s| s.limits.read_header_timeout = Duration::from_secs(1)).await;
    // A whole request is answered.
    let mut whole = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(request(&mut whole, "/-/healthy").await, "HTTP/1.1 200 OK");

    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(EVENTUALLY, half.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection")
        .expect("EOF, not an error");
    // Closed without serving the request (at most a 408).
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || rest.starts_with("HTTP/1.1 408"),
        "{rest}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fourth_connection_waits_while_three_are_open() {
    let app = app(|s| {
        s.limits.max_connections = 3;
        s.limits.read_header_timeout = Duration::from_secs(600);
    })
    .await;
    // Three connections, served once each and held open (kept alive).
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(app.addr).await.unwrap();
        assert_eq!(request(&mut c, "/-/healthy").await, "HTTP/1.1 200 OK");
        held.push(c);
    }
    // The fourth is connected (listen backlog) but not served...
    let mut fourth = TcpStream::connect(app.addr).await.unwrap();
    fourth
        .write_all(b"GET /-/ready HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0; 4096];
    let early = tokio::time::timeout(Duration::from_millis(500), fourth.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    // ...until the others close.
    drop(held);
    let n = tokio::time::timeout(EVENTUALLY, fourth.read(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    drop(fourth);
    let m = app.metrics().await;
    let waits = m
        .get("ivanti_exporter_http_connections_limited_total", &[])
        .unwrap();
    assert!(waits >= 1.0, "{waits}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_need_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!("basic_auth_users:\n  prometheus: \"{hash}\"\n"),
    )
    .unwrap();
    let app = App::spawn_with(dir, "targets: []\n", |s| {
        s.web_config_file = Some(web);
        s.enable_lifecycle = true;
    })
    .await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let status = |path: &str, auth: bool, post: bool| {
        let url = app.url(path);
        let mut r = if post { http.post(url) } else { http.get(url) };
        if auth {
            r = r.basic_auth("prometheus", Some("correct horse"));
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/-/healthy", false, false).await, 200);
    assert_eq!(status("/-/ready", false, false).await, 200);
    for path in ["/", "/metrics", "/probe?target=x"] {
        assert_eq!(status(path, false, false).await, 401, "{path}");
    }
    assert_eq!(status("/-/reload", false, true).await, 401);
    assert_eq!(status("/metrics", true, false).await, 200);
    assert_eq!(status("/", true, false).await, 200);
    assert_eq!(status("/-/reload", true, true).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn landing_page_links_the_telemetry_path() {
    let app = app(|s| s.telemetry_path = "/custom/metrics".into()).await;
    let (status, _, page) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<a href=\"/custom/metrics\">Metrics</a>"),
        "{page}"
    );
    assert!(!page.contains("href=\"/metrics\""), "{page}");
    let (status, _, body) = app.get("/custom/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("ivanti_exporter_targets 0"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_are_listed_for_http_service_discovery() {
    // Nothing listens on port 1: the polls fail, the list does not care.
    let config = "targets:\n  - name: vpn-fra-1\n    url: https://127.0.0.1:1\n    api_key: k\n    labels: { site: fra }\n  - name: sps-1\n    url: https://127.0.0.1:1\n    kind: sps\n    basic_auth: { username: u, password: p }\n";
    let app = App::spawn_in(tempfile::tempdir().unwrap(), config).await;
    let (status, content_type, body) = app.get("/targets").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    // Without --web.external-url, as Prometheus: this host's name and the port.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = format!("{}:{}", hostname.trim(), app.addr.port());
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        got,
        serde_json::json!([
            {"targets": [host], "labels": {
                "__metrics_path__": "/probe", "__param_target": "vpn-fra-1",
                "kind": "ics", "site": "fra"}},
            {"targets": [host], "labels": {
                "__metrics_path__": "/probe", "__param_target": "sps-1", "kind": "sps"}},
        ])
    );
}

/// Behind a reverse proxy (`--web.external-url https://proxy.example/ivanti/`),
/// `/targets` sends Prometheus to the proxy, whatever `Host` the request had.
#[tokio::test(flavor = "multi_thread")]
async fn targets_point_at_the_external_url_not_the_host_header() {
    let config = "targets:\n  - name: vpn-fra-1\n    url: https://127.0.0.1:1\n    api_key: k\n";
    let app = App::spawn_with(tempfile::tempdir().unwrap(), config, |s| {
        s.external_url = Some("https://proxy.example/ivanti/".into());
    })
    .await;
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{}/ivanti/targets", app.addr))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        got,
        serde_json::json!([
            {"targets": ["proxy.example:443"], "labels": {
                "__metrics_path__": "/ivanti/probe", "__param_target": "vpn-fra-1",
                "__scheme__": "https", "kind": "ics"}},
        ])
    );
}

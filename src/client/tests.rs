//! The client against loopback servers: kept-alive connections, closed
//! ones, login POSTs, proxies.

use super::*;
use crate::config::Config;
use base64::Engine as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::TcpStream;

fn target(yaml: &str) -> Settings {
    Config::from_yaml(yaml, Path::new("."))
        .unwrap()
        .targets
        .remove(0)
        .client
        .clone()
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Keep the connection open between requests.
    KeepAlive,
    /// Close the connection after each response without saying so.
    CloseSilently,
    /// Answer one request per connection; drop the connection when the
    /// next request arrives (an idle timeout racing the client).
    DropSecondRequest,
}

/// A loopback HTTP/1.1 server answering `ok`; counts connections and
/// keeps every request head it read.
async fn raw_server(mode: Mode) -> (SocketAddr, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (c, h) = (conns.clone(), heads.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let h = h.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read_u8().await {
                            Ok(b) => head.push(b),
                            Err(_) => return,
                        }
                    }
                    if mode == Mode::DropSecondRequest && n == 1 {
                        return;
                    }
                    h.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let body = "ok";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() || mode == Mode::CloseSilently {
                        return;
                    }
                }
            });
        }
    });
    (addr, conns, heads)
}

fn client_for(url: &str, extra: &str) -> ApiClient {
    // Only the unauthenticated collector: these tests give no credentials.
    let t = target(&format!(
        "targets:\n  - name: t\n    url: {url}\n    collectors: [healthcheck]\n{extra}"
    ));
    ApiClient::new(&t, &ClientCache::new()).unwrap()
}

#[tokio::test]
async fn one_kept_alive_connection_serves_every_request() {
    let (addr, conns, heads) = raw_server(Mode::KeepAlive).await;
    let c = client_for(&format!("http://{addr}"), "");
    for _ in 0..3 {
        let r = c.get("/api/v1/x", Auth::None).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1);
    let heads = heads.lock().unwrap();
    assert!(
        heads[0].starts_with("GET /api/v1/x HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0]
        .to_ascii_lowercase()
        .contains(&format!("host: {addr}\r\n")));
}

#[tokio::test]
async fn closed_idle_connections_are_replaced_without_failing_a_poll() {
    for mode in [Mode::CloseSilently, Mode::DropSecondRequest] {
        let (addr, conns, heads) = raw_server(mode).await;
        let c = client_for(&format!("http://{addr}"), "");
        for _ in 0..3 {
            // Give the close time to arrive, as between two polls.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let r = c.get("/x", Auth::None).await.unwrap();
            assert_eq!(r.status, 200);
        }
        assert_eq!(conns.load(Ordering::SeqCst), 3);
        assert_eq!(heads.lock().unwrap().len(), 3, "each request answered once");
    }
}

#[tokio::test]
async fn a_login_post_is_not_repeated_on_a_fresh_connection() {
    let (addr, conns, heads) = raw_server(Mode::DropSecondRequest).await;
    let c = client_for(&format!("http://{addr}"), "");
    c.get("/x", Auth::None).await.unwrap();
    let e = c
        .post_login("/api/v1/realm_auth", Auth::None, &serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "connect", "{e}");
    assert_eq!(conns.load(Ordering::SeqCst), 1);
    assert_eq!(heads.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn plain_http_through_a_proxy_uses_the_absolute_form_and_proxy_credentials() {
    // The "proxy" answers itself; the appliance's port has no listener.
    let (proxy, _, heads) = raw_server(Mode::KeepAlive).await;
    let c = client_for(
        "http://127.0.0.1:9/base/",
        &format!("    proxy_url: http://us%65r:p%40ss@{proxy}\n"),
    );
    let r = c
        .get("/api/v1/x", Auth::ApiKey(&Secret::new("k")))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let head = heads.lock().unwrap()[0].clone();
    assert!(
        head.starts_with("GET http://127.0.0.1:9/base/api/v1/x HTTP/1.1\r\n"),
        "{head}"
    );
    let want = base64::engine::general_purpose::STANDARD.encode("user:p@ss");
    assert!(
        head.contains(&format!("proxy-authorization: Basic {want}\r\n")),
        "{head}"
    );
    assert!(
        !format!("{c:?}").contains(&want),
        "Debug leaks the proxy credential"
    );
}

/// A CONNECT proxy on loopback; counts tunnels.
async fn connect_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let t = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let t = t.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    head.push(s.read_u8().await.unwrap());
                }
                let head = String::from_utf8(head).unwrap();
                let authority = head
                    .strip_prefix("CONNECT ")
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap();
                let mut up = TcpStream::connect(authority).await.unwrap();
                t.fetch_add(1, Ordering::SeqCst);
                s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
            });
        }
    });
    (addr, tunnels)
}

#[tokio::test]
async fn https_through_a_proxy_is_tunnelled_and_verified() {
    let (fleet, _dir, ca) = crate::sim::fleet_with_ca_file(1).await;
    let (proxy, tunnels) = connect_proxy().await;
    let a = &fleet.appliances()[0];
    let c = client_for(
        a.url(),
        &format!(
            "    proxy_url: http://{proxy}\n    tls_config: {{ ca_file: {} }}\n",
            ca.display()
        ),
    );
    for _ in 0..3 {
        let r = c
            .get("/api/v1/system/healthcheck", Auth::None)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(tunnels.load(Ordering::SeqCst), 1, "one tunnel, kept alive");
    assert_eq!(a.stats().tls_handshakes, 1);
    // Without the CA, the certificate is refused through the tunnel too.
    let c = client_for(a.url(), &format!("    proxy_url: http://{proxy}\n"));
    let e = c
        .get("/api/v1/system/healthcheck", Auth::None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "tls", "{e}");
}

#[tokio::test]
async fn the_presented_certificates_expiry_is_read_at_the_handshake() {
    let (fleet, _dir, ca) = crate::sim::fleet_with_ca_file(1).await;
    let a = &fleet.appliances()[0];
    // The simulator's leaf keeps rcgen's default validity: notAfter
    // 4096-01-01T00:00:00Z = 67,090,118,400 s after the epoch.
    const NOT_AFTER: i64 = 67_090_118_400;
    for extra in [
        format!("    tls_config: {{ ca_file: {} }}\n", ca.display()),
        "    tls_config: { insecure_skip_verify: true }\n".to_owned(),
    ] {
        let c = client_for(a.url(), &extra);
        assert_eq!(
            c.peer_certificate().not_after(),
            None,
            "before any handshake"
        );
        let r = c
            .get("/api/v1/system/healthcheck", Auth::None)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(c.peer_certificate().not_after(), Some(NOT_AFTER), "{extra}");
    }
}

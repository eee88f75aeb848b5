//! An explicit `http://` proxy: absolute-form requests for plain HTTP
//! targets, a `CONNECT` tunnel for HTTPS ones.

use super::exchange::basic;
use super::{Endpoint, USER_AGENT};
use crate::secret::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest response head accepted from a proxy answering `CONNECT`.
const MAX_PROXY_HEAD: usize = 8 * 1024;

#[derive(Debug)]
pub(super) struct Proxy {
    pub(super) host: Box<str>,
    pub(super) port: u16,
    /// `Proxy-Authorization` from the proxy URL's user info.
    pub(super) authorization: Option<Secret>,
}

impl Proxy {
    /// The proxy of a `proxy_url`, with `Proxy-Authorization` from its user info.
    pub(super) fn from_url(u: &url::Url) -> Result<Proxy, String> {
        if u.scheme() != "http" {
            return Err("proxy_url: only http:// proxies are supported".into());
        }
        let host = match u.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err("proxy_url: no host".into()),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let authorization = (!u.username().is_empty()).then(|| {
            Secret::new(basic(
                &decode(u.username()),
                &decode(u.password().unwrap_or_default()),
            ))
        });
        Ok(Proxy {
            host: host.into(),
            port: u.port_or_known_default().unwrap_or(80),
            authorization,
        })
    }
}

/// Ask an HTTP proxy for a tunnel to the appliance.
pub(super) async fn tunnel(
    tcp: &mut TcpStream,
    ep: &Endpoint,
    proxy: &Proxy,
) -> Result<(), String> {
    let authority = ep.authority.to_str().unwrap_or_default();
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:{}", ep.port)
    };
    let mut head = format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {USER_AGENT}\r\n"
    );
    if let Some(a) = &proxy.authorization {
        head.push_str(&format!("Proxy-Authorization: {}\r\n", a.expose()));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // Read the answer byte-wise up to the blank line: nothing of the
    // tunnelled TLS stream may be consumed.
    let mut answer = Vec::with_capacity(256);
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_PROXY_HEAD {
            return Err("CONNECT answer too long".into());
        }
        let b = tcp.read_u8().await.map_err(|e| e.to_string())?;
        answer.push(b);
    }
    let line = String::from_utf8_lossy(answer.split(|b| *b == b'\r').next().unwrap_or_default())
        .into_owned();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some("200")) if v.starts_with("HTTP/1.") => Ok(()),
        _ => Err(format!("CONNECT refused: {line:?}")),
    }
}

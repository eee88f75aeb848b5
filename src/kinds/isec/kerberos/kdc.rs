//! Talking to the KDC: Kerberos over TCP (RFC 4120 §7.2.2: each message
//! preceded by its length as a 4-byte big-endian integer), every KDC of the
//! realm in turn, and where the KDCs are (`krb5.conf`).
//!
//! UDP is not used: Active Directory and MIT KDCs both listen on TCP 88, and
//! TCP carries tickets with a PAC that do not fit a datagram. DNS SRV
//! discovery (`_kerberos._tcp.REALM`) is not implemented: the KDCs come from
//! the target's `kerberos.kdc` list or from `krb5.conf`.

use crate::error::CollectError;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest KDC answer accepted (a ticket with a big PAC is a few KiB).
const MAX_REPLY: usize = 1 << 20;

/// Send one message to the first KDC that answers; each gets `timeout`
/// for connect, send and answer together.
pub async fn exchange(
    kdcs: &[String],
    message: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, CollectError> {
    let mut failures = Vec::new();
    for kdc in kdcs {
        match tokio::time::timeout(timeout, one(kdc, message)).await {
            Ok(Ok(reply)) => return Ok(reply),
            Ok(Err(e)) => failures.push(format!("{kdc}: {e}")),
            Err(_) => failures.push(format!(
                "{kdc}: no answer within {}",
                humantime::format_duration(timeout)
            )),
        }
    }
    Err(CollectError::KdcUnreachable(if failures.is_empty() {
        "no KDC configured".into()
    } else {
        failures.join("; ")
    }))
}

async fn one(kdc: &str, message: &[u8]) -> std::io::Result<Vec<u8>> {
    let addr = with_port(kdc);
    let mut s = tokio::net::TcpStream::connect(addr.as_str()).await?;
    let len = u32::try_from(message.len()).map_err(std::io::Error::other)?;
    let mut framed = Vec::with_capacity(message.len() + 4);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    s.write_all(&framed).await?;
    let n = s.read_u32().await? as usize;
    if n > MAX_REPLY {
        return Err(std::io::Error::other(format!("answer of {n} bytes")));
    }
    let mut reply = vec![0; n];
    s.read_exact(&mut reply).await?;
    Ok(reply)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; port 88 by default.
fn with_port(kdc: &str) -> String {
    if kdc.parse::<std::net::SocketAddr>().is_ok() {
        return kdc.to_owned();
    }
    if kdc.parse::<std::net::Ipv6Addr>().is_ok() {
        return format!("[{kdc}]:88");
    }
    match kdc.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => kdc.to_owned(),
        _ => format!("{kdc}:88"),
    }
}

/// The `kdc` entries of `realm` in a `krb5.conf` text:
///
/// ```text
/// [realms]
///     CORP.EXAMPLE.COM = {
///         kdc = dc1.corp.example.com
///         kdc = dc2.corp.example.com:88
///     }
/// ```
///
/// Realm names are compared exactly (Kerberos realms are case-sensitive).
pub fn realm_kdcs(conf: &str, realm: &str) -> Vec<String> {
    let mut section = String::new();
    let mut in_realm = false;
    let mut kdcs = Vec::new();
    for line in conf.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default().trim();
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_owned();
            in_realm = false;
            continue;
        }
        if section != "realms" {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let (key, value) = (key.trim(), value.trim());
            if value == "{" {
                in_realm = key == realm;
            } else if in_realm && key == "kdc" && !value.is_empty() {
                kdcs.push(value.to_owned());
            }
        } else if line == "}" {
            in_realm = false;
        }
    }
    kdcs
}

/// `krb5.conf`'s location: `$KRB5_CONFIG` (its first entry), else `/etc/krb5.conf`.
pub fn krb5_conf_path() -> std::path::PathBuf {
    match std::env::var_os("KRB5_CONFIG") {
        Some(v) if !v.is_empty() => std::env::split_paths(&v)
            .next()
            .unwrap_or_else(|| Path::new("/etc/krb5.conf").to_path_buf()),
        _ => Path::new("/etc/krb5.conf").to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_realms_kdcs() {
        let conf = "[libdefaults]\n  default_realm = CORP.EXAMPLE.COM\n  kdc = nope\n\
                    [realms]\n  OTHER.TEST = {\n    kdc = other:88\n  }\n\
                    CORP.EXAMPLE.COM = {\n    kdc = dc1.corp.example.com # primary\n    kdc = 10.0.0.2:8888\n    admin_server = dc1\n  }\n\
                    [domain_realm]\n  kdc = nope\n";
        assert_eq!(
            realm_kdcs(conf, "CORP.EXAMPLE.COM"),
            ["dc1.corp.example.com", "10.0.0.2:8888"]
        );
        assert_eq!(realm_kdcs(conf, "OTHER.TEST"), ["other:88"]);
        assert!(realm_kdcs(conf, "corp.example.com").is_empty());
        assert_eq!(with_port("dc1"), "dc1:88");
        assert_eq!(with_port("dc1:750"), "dc1:750");
        assert_eq!(with_port("::1"), "[::1]:88");
        assert_eq!(with_port("[::1]:750"), "[::1]:750");
        assert_eq!(with_port("[::1]"), "[::1]:88");
    }

    /// A KDC that accepts and never answers, and one that refuses: both
    /// named in one `kdc_unreachable` error.
    #[tokio::test]
    async fn silent_and_refusing_kdcs_are_reported() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap().to_string();
        let hold = tokio::spawn(async move {
            let (_s, _) = silent.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_addr = closed.local_addr().unwrap().to_string();
        drop(closed);
        let e = exchange(
            &[silent_addr.clone(), closed_addr.clone()],
            b"x",
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), "kdc_unreachable");
        let text = e.to_string();
        assert!(
            text.contains(&format!("{silent_addr}: no answer within 300ms")),
            "{text}"
        );
        assert!(text.contains(&closed_addr), "{text}");
        hold.abort();
    }
}

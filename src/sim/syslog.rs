//! The simulated appliance's syslog stream: the event-log lines a gateway
//! forwards (WELF inside RFC 5424, as the receiver's fixtures), sent over
//! UDP, TCP (octet counting, RFC 6587) or TLS (RFC 5425), and the faults a
//! receiver must survive: garbage, oversized messages, a flood.

use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// One WELF event-log message of appliance `host`, framed as RFC 5424.
pub fn message(host: &str, id_and_text: &str, realm: &str) -> String {
    format!(
        "<134>1 2024-01-10T03:00:00Z {host} PulseSecure - - - id=firewall time=\"2024-01-10 03:00:00\" pri=6 fw=127.0.0.1 vpn={host} ivs=Root user=System realm=\"{realm}\" roles=\"\" type=mgmt msg=\"{id_and_text}\""
    )
}

/// A built-in integrity scan of `host` that found `new` new and `modified`
/// modified files (no file-count message for a zero).
pub fn integrity_scan(host: &str, new: u64, modified: u64) -> Vec<String> {
    let mut v = vec![message(
        host,
        "SYS32087: A built-in integrity scan has started.",
        "",
    )];
    if new > 0 {
        v.push(message(host, &format!("SYS32039: New files were found with the Internal Integrity Check Tool: {new} new files."), ""));
    }
    if modified > 0 {
        v.push(message(host, &format!("SYS32040: A modified file was found with the Internal Integrity Check Tool: {modified} modified files."), ""));
    }
    v.push(message(
        host,
        "SYS32088: A built-in integrity scan has been completed.",
        "",
    ));
    v
}

/// `n` failed sign-ins in `realm` (password spraying).
pub fn failed_signins(host: &str, realm: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| message(host, &format!("AUT24327: Primary authentication failed for user{i}/System Local from 198.51.100.9"), realm))
        .collect()
}

/// Faults: `n` messages of bytes that are no syslog at all, and one
/// message of `size` bytes (over a receiver's limit).
pub fn garbage(n: usize, size: usize) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let seed = (i as u32).wrapping_mul(2_654_435_761);
            (0..(i % 200) + 1)
                .map(|j| (seed.rotate_left(j as u32 % 32) >> 3) as u8)
                .collect()
        })
        .collect();
    v.push(vec![b'x'; size]);
    v
}

/// Send each message as one UDP datagram to `to`.
pub async fn send_udp(
    to: std::net::SocketAddr,
    messages: &[impl AsRef<[u8]>],
) -> std::io::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    for m in messages {
        socket.send_to(m.as_ref(), to).await?;
    }
    Ok(())
}

/// Send the messages over one TCP connection with octet counting.
pub async fn send_tcp(
    to: std::net::SocketAddr,
    messages: &[impl AsRef<[u8]>],
) -> std::io::Result<()> {
    let mut s = TcpStream::connect(to).await?;
    write_frames(&mut s, messages).await?;
    s.shutdown().await
}

/// Send the messages over one TLS connection (RFC 5425: octet counting),
/// as `client` (its roots, and its certificate if it has one), to a server
/// whose certificate names `server_name`; the connection is closed with a
/// close_notify.
pub async fn send_tls(
    to: std::net::SocketAddr,
    client: Arc<rustls::ClientConfig>,
    server_name: &str,
    messages: &[impl AsRef<[u8]>],
) -> std::io::Result<()> {
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tcp = TcpStream::connect(to).await?;
    let mut s = tokio_rustls::TlsConnector::from(client)
        .connect(name, tcp)
        .await?;
    write_frames(&mut s, messages).await?;
    s.shutdown().await
}

/// `LEN SP MSG` for each message (RFC 6587 octet counting, RFC 5425 framing).
pub async fn write_frames(
    s: &mut (impl AsyncWrite + Unpin),
    messages: &[impl AsRef<[u8]>],
) -> std::io::Result<()> {
    for m in messages {
        let m = m.as_ref();
        s.write_all(format!("{} ", m.len()).as_bytes()).await?;
        s.write_all(m).await?;
    }
    s.flush().await
}

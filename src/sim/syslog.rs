//! The simulated appliance's syslog stream: the event-log lines a gateway
//! forwards (WELF inside RFC 5424, as the receiver's fixtures), sent over
//! UDP, TCP (octet counting, RFC 6587) or TLS (RFC 5425), and the faults a
//! receiver must survive: garbage, oversized messages, a flood. [`Stream`]
//! is a fleet's continuous stream (`simulate --syslog.forward-to`, `--demo`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;

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

/// Where `--syslog.forward-to` sends an appliance's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardTo {
    /// One datagram per message.
    Udp(SocketAddr),
    /// One connection per appliance, octet counting (RFC 6587).
    Tcp(SocketAddr),
}

/// Parse `IP:PORT`, `udp://IP:PORT` or `tcp://IP:PORT` (loopback only, as
/// everything the simulator does).
pub fn parse_forward_to(s: &str) -> Result<ForwardTo, String> {
    let (tcp, rest) = match s.strip_prefix("tcp://") {
        Some(r) => (true, r),
        None => (false, s.strip_prefix("udp://").unwrap_or(s)),
    };
    let addr: SocketAddr = rest.parse().map_err(|_| {
        format!("{s:?}: expected [udp://|tcp://]IP:PORT, e.g. udp://127.0.0.1:5514")
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{s:?}: the simulator sends to loopback addresses only"
        ));
    }
    Ok(if tcp {
        ForwardTo::Tcp(addr)
    } else {
        ForwardTo::Udp(addr)
    })
}

/// What one appliance's stream does instead of the healthy one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFault {
    /// Its integrity scans find 2 new and 1 modified file (`IvantiIntegrityScanFoundFiles`).
    FilesFound,
    /// Its scans start and report a bad manifest (SYS32042), never complete.
    ManifestBad,
    /// 30 failed sign-ins a tick (password spraying, `IvantiSignInFailuresHigh`).
    Spray,
    /// Sends nothing (forwarding blocked, `IvantiSyslogSilent`).
    Silent,
    /// Adds garbage and an oversized message every tick.
    Garbage,
}

impl StreamFault {
    /// The names `--syslog.faults` takes.
    pub const NAMES: [&'static str; 5] =
        ["files-found", "manifest-bad", "spray", "silent", "garbage"];

    fn parse(s: &str) -> Option<StreamFault> {
        Some(match s {
            "files-found" => StreamFault::FilesFound,
            "manifest-bad" => StreamFault::ManifestBad,
            "spray" => StreamFault::Spray,
            "silent" => StreamFault::Silent,
            "garbage" => StreamFault::Garbage,
            _ => return None,
        })
    }
}

/// Parse `--syslog.faults 2=files-found,3=silent` (appliance numbers as in
/// sim-002) into 0-based indexes.
pub fn parse_stream_faults(spec: &str) -> Result<Vec<(usize, StreamFault)>, String> {
    let mut v = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (n, f) = part
            .split_once('=')
            .ok_or_else(|| format!("bad syslog fault {part:?}: expected N=name"))?;
        let n: usize = n
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("bad appliance number {n:?} (they start at 1)"))?;
        let fault = StreamFault::parse(f.trim()).ok_or_else(|| {
            format!(
                "unknown syslog fault {f:?} (known: {})",
                StreamFault::NAMES.join(", ")
            )
        })?;
        v.push((n - 1, fault));
    }
    Ok(v)
}

/// A status line the simulator sends every tick so that a healthy
/// appliance's log is never silent. Its id is the simulator's own (no
/// gateway message is invented here): the receiver counts it as a gateway
/// message it does not interpret.
pub const HEARTBEAT: &str =
    "SIM00001: Simulated periodic status message (not a gateway message id)";

/// The fleet's syslog stream: every `interval`, each appliance (spread over
/// the interval, so a large fleet is no burst) sends a status line and 0 to
/// 2 failed sign-ins, and an integrity scan on the first tick and every
/// `scan_every` ticks after; [`StreamFault`]s change that per appliance.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Where to.
    pub to: ForwardTo,
    /// One round over the fleet.
    pub interval: Duration,
    /// Ticks between two integrity scans of an appliance (at least 1).
    pub scan_every: u64,
    /// Faults by 0-based appliance index.
    pub faults: Vec<(usize, StreamFault)>,
}

impl Stream {
    /// The messages appliance `i` (host name `host`) sends on `tick`.
    pub fn messages(&self, i: usize, host: &str, tick: u64) -> Vec<Vec<u8>> {
        let fault = self
            .faults
            .iter()
            .rev()
            .find(|(n, _)| *n == i)
            .map(|(_, f)| *f);
        if fault == Some(StreamFault::Silent) {
            return Vec::new();
        }
        let mut v = vec![message(host, HEARTBEAT, "")];
        if tick.is_multiple_of(self.scan_every.max(1)) {
            match fault {
                Some(StreamFault::FilesFound) => v.extend(integrity_scan(host, 2, 1)),
                Some(StreamFault::ManifestBad) => v.extend([
                    message(host, "SYS32087: A built-in integrity scan has started.", ""),
                    message(
                        host,
                        "SYS32042: The Integrity Checker Tool manifest file is bad.",
                        "",
                    ),
                ]),
                _ => v.extend(integrity_scan(host, 0, 0)),
            }
        }
        let (realm, n) = match fault {
            Some(StreamFault::Spray) => ("Users", 30),
            _ => (
                ["Users", "Admin Users"][(tick % 2) as usize],
                (i as u64 + tick) % 3,
            ),
        };
        v.extend(failed_signins(host, realm, n as usize));
        let mut v: Vec<Vec<u8>> = v.into_iter().map(String::into_bytes).collect();
        if fault == Some(StreamFault::Garbage) {
            v.extend(garbage(5, 9000));
        }
        v
    }

    /// Send the stream of the appliances named `hosts` until aborted. Send
    /// errors (no receiver yet, a closed connection) are logged at debug and
    /// the connection is made again on the next tick.
    pub fn spawn(self, hosts: Vec<String>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let gap = self.interval / u32::try_from(hosts.len().max(1)).unwrap_or(u32::MAX);
            let udp = match self.to {
                ForwardTo::Udp(_) => UdpSocket::bind("127.0.0.1:0").await.ok(),
                ForwardTo::Tcp(_) => None,
            };
            let mut conns: Vec<Option<TcpStream>> = hosts.iter().map(|_| None).collect();
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for tick in 0u64.. {
                ticks.tick().await;
                for (i, host) in hosts.iter().enumerate() {
                    let batch = self.messages(i, host, tick);
                    let sent = match (self.to, &udp) {
                        (ForwardTo::Udp(to), Some(s)) => send_batch_udp(s, to, &batch).await,
                        (ForwardTo::Tcp(to), _) => send_batch_tcp(&mut conns[i], to, &batch).await,
                        (ForwardTo::Udp(_), None) => Ok(()),
                    };
                    if let Err(e) = sent {
                        tracing::debug!(host = %host, error = %e, "simulated syslog: send failed");
                    }
                    tokio::time::sleep(gap).await;
                }
            }
        })
    }
}

async fn send_batch_udp(s: &UdpSocket, to: SocketAddr, batch: &[Vec<u8>]) -> std::io::Result<()> {
    for m in batch {
        s.send_to(m, to).await?;
    }
    Ok(())
}

/// On the appliance's kept connection (made when there is none; dropped on an error).
async fn send_batch_tcp(
    conn: &mut Option<TcpStream>,
    to: SocketAddr,
    batch: &[Vec<u8>],
) -> std::io::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let s = match conn {
        Some(s) => s,
        None => conn.insert(TcpStream::connect(to).await?),
    };
    let r = write_frames(s, batch).await;
    if r.is_err() {
        *conn = None;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syslog::event::{self, Event};

    #[test]
    fn forward_to_is_udp_unless_tcp_and_loopback_only() {
        let lo: SocketAddr = "127.0.0.1:5514".parse().unwrap();
        assert_eq!(parse_forward_to("127.0.0.1:5514"), Ok(ForwardTo::Udp(lo)));
        assert_eq!(
            parse_forward_to("udp://127.0.0.1:5514"),
            Ok(ForwardTo::Udp(lo))
        );
        assert_eq!(
            parse_forward_to("tcp://127.0.0.1:5514"),
            Ok(ForwardTo::Tcp(lo))
        );
        assert_eq!(
            parse_forward_to("tcp://[::1]:601"),
            Ok(ForwardTo::Tcp("[::1]:601".parse().unwrap()))
        );
        assert!(parse_forward_to("192.0.2.1:514")
            .unwrap_err()
            .contains("loopback"));
        assert!(parse_forward_to("tls://127.0.0.1:6514")
            .unwrap_err()
            .contains("expected"));
    }

    #[test]
    fn stream_faults_by_appliance_number() {
        assert_eq!(
            parse_stream_faults("2=files-found, 3=silent"),
            Ok(vec![(1, StreamFault::FilesFound), (2, StreamFault::Silent)])
        );
        assert_eq!(parse_stream_faults(""), Ok(vec![]));
        assert!(parse_stream_faults("0=spray").is_err());
        assert!(parse_stream_faults("2=loud").unwrap_err().contains("known"));
    }

    fn events(s: &Stream, i: usize, tick: u64) -> Vec<Event<'static>> {
        s.messages(i, "sim-001", tick)
            .into_iter()
            .map(|m| {
                let text: &'static str = Box::leak(String::from_utf8_lossy(&m).into());
                event::parse(text).event
            })
            .collect()
    }

    #[test]
    fn each_appliance_sends_what_its_fault_says() {
        let s = Stream {
            to: ForwardTo::Udp("127.0.0.1:1".parse().unwrap()),
            interval: Duration::from_secs(10),
            scan_every: 30,
            faults: vec![
                (1, StreamFault::FilesFound),
                (2, StreamFault::Silent),
                (3, StreamFault::Spray),
                (4, StreamFault::ManifestBad),
            ],
        };
        let fail = Event::SigninFailure;
        // Healthy, first tick: status, a clean scan, no failure (0 + 0) % 3.
        assert_eq!(
            events(&s, 0, 0),
            [Event::Other, Event::ScanStarted, Event::ScanCompleted]
        );
        // Tick 1: no scan, one failed sign-in in "Admin Users".
        assert_eq!(events(&s, 0, 1), [Event::Other, fail("Admin Users")]);
        // Tick 30: the next scan.
        assert!(events(&s, 0, 30).contains(&Event::ScanCompleted));
        assert_eq!(
            events(&s, 1, 0)[..5],
            [
                Event::Other,
                Event::ScanStarted,
                Event::NewFiles(2),
                Event::ModifiedFiles(1),
                Event::ScanCompleted
            ]
        );
        assert!(events(&s, 2, 0).is_empty());
        let spray = events(&s, 3, 1);
        assert_eq!(spray.iter().filter(|e| **e == fail("Users")).count(), 30);
        assert_eq!(
            events(&s, 4, 0)[..3],
            [Event::Other, Event::ScanStarted, Event::ManifestBad]
        );
    }
}

//! The listeners: UDP (one message per datagram) and TCP with RFC 6587
//! framing (octet-counting `LEN SP MSG`, or one message per line). Bounded:
//! a message size limit, a token bucket per sender address (at most
//! [`MAX_SENDERS`] tracked; senders beyond that share one bucket), a
//! connection cap. A message is mapped to a target by its source address
//! (when one target has it) or by its host name ([`Routes`]); unknown
//! senders are counted, never stored.

use super::config::SyslogConfig;
use super::event::{self, Event};
use super::state::Rejected;
use crate::config::TargetConfig;
use crate::store::Store;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Sender addresses with their own token bucket.
pub const MAX_SENDERS: usize = 4096;

/// Which target a message belongs to.
#[derive(Debug, Default)]
pub struct Routes {
    /// Source address → target, for addresses only one target has.
    by_addr: HashMap<IpAddr, Option<String>>,
    /// Lower-case host name (URL host, its first label, target name) → target.
    by_name: HashMap<String, String>,
}

impl Routes {
    /// Resolve each target's URL host once (IP literals as they are) and
    /// index its names.
    pub fn build(targets: &[Arc<TargetConfig>]) -> Routes {
        let mut r = Routes::default();
        for t in targets {
            let url = &t.client.url;
            let host = url.host_str().unwrap_or("").trim_matches(['[', ']']);
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => (host, port)
                    .to_socket_addrs()
                    .map(|a| a.map(|s| s.ip()).collect())
                    .unwrap_or_default(),
            };
            for ip in addrs {
                r.by_addr
                    .entry(ip)
                    .and_modify(|e| {
                        if e.as_deref() != Some(&t.name) {
                            *e = None; // shared address: use the host name
                        }
                    })
                    .or_insert_with(|| Some(t.name.clone()));
            }
            let lower = host.to_ascii_lowercase();
            let short = lower.split('.').next().unwrap_or("").to_owned();
            for name in [t.name.to_ascii_lowercase(), lower, short] {
                if !name.is_empty() && name.parse::<IpAddr>().is_err() {
                    r.by_name.entry(name).or_insert_with(|| t.name.clone());
                }
            }
        }
        r
    }

    /// The target of a message from `peer` naming these hosts.
    pub fn target(&self, peer: IpAddr, names: [Option<&str>; 2]) -> Option<&str> {
        let peer = canonical(peer);
        if let Some(Some(t)) = self.by_addr.get(&peer) {
            return Some(t);
        }
        names.into_iter().flatten().find_map(|n| {
            let n = n.to_ascii_lowercase();
            self.by_name
                .get(&n)
                .or_else(|| self.by_name.get(n.split('.').next().unwrap_or("")))
                .map(String::as_str)
        })
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What every listener shares.
#[derive(Debug)]
pub struct Shared {
    store: Arc<Store>,
    routes: RwLock<Arc<Routes>>,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    max_message_size: usize,
    rate: f64,
}

impl Shared {
    /// Replace the routes (on reload).
    pub fn set_routes(&self, routes: Routes) {
        *self.routes.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routes);
    }

    /// Take a token from `peer`'s bucket (capacity: two seconds' worth).
    fn allow(&self, peer: IpAddr) -> bool {
        let now = Instant::now();
        let burst = self.rate * 2.0;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(&peer) && map.len() >= MAX_SENDERS {
            // Forget the senders whose buckets have refilled (idle ones).
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate < burst
            });
        }
        // Still full: senders beyond the cap share one bucket.
        let key = if !map.contains_key(&peer) && map.len() >= MAX_SENDERS {
            IpAddr::from([0, 0, 0, 0])
        } else {
            peer
        };
        let b = map.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// One message from `peer`.
    pub fn handle(&self, peer: IpAddr, bytes: &[u8]) {
        let stats = &self.store.stats.syslog;
        stats.received.fetch_add(1, Ordering::Relaxed);
        if bytes.len() > self.max_message_size {
            stats.reject(Rejected::TooBig);
            return;
        }
        if !self.allow(canonical(peer)) {
            stats.reject(Rejected::RateLimited);
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        let m = event::parse(&text);
        let routes = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let inventory = self.store.inventory();
        let Some(state) = routes
            .target(peer, [m.hostname, m.node])
            .and_then(|name| inventory.get(name))
        else {
            stats.unknown_sender.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if m.event == Event::Unrecognized {
            stats.unrecognized.fetch_add(1, Ordering::Relaxed);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        state.syslog.record(&m.event, now);
    }
}

/// The running listeners.
#[derive(Debug)]
pub struct Receiver {
    /// Shared state (routes are replaced on reload).
    pub shared: Arc<Shared>,
    /// Bound UDP address.
    pub udp: Option<SocketAddr>,
    /// Bound TCP address.
    pub tcp: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Receiver {
    /// Bind the configured listeners and start receiving.
    pub async fn start(
        config: &SyslogConfig,
        routes: Routes,
        store: Arc<Store>,
    ) -> std::io::Result<Receiver> {
        store.stats.syslog.enabled.store(true, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            store,
            routes: RwLock::new(Arc::new(routes)),
            buckets: Mutex::new(HashMap::new()),
            max_message_size: config.max_message_size,
            rate: f64::from(config.rate_limit),
        });
        let mut tasks = Vec::new();
        let (mut udp, mut tcp) = (None, None);
        if let Some(addr) = config.udp {
            let socket = UdpSocket::bind(addr).await?;
            udp = Some(socket.local_addr()?);
            tasks.push(tokio::spawn(udp_loop(socket, shared.clone())));
        }
        if let Some(addr) = config.tcp {
            let listener = TcpListener::bind(addr).await?;
            tcp = Some(listener.local_addr()?);
            let cap = Arc::new(Semaphore::new(config.max_connections));
            tasks.push(tokio::spawn(tcp_loop(listener, cap, shared.clone())));
        }
        Ok(Receiver {
            shared,
            udp,
            tcp,
            tasks,
        })
    }
}

async fn udp_loop(socket: UdpSocket, shared: Arc<Shared>) {
    // One byte more than the limit: a longer datagram is seen as too big.
    let mut buf = vec![0u8; shared.max_message_size + 1];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, peer)) => shared.handle(peer.ip(), &buf[..n]),
            Err(e) => {
                tracing::debug!(error = %e, "syslog: UDP receive failed");
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn tcp_loop(listener: TcpListener, cap: Arc<Semaphore>, shared: Arc<Shared>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::task::yield_now().await;
            continue;
        };
        let Ok(permit) = cap.clone().try_acquire_owned() else {
            shared
                .store
                .stats
                .syslog
                .connections_limited
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            read_stream(stream, peer.ip(), &shared).await;
        });
    }
}

/// Read RFC 6587 frames until the peer closes or the framing breaks.
async fn read_stream(stream: TcpStream, peer: IpAddr, shared: &Shared) {
    let max = shared.max_message_size;
    let mut r = BufReader::new(stream);
    let mut msg = Vec::with_capacity(1024);
    loop {
        let first = match r.fill_buf().await {
            Ok([]) | Err(_) => return,
            Ok(b) => b[0],
        };
        msg.clear();
        if first.is_ascii_digit() {
            // Octet counting: `LEN SP MSG`.
            let mut len: usize = 0;
            let mut digits = 0;
            loop {
                let Ok(b) = r.read_u8().await else { return };
                match b {
                    b'0'..=b'9' if digits < 9 => {
                        len = len * 10 + usize::from(b - b'0');
                        digits += 1;
                    }
                    b' ' if digits > 0 => break,
                    _ => {
                        shared.store.stats.syslog.reject(Rejected::Framing);
                        return;
                    }
                }
            }
            if len > max {
                shared
                    .store
                    .stats
                    .syslog
                    .received
                    .fetch_add(1, Ordering::Relaxed);
                shared.store.stats.syslog.reject(Rejected::TooBig);
                // Skip it: the next frame follows.
                let mut skip = (&mut r).take(len as u64);
                if tokio::io::copy(&mut skip, &mut tokio::io::sink())
                    .await
                    .ok()
                    != Some(len as u64)
                {
                    return;
                }
                continue;
            }
            msg.resize(len, 0);
            if r.read_exact(&mut msg).await.is_err() {
                return;
            }
        } else {
            // Newline framing (a trailing NUL or CR is trimmed by the parser).
            let mut limited = (&mut r).take(max as u64 + 1);
            match limited.read_until(b'\n', &mut msg).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if msg.last() != Some(&b'\n') && msg.len() > max {
                // Too long: drop the rest of the line.
                shared.handle(peer, &msg); // counted as too big
                let mut rest = Vec::new();
                loop {
                    rest.clear();
                    let mut chunk = (&mut r).take(64 * 1024);
                    match chunk.read_until(b'\n', &mut rest).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if rest.last() == Some(&b'\n') => break,
                        Ok(_) => {}
                    }
                }
                continue;
            }
            while matches!(msg.last(), Some(b'\n' | b'\r' | b'\0')) {
                msg.pop();
            }
            if msg.is_empty() {
                continue;
            }
        }
        shared.handle(peer, &msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_unique_address_then_by_name() {
        let config = crate::config::Config::from_yaml(
            "defaults: { api_key: k }\ntargets:\n  - { name: vpn-fra-1, url: \"https://192.0.2.1\" }\n  - { name: a, url: \"https://127.0.0.1:1\" }\n  - { name: b, url: \"https://127.0.0.1:2\" }\n  - { name: c, url: \"https://vpn-c.example.net\" }\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let r = Routes::build(&config.targets);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let fra: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(r.target(fra, [None, None]), Some("vpn-fra-1"));
        assert_eq!(r.target(lo, [None, None]), None, "shared address");
        assert_eq!(r.target(lo, [Some("B"), None]), Some("b"));
        assert_eq!(r.target(lo, [Some("x"), Some("vpn-c")]), Some("c"));
        assert_eq!(r.target(lo, [Some("VPN-C.example.net"), None]), Some("c"));
        assert_eq!(r.target(lo, [Some("nobody"), None]), None);
    }
}

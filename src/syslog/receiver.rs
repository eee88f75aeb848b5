//! The listeners: UDP (one message per datagram), TCP with RFC 6587
//! framing (octet-counting `LEN SP MSG`, or one message per line) and TLS
//! (RFC 5425: octet counting inside TLS; the same reader). Bounded: a
//! message size limit, a token bucket per sender address (at most
//! [`MAX_SENDERS`] tracked; senders beyond that share one bucket), one
//! connection cap for TCP and TLS together and a smaller one per sender
//! address, an idle timeout per connection (the TLS handshake included),
//! so that idle sockets cannot hold the cap for ever, and a deadline for a
//! message to arrive whole once it has begun, so that a sender trickling a
//! byte at a time cannot either. A message is mapped to a target by its source address
//! (when one target has it) or by its host name ([`Routes`]); unknown
//! senders are counted, never stored.

use super::config::SyslogConfig;
use super::event::{self, Event};
use super::state::{Refused, Rejected};
use crate::config::TargetConfig;
use crate::store::Store;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader, ReadBuf};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

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
    idle_timeout: Duration,
    /// A message begun must be whole within this.
    message_timeout: Duration,
    /// Connections at once per sender address.
    max_per_sender: usize,
    /// Open TCP/TLS connections by sender address (entries with none are
    /// removed: at most one per open connection).
    connections: Mutex<HashMap<IpAddr, usize>>,
    /// A refused TLS handshake was logged at warn (later ones at debug).
    tls_warned: AtomicBool,
}

impl Shared {
    /// Replace the routes (on reload).
    pub fn set_routes(&self, routes: Routes) {
        *self.routes.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routes);
    }

    /// Take a token from `peer`'s bucket (capacity: two seconds' worth).
    fn allow(&self, peer: IpAddr) -> bool {
        self.allow_at(peer, Instant::now())
    }

    /// [`Shared::allow`] at a given time (tests drive the clock).
    fn allow_at(&self, peer: IpAddr, now: Instant) -> bool {
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
    /// Bound TLS address.
    pub tls: Option<SocketAddr>,
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
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
        let shared = Arc::new(Shared {
            store,
            routes: RwLock::new(Arc::new(routes)),
            buckets: Mutex::new(HashMap::new()),
            max_message_size: config.max_message_size,
            rate: f64::from(config.rate_limit),
            idle_timeout: config.idle_timeout,
            message_timeout: config.message_timeout,
            max_per_sender: config.max_connections_per_sender,
            connections: Mutex::new(HashMap::new()),
            tls_warned: AtomicBool::new(false),
        });
        let mut tasks = Vec::new();
        let (mut udp, mut tcp, mut tls) = (None, None, None);
        if let Some(addr) = config.udp {
            let socket = UdpSocket::bind(addr).await?;
            udp = Some(socket.local_addr()?);
            tasks.push(tokio::spawn(udp_loop(socket, shared.clone())));
        }
        // One cap for both stream listeners: it bounds the open sockets.
        let cap = Arc::new(Semaphore::new(config.max_connections));
        if let Some(addr) = config.tcp {
            let listener = TcpListener::bind(addr).await?;
            tcp = Some(listener.local_addr()?);
            tasks.push(tokio::spawn(accept_loop(
                listener,
                None,
                cap.clone(),
                shared.clone(),
            )));
        }
        if let Some(t) = &config.tls {
            let listener = TcpListener::bind(t.address).await?;
            tls = Some(listener.local_addr()?);
            let acceptor = TlsAcceptor::from(t.server.clone());
            tasks.push(tokio::spawn(accept_loop(
                listener,
                Some(acceptor),
                cap,
                shared.clone(),
            )));
        }
        tracing::info!(
            udp = ?udp,
            tcp = ?tcp,
            tls = ?tls,
            idle_timeout = %humantime::format_duration(config.idle_timeout),
            message_timeout = %humantime::format_duration(config.message_timeout),
            "syslog receiver listening"
        );
        Ok(Receiver {
            shared,
            udp,
            tcp,
            tls,
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

/// Accept TCP connections (TLS ones when `tls` is set) up to the cap;
/// each is read in its own task.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    cap: Arc<Semaphore>,
    shared: Arc<Shared>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::task::yield_now().await;
            continue;
        };
        // The sender's own share first: one address cannot take every slot.
        let Some(slot) = SenderSlot::take(&shared, peer.ip()) else {
            shared.store.stats.syslog.refuse(Refused::SenderLimit);
            tracing::debug!(peer = %peer.ip(), "syslog: connection refused (syslog.max_connections_per_sender)");
            drop(stream);
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
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = (permit, slot);
            let peer = peer.ip();
            let Some(acceptor) = tls else {
                return serve(stream, peer, &shared).await;
            };
            match tokio::time::timeout(shared.idle_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve(stream, peer, &shared).await,
                Ok(Err(e)) => shared.refused(peer, &e),
                Err(_) => {
                    shared
                        .store
                        .stats
                        .syslog
                        .idle_closed
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// One of a sender address's connections (given back when dropped).
struct SenderSlot {
    shared: Arc<Shared>,
    peer: IpAddr,
}

impl SenderSlot {
    /// A slot of `peer`'s, unless it holds `max_connections_per_sender`.
    fn take(shared: &Arc<Shared>, peer: IpAddr) -> Option<SenderSlot> {
        let peer = canonical(peer);
        let mut map = shared.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(peer).or_insert(0);
        if *n >= shared.max_per_sender {
            return None;
        }
        *n += 1;
        Some(SenderSlot {
            shared: shared.clone(),
            peer,
        })
    }
}

impl Drop for SenderSlot {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.peer);
            }
        }
    }
}

impl Shared {
    /// Count and log a refused TLS handshake: the first at warn, the rest
    /// at debug (a scanner must not fill the log). The error is rustls'
    /// description (no key material); the peer is the connecting host.
    fn refused(&self, peer: IpAddr, e: &std::io::Error) {
        let why = refusal(e);
        self.store.stats.syslog.refuse(why);
        if self.tls_warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(%peer, reason = why.label(), error = %e, "syslog: TLS handshake refused");
        } else {
            tracing::warn!(%peer, reason = why.label(), error = %e, "syslog: TLS handshake refused (further ones are logged at debug and counted in ivanti_exporter_syslog_connections_rejected_total)");
        }
    }
}

/// Why a handshake failed, from the rustls error inside tokio-rustls' I/O error.
fn refusal(e: &std::io::Error) -> Refused {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::NoCertificatesPresented) => Refused::NoCertificate,
        Some(rustls::Error::InvalidCertificate(_)) => Refused::BadCertificate,
        _ => Refused::Handshake,
    }
}

/// Read one connection's messages; count it when the idle timeout closed it.
async fn serve<S: AsyncRead + Unpin>(stream: S, peer: IpAddr, shared: &Shared) {
    let mut idle = Idle::new(stream, shared.idle_timeout);
    read_stream(&mut idle, peer, shared).await;
    if idle.timed_out {
        shared
            .store
            .stats
            .syslog
            .idle_closed
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// A stream whose reads fail with `TimedOut` once it has delivered no byte
/// for `idle`: every read path of [`read_stream`] (frame header, message
/// body, a long line being skipped) is bounded by it.
struct Idle<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: bool,
}

impl<S> Idle<S> {
    fn new(inner: S, idle: Duration) -> Idle<S> {
        Idle {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            timed_out: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    let next = tokio::time::Instant::now() + this.idle;
                    this.deadline.as_mut().reset(next);
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.timed_out = true;
                    Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Read RFC 6587 frames until the peer closes, the framing breaks or a
/// message is not whole within `message_timeout` of its first byte.
async fn read_stream<S: AsyncRead + Unpin>(stream: S, peer: IpAddr, shared: &Shared) {
    let mut r = BufReader::new(stream);
    let mut msg = Vec::with_capacity(1024);
    loop {
        // Between messages only the idle timeout applies.
        let first = match r.fill_buf().await {
            Ok([]) | Err(_) => return,
            Ok(b) => b[0],
        };
        msg.clear();
        let frame = read_frame(&mut r, first, &mut msg, peer, shared);
        match tokio::time::timeout(shared.message_timeout, frame).await {
            Ok(Next::Message) => shared.handle(peer, &msg),
            Ok(Next::Skip) => {}
            Ok(Next::Close) => return,
            Err(_) => {
                shared.store.stats.syslog.reject(Rejected::Incomplete);
                return;
            }
        }
    }
}

/// What [`read_frame`] leaves the stream reader to do.
enum Next {
    /// `msg` holds a message.
    Message,
    /// Nothing to handle (an empty line, or a message too big and skipped).
    Skip,
    /// The stream ended or its framing broke.
    Close,
}

/// One frame whose first byte is `first` (not yet consumed): octet
/// counting (`LEN SP MSG`) when it is a digit, else one line.
async fn read_frame<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    first: u8,
    msg: &mut Vec<u8>,
    peer: IpAddr,
    shared: &Shared,
) -> Next {
    let max = shared.max_message_size;
    if first.is_ascii_digit() {
        // Octet counting: `LEN SP MSG`.
        let mut len: usize = 0;
        let mut digits = 0;
        loop {
            let Ok(b) = r.read_u8().await else {
                return Next::Close;
            };
            match b {
                b'0'..=b'9' if digits < 9 => {
                    len = len * 10 + usize::from(b - b'0');
                    digits += 1;
                }
                b' ' if digits > 0 => break,
                _ => {
                    shared.store.stats.syslog.reject(Rejected::Framing);
                    return Next::Close;
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
            let mut skip = r.take(len as u64);
            let skipped = tokio::io::copy(&mut skip, &mut tokio::io::sink()).await;
            return if skipped.ok() == Some(len as u64) {
                Next::Skip
            } else {
                Next::Close
            };
        }
        msg.resize(len, 0);
        if r.read_exact(msg).await.is_err() {
            return Next::Close;
        }
        return Next::Message;
    }
    // Newline framing (a trailing NUL or CR is trimmed by the parser).
    let mut limited = r.take(max as u64 + 1);
    match limited.read_until(b'\n', msg).await {
        Ok(0) | Err(_) => return Next::Close,
        Ok(_) => {}
    }
    let r = limited.into_inner();
    if msg.last() != Some(&b'\n') && msg.len() > max {
        // Too long: drop the rest of the line.
        shared.handle(peer, msg); // counted as too big
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let mut chunk = (&mut *r).take(64 * 1024);
            match chunk.read_until(b'\n', &mut rest).await {
                Ok(0) | Err(_) => return Next::Close,
                Ok(_) if rest.last() == Some(&b'\n') => return Next::Skip,
                Ok(_) => {}
            }
        }
    }
    while matches!(msg.last(), Some(b'\n' | b'\r' | b'\0')) {
        msg.pop();
    }
    if msg.is_empty() {
        Next::Skip
    } else {
        Next::Message
    }
}

/// One target `vpn-a` (at 192.0.2.10, so loopback senders are routed by
/// host name), a receiver's shared state at `rate` messages/s, the default
/// limits otherwise: for the unit tests and the fuzz target.
#[cfg(any(test, fuzzing))]
pub(crate) fn test_shared(rate: u32, idle_timeout: Duration) -> Arc<Shared> {
    use crate::store::{Inventory, TargetState};
    let config = crate::config::Config::from_yaml(
        "defaults: { api_key: k }\ntargets:\n  - { name: vpn-a, url: \"https://192.0.2.10\" }\n",
        std::path::Path::new("."),
    )
    .expect("the test configuration loads");
    let store = Arc::new(Store::new());
    store.set_inventory(Inventory::new(vec![Arc::new(TargetState::new(
        config.targets[0].clone(),
    ))]));
    store.stats.syslog.enabled.store(true, Ordering::Relaxed);
    Arc::new(Shared {
        store,
        routes: RwLock::new(Arc::new(Routes::build(&config.targets))),
        buckets: Mutex::new(HashMap::new()),
        max_message_size: super::config::DEFAULT_MAX_MESSAGE_SIZE,
        rate: f64::from(rate),
        idle_timeout,
        message_timeout: super::config::DEFAULT_MESSAGE_TIMEOUT,
        max_per_sender: super::config::DEFAULT_MAX_CONNECTIONS_PER_SENDER,
        connections: Mutex::new(HashMap::new()),
        tls_warned: AtomicBool::new(false),
    })
}

/// The `syslog` fuzz target's stream half: `data` read as one TCP (or,
/// after its handshake, TLS) connection from loopback to its end, however
/// framed; the receiver's and `vpn-a`'s series into `out`.
#[cfg(any(test, fuzzing))]
pub fn fuzz_stream(data: &[u8], out: &mut crate::exposition::Samples) {
    let shared = test_shared(1_000_000, Duration::from_secs(60));
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    rt.block_on(read_stream(data, IpAddr::from([127, 0, 0, 1]), &shared));
    shared.store.stats.syslog.samples(out);
    if let Some(t) = shared.store.inventory().get("vpn-a") {
        t.syslog.samples(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Samples;
    use crate::sim::syslog as sim;

    fn shared(rate: u32, idle_timeout: Duration) -> Arc<Shared> {
        test_shared(rate, idle_timeout)
    }

    /// `vpn-a`'s series.
    fn target_samples(shared: &Shared) -> Samples {
        let mut s = Samples::new();
        let inv = shared.store.inventory();
        inv.get("vpn-a").unwrap().syslog.samples(&mut s);
        s
    }

    /// A stream that hands out one chunk per read, as TCP segments arrive.
    struct Chunks(std::collections::VecDeque<Vec<u8>>);

    impl AsyncRead for Chunks {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let this = self.get_mut();
            if let Some(mut c) = this.0.pop_front() {
                let n = c.len().min(buf.remaining());
                buf.put_slice(&c[..n]);
                if n < c.len() {
                    this.0.push_front(c.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn newline_framing_with_crlf_and_a_message_split_across_reads() {
        let shared = shared(1000, Duration::from_secs(60));
        let started = sim::message(
            "vpn-a",
            "SYS32087: A built-in integrity scan has started.",
            "",
        );
        let found = sim::message(
            "vpn-a",
            "SYS32039: New files were found with the Internal Integrity Check Tool: 12 new files.",
            "",
        );
        let done = sim::message(
            "vpn-a",
            "SYS32088: A built-in integrity scan has been completed.",
            "",
        );
        // RFC 6587 non-transparent framing: LF, CRLF, a trailing NUL; an
        // empty line between frames is no message.
        let stream = format!("{started}\r\n\n{found}\n{done}\0\n");
        // Cut the second message between the "1" and the "2" of "12".
        let cut = stream.find("12 new files").unwrap() + 1;
        let (a, b) = stream.as_bytes().split_at(cut);
        let (b, c) = b.split_at(b.len() - 3);
        let chunks = Chunks([a, b, c].iter().map(|x| x.to_vec()).collect());
        read_stream(chunks, "127.0.0.1".parse().unwrap(), &shared).await;
        let s = target_samples(&shared);
        assert_eq!(s.value_of("ivanti_syslog_messages_total", ""), Some(3.0));
        assert_eq!(
            s.value_of("ivanti_integrity_scan_new_files", ""),
            Some(12.0)
        );
        assert_eq!(
            s.value_of("ivanti_integrity_scans_total", "files_found"),
            Some(1.0)
        );
        let stats = &shared.store.stats.syslog;
        assert_eq!(stats.received.load(Ordering::Relaxed), 3);
        assert_eq!(stats.unrecognized.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn octet_counting_then_broken_framing_closes_the_stream() {
        let shared = shared(1000, Duration::from_secs(60));
        let m = sim::message(
            "vpn-a",
            "SYS32087: A built-in integrity scan has started.",
            "",
        );
        // A frame, a frame split inside its length, then a length without its space.
        let stream = format!("{} {m}{} {m}12x", m.len(), m.len());
        let cut = stream.len() - m.len() - 3;
        let (a, b) = stream.as_bytes().split_at(cut);
        read_stream(
            Chunks([a.to_vec(), b.to_vec()].into()),
            "127.0.0.1".parse().unwrap(),
            &shared,
        )
        .await;
        let s = target_samples(&shared);
        assert_eq!(s.value_of("ivanti_syslog_messages_total", ""), Some(2.0));
        let stats = &shared.store.stats.syslog;
        let framing = Rejected::ALL
            .iter()
            .position(|r| *r == Rejected::Framing)
            .unwrap();
        assert_eq!(stats.rejected[framing].load(Ordering::Relaxed), 1);
    }

    #[test]
    fn token_bucket_burst_then_refill_on_a_fake_clock() {
        let shared = shared(10, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        let take = |peer, at, n: usize| (0..n).filter(|_| shared.allow_at(peer, at)).count();
        // Burst: two seconds' worth (20), then nothing.
        assert_eq!(take(a, t0, 25), 20);
        // Another sender has its own bucket.
        assert_eq!(take(b, t0, 25), 20);
        // 10 per second: 100 ms gives one more, 1.5 s fifteen.
        assert_eq!(take(a, t0 + Duration::from_millis(100), 5), 1);
        assert_eq!(take(a, t0 + Duration::from_millis(1600), 30), 15);
        // A long pause refills to the burst, no more.
        assert_eq!(take(a, t0 + Duration::from_secs(60), 100), 20);
    }

    #[test]
    fn senders_beyond_the_cap_share_one_bucket_until_idle_ones_are_forgotten() {
        let shared = shared(10, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_SENDERS as u32 {
            assert!(shared.allow_at(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), t0));
        }
        let (x, y): (IpAddr, IpAddr) = (
            "198.51.100.1".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
        );
        let take = |peer, at, n: usize| (0..n).filter(|_| shared.allow_at(peer, at)).count();
        // No bucket is idle (each lost a token): x and y share one.
        assert_eq!(take(x, t0, 20), 20);
        assert_eq!(take(y, t0, 20), 0);
        // Ten seconds on every bucket is full again: they are forgotten and
        // y gets its own bucket.
        assert_eq!(take(y, t0 + Duration::from_secs(10), 25), 20);
        let kept = shared.buckets.lock().unwrap().len();
        assert!(kept < MAX_SENDERS, "{kept}");
    }

    /// On tokio's paused clock: a client that opens a TLS connection and
    /// never sends its hello holds a slot for the idle timeout, no longer.
    #[tokio::test(start_paused = true)]
    async fn an_unfinished_tls_handshake_is_closed_after_the_idle_timeout() {
        let shared = shared(1000, Duration::from_secs(300));
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cap = Arc::new(Semaphore::new(1));
        let task = tokio::spawn(accept_loop(
            listener,
            Some(TlsAcceptor::from(Arc::new(server))),
            cap.clone(),
            shared.clone(),
        ));
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let start = tokio::time::Instant::now();
        let mut buf = [0u8; 1];
        assert_eq!(silent.read(&mut buf).await.unwrap(), 0);
        assert!(start.elapsed() >= Duration::from_secs(300));
        let stats = &shared.store.stats.syslog;
        assert_eq!(stats.idle_closed.load(Ordering::Relaxed), 1);
        // Timed out, not refused: nothing counted as a bad handshake.
        for n in &stats.connections_rejected {
            assert_eq!(n.load(Ordering::Relaxed), 0);
        }
        tokio::task::yield_now().await;
        assert_eq!(cap.available_permits(), 1);
        task.abort();
    }

    /// On tokio's paused clock: the idle timeout is reset by every byte and
    /// closes the connection once nothing came for that long.
    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_and_a_talking_one_is_not() {
        let idle = Duration::from_secs(300);
        let shared = shared(1000, idle);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cap = Arc::new(Semaphore::new(2));
        let task = tokio::spawn(accept_loop(listener, None, cap.clone(), shared.clone()));
        let m = sim::message(
            "vpn-a",
            "SYS32087: A built-in integrity scan has started.",
            "",
        );

        // Talks at 0, 200 and 400 s: still open at 600 s.
        let mut talker = tokio::net::TcpStream::connect(addr).await.unwrap();
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            sim::write_frames(&mut talker, &[&m]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(200)).await;
        }
        assert_eq!(
            shared
                .store
                .stats
                .syslog
                .idle_closed
                .load(Ordering::Relaxed),
            0
        );
        // Then silent: closed by the receiver (EOF), and counted.
        let mut buf = [0u8; 1];
        assert_eq!(talker.read(&mut buf).await.unwrap(), 0);
        // The last message went at 400 s: closed 300 s after it, not before.
        assert!(start.elapsed() >= Duration::from_secs(400) + idle);
        assert_eq!(
            shared
                .store
                .stats
                .syslog
                .idle_closed
                .load(Ordering::Relaxed),
            1
        );
        assert_eq!(
            target_samples(&shared).value_of("ivanti_syslog_messages_total", ""),
            Some(3.0)
        );

        // Silent from the start, holding a slot of the cap: closed, and
        // the slot is free again for a gateway.
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_eq!(silent.read(&mut buf).await.unwrap(), 0);
        assert_eq!(
            shared
                .store
                .stats
                .syslog
                .idle_closed
                .load(Ordering::Relaxed),
            2
        );
        tokio::task::yield_now().await;
        assert_eq!(cap.available_permits(), 2);
        drop(talker);
        task.abort();
    }

    fn refused(shared: &Shared, why: Refused) -> u64 {
        let i = Refused::ALL.iter().position(|r| *r == why).unwrap();
        shared.store.stats.syslog.connections_rejected[i].load(Ordering::Relaxed)
    }

    fn rejected(shared: &Shared, why: Rejected) -> u64 {
        let i = Rejected::ALL.iter().position(|r| *r == why).unwrap();
        shared.store.stats.syslog.rejected[i].load(Ordering::Relaxed)
    }

    /// A TCP connection to `to` from the loopback address `from`.
    async fn connect_from(from: [u8; 4], to: SocketAddr) -> tokio::net::TcpStream {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(SocketAddr::from((from, 0))).unwrap();
        s.connect(to).await.unwrap()
    }

    /// One sender address holds at most `max_connections_per_sender` (4
    /// here) of the 64 slots: its fifth connection is closed at once and
    /// counted, another address still gets in, and a slot given back can
    /// be taken again.
    #[tokio::test]
    async fn one_sender_cannot_take_every_connection_slot() {
        let shared = shared(1000, Duration::from_secs(300));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cap = Arc::new(Semaphore::new(64));
        let task = tokio::spawn(accept_loop(listener, None, cap.clone(), shared.clone()));
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(connect_from([127, 0, 0, 1], addr).await);
        }
        // Accepted in order: the fifth finds the four slots taken.
        let mut fifth = connect_from([127, 0, 0, 1], addr).await;
        let mut buf = [0u8; 1];
        assert_eq!(fifth.read(&mut buf).await.unwrap_or(0), 0, "closed at once");
        assert_eq!(refused(&shared, Refused::SenderLimit), 1);

        // Another address has its own share: its message is read.
        let m = sim::message(
            "vpn-a",
            "SYS32087: A built-in integrity scan has started.",
            "",
        );
        let mut other = connect_from([127, 0, 0, 2], addr).await;
        sim::write_frames(&mut other, &[&m]).await.unwrap();
        tokio::io::AsyncWriteExt::shutdown(&mut other)
            .await
            .unwrap();
        assert_eq!(other.read(&mut buf).await.unwrap_or(0), 0);
        assert_eq!(
            target_samples(&shared).value_of("ivanti_syslog_messages_total", ""),
            Some(1.0)
        );
        assert_eq!(refused(&shared, Refused::SenderLimit), 1);

        // One of the four closes: once the receiver has seen it go, the
        // address may connect again.
        drop(held.pop());
        let lo: IpAddr = [127, 0, 0, 1].into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while shared.connections.lock().unwrap().get(&lo) != Some(&3) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "slot not given back"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut again = connect_from([127, 0, 0, 1], addr).await;
        sim::write_frames(&mut again, &[&m]).await.unwrap();
        tokio::io::AsyncWriteExt::shutdown(&mut again)
            .await
            .unwrap();
        assert_eq!(again.read(&mut buf).await.unwrap_or(0), 0);
        assert_eq!(
            target_samples(&shared).value_of("ivanti_syslog_messages_total", ""),
            Some(2.0)
        );
        assert_eq!(refused(&shared, Refused::SenderLimit), 1);
        // Nothing of the refused connections was taken from the global cap.
        drop(held);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while cap.available_permits() != 64 || !shared.connections.lock().unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "slots not given back"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        task.abort();
    }

    /// On tokio's paused clock: a message may arrive in pieces, each
    /// message having `message_timeout` (30 s) from its first byte; a
    /// sender that trickles a byte every 10 s (well inside the 300 s idle
    /// timeout) has its message dropped and its connection closed at 30 s.
    #[tokio::test(start_paused = true)]
    async fn a_message_trickled_slower_than_the_message_timeout_is_dropped() {
        let shared = shared(1000, Duration::from_secs(300));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cap = Arc::new(Semaphore::new(4));
        let task = tokio::spawn(accept_loop(listener, None, cap.clone(), shared.clone()));
        let m = sim::message(
            "vpn-a",
            "SYS32087: A built-in integrity scan has started.",
            "",
        );
        let frame = format!("{} {m}", m.len());
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Two messages in five pieces 5 s apart: 20 s each, 40 s in all.
        for _ in 0..2 {
            for piece in frame.as_bytes().chunks(frame.len().div_ceil(5)) {
                tokio::io::AsyncWriteExt::write_all(&mut conn, piece)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while target_samples(&shared).value_of("ivanti_syslog_messages_total", "") != Some(2.0) {
            assert!(tokio::time::Instant::now() < deadline, "two messages");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(rejected(&shared, Rejected::Incomplete), 0);

        // Now a byte every 10 s, for ever.
        let trickle = frame.clone().into_bytes();
        let start = tokio::time::Instant::now();
        let (mut rd, mut wr) = conn.into_split();
        let writer = tokio::spawn(async move {
            for b in trickle {
                if tokio::io::AsyncWriteExt::write_all(&mut wr, &[b])
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        });
        let mut buf = [0u8; 1];
        assert_eq!(
            rd.read(&mut buf).await.unwrap_or(0),
            0,
            "closed by the receiver"
        );
        assert!(start.elapsed() >= Duration::from_secs(30));
        assert_eq!(rejected(&shared, Rejected::Incomplete), 1);
        // Closed for the slow message, not for idleness; nothing more counted.
        let stats = &shared.store.stats.syslog;
        assert_eq!(stats.idle_closed.load(Ordering::Relaxed), 0);
        assert_eq!(
            target_samples(&shared).value_of("ivanti_syslog_messages_total", ""),
            Some(2.0)
        );
        tokio::task::yield_now().await;
        assert_eq!(cap.available_permits(), 4);
        writer.abort();
        task.abort();
    }

    /// Run [`read_stream`] over `stream` cut into pieces at `cuts`
    /// (positions, any order, out of range ones ignored), to its end.
    fn read_in_pieces(shared: &Shared, stream: &[u8], cuts: &[usize]) {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        at.push(0);
        at.push(stream.len());
        at.sort_unstable();
        at.dedup();
        let chunks = Chunks(at.windows(2).map(|w| stream[w[0]..w[1]].to_vec()).collect());
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(read_stream(chunks, "127.0.0.1".parse().unwrap(), shared));
    }

    fn received(shared: &Shared) -> u64 {
        shared.store.stats.syslog.received.load(Ordering::Relaxed)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The TCP and TLS reader (both framings, the size limit, the
        /// skipping of an oversized frame or line) takes any bytes, cut
        /// anywhere, without panicking, and hands on no more messages than
        /// the stream has bytes.
        #[test]
        fn any_bytes_cut_anywhere_never_panic_the_stream_reader(
            stream in proptest::collection::vec(proptest::num::u8::ANY, 0..20_000),
            cuts in proptest::collection::vec(proptest::num::usize::ANY, 0..8),
        ) {
            let shared = shared(1000, Duration::from_secs(60));
            read_in_pieces(&shared, &stream, &cuts);
            proptest::prop_assert!(received(&shared) <= stream.len() as u64);
        }

        /// Octet-counted frames of any bytes (empty ones and ones over the
        /// 8 KiB limit among them), cut anywhere: each is one message
        /// received, the oversized ones rejected as too big, and the frame
        /// after an oversized one is still read.
        #[test]
        fn octet_counted_frames_of_any_bytes_are_each_one_message(
            frames in proptest::collection::vec(
                proptest::collection::vec(proptest::num::u8::ANY, 0..10_000), 1..6),
            cuts in proptest::collection::vec(proptest::num::usize::ANY, 0..8),
        ) {
            let shared = shared(1_000_000, Duration::from_secs(60));
            let mut stream = Vec::new();
            for f in &frames {
                stream.extend_from_slice(format!("{} ", f.len()).as_bytes());
                stream.extend_from_slice(f);
            }
            read_in_pieces(&shared, &stream, &cuts);
            let too_big = frames.iter().filter(|f| f.len() > 8 << 10).count() as u64;
            proptest::prop_assert_eq!(received(&shared), frames.len() as u64);
            proptest::prop_assert_eq!(rejected(&shared, Rejected::TooBig), too_big);
            proptest::prop_assert_eq!(rejected(&shared, Rejected::Framing), 0);
        }

        /// Newline-framed lines (no LF inside; not starting with a digit,
        /// which would mean octet counting; CR, NUL and non-UTF-8 allowed),
        /// cut anywhere: each non-empty line is one message.
        #[test]
        fn newline_framed_lines_are_each_one_message(
            lines in proptest::collection::vec(
                ("[<a-zA-Z]", proptest::collection::vec(proptest::num::u8::ANY, 0..300)), 1..20),
            cuts in proptest::collection::vec(proptest::num::usize::ANY, 0..8),
        ) {
            let shared = shared(1_000_000, Duration::from_secs(60));
            let mut stream = Vec::new();
            for (first, rest) in &lines {
                stream.extend_from_slice(first.as_bytes());
                stream.extend(rest.iter().copied().filter(|b| *b != b'\n'));
                stream.push(b'\n');
            }
            read_in_pieces(&shared, &stream, &cuts);
            proptest::prop_assert_eq!(received(&shared), lines.len() as u64);
        }
    }

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

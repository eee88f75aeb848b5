//! The accept loop of the exporter's own HTTP(S) server, hardened against
//! clients that hold connections open:
//!
//! - `--web.read-header-timeout`: a connection that has not sent a whole
//!   request header this long after it opened (or after its previous
//!   answer, for a kept-alive one) is closed (hyper's `header_read_timeout`).
//! - `--web.max-connections`: at most this many connections are open; the
//!   next one waits in the listen backlog until one closes (the shape of
//!   Go's `netutil.LimitListener`, which Prometheus uses for the flag of the
//!   same name). Each wait is counted and logged at warn, at most once a minute.
//!
//! Graceful shutdown: no new connections, open ones finish their request.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// At most one "connection limit reached" warning per this many seconds.
const LIMIT_WARN_EVERY_SECS: i64 = 60;

/// The limits of the server (`--web.read-header-timeout`, `--web.max-connections`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Close a connection whose request header is not complete after this long.
    pub read_header_timeout: Duration,
    /// Connections open at once; the next waits until one closes.
    pub max_connections: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            read_header_timeout: Duration::from_secs(5),
            max_connections: 512,
        }
    }
}

/// Bind `addr` as Go's `net.Listen("tcp", addr)` does for the IPv6
/// wildcard: `[::]:port` (what `:port` means) is one dual-stack socket that
/// takes IPv4 (as mapped addresses) and IPv6 connections, whatever the
/// system's `net.ipv6.bindv6only`; on a host without IPv6 it falls back to
/// `0.0.0.0:port`. Any other address is bound as it is.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    if addr.ip() != IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        let socket = std::net::TcpListener::bind(addr)?;
        socket.set_nonblocking(true)?;
        return TcpListener::from_std(socket);
    }
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = match Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)) {
        Ok(s) => s,
        // No IPv6 in this kernel (or container): IPv4 only.
        Err(_) => return bind(SocketAddr::from(([0, 0, 0, 0], addr.port()))),
    };
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// Serve `app` on `listeners` (over TLS when `tls` is set) until `stop`
/// turns true, then let the open connections finish their requests. The
/// connection limit counts the connections of all listeners together.
/// `on_limit` is called each time a connection has to wait for a free slot.
pub async fn serve(
    listeners: Vec<TcpListener>,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    on_limit: impl Fn() + Send + Sync + 'static,
    stop: watch::Receiver<bool>,
) {
    let max = limits.max_connections.max(1);
    let shared = Shared {
        slots: Arc::new(Semaphore::new(max as usize)),
        acceptor: tls.map(tokio_rustls::TlsAcceptor::from),
        last_warn: AtomicI64::new(0),
        on_limit: Box::new(on_limit),
        max,
        limits,
        app,
    };
    let loops = listeners
        .into_iter()
        .map(|l| accept_loop(l, &shared, stop.clone()));
    futures_util::future::join_all(loops).await;
    // Every slot back: every connection is closed.
    let _ = shared.slots.acquire_many(max).await;
}

/// What the accept loops of one server share.
struct Shared {
    slots: Arc<Semaphore>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    last_warn: AtomicI64,
    on_limit: Box<dyn Fn() + Send + Sync>,
    max: u32,
    limits: Limits,
    app: Router,
}

/// Accept connections on `listener` until `stop`, each in its own task.
async fn accept_loop(listener: TcpListener, shared: &Shared, mut stop: watch::Receiver<bool>) {
    let Shared {
        slots,
        acceptor,
        last_warn,
        on_limit,
        max,
        limits,
        app,
    } = shared;
    let (max, limits) = (*max, *limits);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                on_limit();
                warn_limit(last_warn, max);
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                    _ = stopped(&mut stop) => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, typically: do not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match acceptor {
                None => connection(stream, app, limits, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => connection(s, app, limits, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Warn that the connection limit is reached, at most once a minute.
fn warn_limit(last: &AtomicI64, max: u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let before = last.load(Ordering::Relaxed);
    if now - before >= LIMIT_WARN_EVERY_SECS
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            max_connections = max,
            "connection limit reached: new connections wait until one closes (--web.max-connections)"
        );
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

/// One HTTP/1.1 connection, shut down gracefully when `stop` turns true.
async fn connection<S>(io: S, app: Router, limits: Limits, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_header_timeout)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

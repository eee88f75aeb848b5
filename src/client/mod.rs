//! The only code that talks HTTP to appliances. It knows no product: what
//! it may send comes from [`Settings`], built by the config.
//!
//! - Sends only `GET`, and `POST` to the login paths the target's kind
//!   declares ([`Settings::post_paths`]). Redirects are never followed, so credentials never
//!   reach another origin; environment proxies are ignored (`proxy_url` is the
//!   explicit way: an `http://` proxy, `CONNECT` tunnels for HTTPS targets).
//! - TLS is verified by default (the system trust store, or `ca_file` alone when set);
//!   `insecure_skip_verify` and `server_name` are per target.
//! - Every request has a timeout covering the body; a body over
//!   `body_size_limit` is abandoned as soon as it passes the cap.
//! - Failures come back as [`CollectError`] with their class decided here.
//!
//! Connections: each target keeps at most `max_concurrent_requests` idle
//! connections (one by default) and reuses them, so a steady state makes no
//! TLS handshakes. HTTP/1.1 is spoken by hyper's connection-level client for
//! one request at a time; between requests only the TLS stream is kept, not
//! hyper's read and write buffers, so an idle appliance costs a few KiB
//! (docs/performance.md). An idle connection the appliance has closed is
//! noticed before reuse, and a `GET` that fails on a reused connection
//! before any response arrives is sent once more on a fresh one.
//! Targets with identical TLS and proxy settings share one TLS configuration.

//!
//! Files: this one (the API: [`ApiClient`], [`Settings`], [`Auth`],
//! [`ApiResponse`]), `exchange` (one request and its response), `stream`
//! (connections), `proxy` (`CONNECT` tunnels), `cache` (shared TLS
//! configurations), `errors` (classifying failures).

use crate::error::CollectError;
use crate::secret::Secret;
use crate::tls::TlsSettings;
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::Method;
use rustls::pki_types::ServerName;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

mod cache;
mod errors;
mod exchange;
mod proxy;
mod stream;
#[cfg(test)]
mod tests;

pub use cache::ClientCache;
use cache::Transport;
use exchange::Failure;
use stream::Stream;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("ivanti-exporter/", env!("CARGO_PKG_VERSION"));

/// How long an unused connection is kept before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// No `Authorization` header.
    None,
    /// ICS API key: basic auth with the key as user name and an empty password.
    ApiKey(&'a Secret),
    /// Basic auth with a user name and password (logins).
    Basic(&'a str, &'a Secret),
    /// A session cookie `name=value` (SPS `session_id`).
    Cookie(&'static str, &'a Secret),
    /// A complete `Authorization` header value (NTLM/Negotiate tokens).
    Authorization(&'a Secret),
}

/// A response whose body was read completely (and within the cap).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
    /// `Retry-After` in seconds (the delay form, or an HTTP date as the seconds until it).
    pub retry_after: Option<u64>,
    /// `Set-Cookie` values (session tokens: kept secret).
    pub set_cookie: Vec<Secret>,
    /// `WWW-Authenticate` values (authentication challenges).
    pub www_authenticate: Vec<String>,
}

impl ApiResponse {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The certificate the appliance presented at the latest TLS handshake:
/// its `notAfter` (Unix seconds), read once per new connection, so it
/// costs no request. Shared between the client and the target's state.
#[derive(Debug)]
pub struct PeerCertificate(AtomicI64);

impl Default for PeerCertificate {
    fn default() -> Self {
        PeerCertificate::unknown()
    }
}

impl PeerCertificate {
    /// `notAfter` of the latest presented leaf certificate, once there was one.
    pub fn not_after(&self) -> Option<i64> {
        match self.0.load(Ordering::Relaxed) {
            i64::MIN => None,
            v => Some(v),
        }
    }

    /// Record the `notAfter` of a newly presented certificate.
    pub fn set(&self, not_after: i64) {
        self.0.store(not_after, Ordering::Relaxed);
    }

    fn unknown() -> Self {
        PeerCertificate(AtomicI64::new(i64::MIN))
    }
}

/// What the client needs to know of one appliance, built by the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Base URL, without a trailing slash.
    pub url: Url,
    /// Timeout of one request, body included.
    pub timeout: Duration,
    /// Largest body accepted, bytes.
    pub body_size_limit: usize,
    /// Requests in flight at once (and idle connections kept).
    pub max_concurrent_requests: usize,
    /// TLS.
    pub tls: TlsSettings,
    /// Explicit `http://` proxy.
    pub proxy_url: Option<Url>,
    /// The only paths a `POST` may go to: its kind's documented login.
    pub post_paths: &'static [&'static str],
}

/// An HTTP client bound to one appliance, with its idle connections.
/// Clones share the connections.
#[derive(Debug, Clone)]
pub struct ApiClient {
    transport: Arc<Transport>,
    endpoint: Arc<Endpoint>,
    timeout: Duration,
    body_limit: usize,
    idle: Arc<Mutex<Vec<Idle>>>,
    max_idle: usize,
    post_paths: &'static [&'static str],
    peer: Arc<PeerCertificate>,
}

/// Where a target is and how to reach it.
#[derive(Debug)]
struct Endpoint {
    /// The URL without its trailing `/`, for messages.
    base: Box<str>,
    /// `https`.
    tls: bool,
    /// Host to connect to (no brackets around IPv6).
    host: Box<str>,
    port: u16,
    /// Name for SNI and, without `server_name`, for verification.
    server_name: ServerName<'static>,
    /// The `Host` header.
    authority: HeaderValue,
    /// The URL's path without its trailing `/` (usually empty).
    prefix: Box<str>,
}

/// A connection waiting for its next request.
struct Idle {
    stream: Stream,
    since: Instant,
}

impl std::fmt::Debug for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idle").finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for one appliance, sharing its TLS configuration through `cache`.
    pub fn new(target: &Settings, cache: &ClientCache) -> Result<ApiClient, String> {
        let url = &target.url;
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            s => return Err(format!("unsupported scheme {s:?}")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err("the URL has no host".into()),
        };
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| format!("{host:?} is not a valid TLS server name"))?;
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let authority = HeaderValue::from_str(&authority)
            .map_err(|_| "the URL's host is not a valid Host header")?;
        Ok(ApiClient {
            transport: cache.get(target)?,
            endpoint: Arc::new(Endpoint {
                base: url.as_str().trim_end_matches('/').into(),
                tls,
                host: host.into(),
                port,
                server_name,
                authority,
                prefix: url.path().trim_end_matches('/').into(),
            }),
            timeout: target.timeout,
            body_limit: target.body_size_limit,
            idle: Arc::new(Mutex::new(Vec::new())),
            max_idle: target.max_concurrent_requests.max(1),
            post_paths: target.post_paths,
            peer: Arc::default(),
        })
    }

    /// This client records the appliance's certificate in `peer` (one
    /// made before the client was: a target waiting for its TLS files).
    pub fn sharing_peer_certificate(mut self, peer: Arc<PeerCertificate>) -> ApiClient {
        self.peer = peer;
        self
    }

    /// The appliance's certificate, as last presented (shared: it follows
    /// later handshakes).
    pub fn peer_certificate(&self) -> Arc<PeerCertificate> {
        self.peer.clone()
    }

    /// The appliance's base URL.
    /// The timeout of one request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn base_url(&self) -> &str {
        &self.endpoint.base
    }

    /// `GET base + path_and_query`.
    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Result<ApiResponse, CollectError> {
        self.send(Method::GET, path, auth, None).await
    }

    /// `POST` a JSON body to a login path. Any path its kind did not
    /// declare ([`Settings::post_paths`]) is refused without a request.
    pub async fn post_login(
        &self,
        path: &'static str,
        auth: Auth<'_>,
        json: &serde_json::Value,
    ) -> Result<ApiResponse, CollectError> {
        if !self.post_paths.contains(&path) {
            return Err(CollectError::Http {
                status: 0,
                message: format!(
                    "refusing to POST to {path}: only the documented login is allowed"
                ),
                retry_after: None,
            });
        }
        self.send(Method::POST, path, auth, Some(json.to_string().into()))
            .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Bytes>,
    ) -> Result<ApiResponse, CollectError> {
        let url = format!("{}{}", self.endpoint.base, path);
        let request = || self.request(&method, path, auth, body.clone());
        let attempt = async {
            let (stream, reused) = match self.take_idle() {
                Some(s) => (s, true),
                None => (self.connect(&url).await?, false),
            };
            match self.exchange(stream, request()?, &url).await {
                Ok(r) => Ok(r),
                // The appliance closed a kept-alive connection as we used
                // it: nothing was answered, so a GET goes out once more.
                Err(Failure::BeforeResponse(_)) if reused && method == Method::GET => {
                    let stream = self.connect(&url).await?;
                    self.exchange(stream, request()?, &url)
                        .await
                        .map_err(Failure::into_error)
                }
                Err(f) => Err(f.into_error()),
            }
        };
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(CollectError::Timeout(format!(
                "{url}: no complete response within {}",
                humantime::format_duration(self.timeout)
            ))),
        };
        self.log_request(&method, path, started.elapsed(), &result);
        result
    }

    /// One debug line per request: method, host, path without its query
    /// (a query could carry a token; credentials travel only in headers),
    /// then the status and body size, or the error class, and the duration.
    fn log_request(
        &self,
        method: &Method,
        path: &str,
        took: Duration,
        result: &Result<ApiResponse, CollectError>,
    ) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let path = format!("{}{path}", self.endpoint.prefix);
        let host = self.endpoint.authority.to_str().unwrap_or_default();
        let duration_seconds = took.as_secs_f64();
        match result {
            Ok(r) => tracing::debug!(
                method = %method,
                host,
                path,
                status = r.status,
                bytes = r.body.len(),
                duration_seconds,
                "request"
            ),
            Err(e) => tracing::debug!(
                method = %method,
                host,
                path,
                error = e.kind().label(),
                duration_seconds,
                "request"
            ),
        }
    }

    /// The most recently used idle connection that is still open.
    fn take_idle(&self) -> Option<Stream> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(i) = idle.pop() {
            if i.since.elapsed() < IDLE_TIMEOUT && !i.stream.is_closed() {
                return Some(i.stream);
            }
        }
        None
    }

    fn put_idle(&self, stream: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(Idle {
                stream,
                since: Instant::now(),
            });
        }
    }
}

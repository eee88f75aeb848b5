//! The only code that talks HTTP to appliances.
//!
//! - Sends only `GET`, and `POST` to the documented login paths in
//!   [`LOGIN_POST_PATHS`]. Redirects are never followed, so credentials never
//!   reach another origin; environment proxies are ignored (`proxy_url` is the
//!   explicit way: an `http://` proxy, `CONNECT` tunnels for HTTPS targets).
//! - TLS is verified by default (web PKI roots, or `ca_file` alone when set);
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

use crate::config::TargetConfig;
use crate::error::CollectError;
use crate::secret::Secret;
use crate::tls::{self, TlsSettings};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{
    HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE,
    COOKIE, HOST, PROXY_AUTHORIZATION, RETRY_AFTER, SET_COOKIE, USER_AGENT as USER_AGENT_HEADER,
    WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Version};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The only paths a `POST` may go to: the documented ICS login.
pub const LOGIN_POST_PATHS: &[&str] = &["/api/v1/realm_auth"];

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("ivanti-exporter/", env!("CARGO_PKG_VERSION"));

/// How long an unused connection is kept before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest response head accepted from a proxy answering `CONNECT`.
const MAX_PROXY_HEAD: usize = 8 * 1024;

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
    /// `Retry-After` in seconds (the delay form; an HTTP date is ignored).
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

/// TLS and proxy settings, shared by every target that has the same.
struct Transport {
    tls: tokio_rustls::TlsConnector,
    proxy: Option<Proxy>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Proxy {
    host: Box<str>,
    port: u16,
    /// `Proxy-Authorization` from the proxy URL's user info.
    authorization: Option<Secret>,
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

/// A TCP or TLS connection to an appliance (possibly through a proxy tunnel).
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// An idle connection must be silent: end of stream, an error or any
    /// unasked bytes (a TLS close_notify, a 408) mean the peer is done with it.
    fn is_closed(&self) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        !matches!(self.tcp().poll_peek(&mut cx, &mut buf), Poll::Pending)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Aborts a spawned task when dropped (a timed-out request must not leave
/// its connection task behind).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A failed exchange, and whether the appliance saw any of it answered.
enum Failure {
    /// Nothing came back (a stale kept-alive connection looks like this).
    BeforeResponse(CollectError),
    /// A response started, then failed or was refused.
    After(CollectError),
}

impl Failure {
    fn into_error(self) -> CollectError {
        match self {
            Failure::BeforeResponse(e) | Failure::After(e) => e,
        }
    }
}

impl ApiClient {
    /// A client for `target`, sharing its TLS configuration through `cache`.
    pub fn new(target: &TargetConfig, cache: &ClientCache) -> Result<ApiClient, String> {
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
        })
    }

    /// The appliance's base URL.
    pub fn base_url(&self) -> &str {
        &self.endpoint.base
    }

    /// `GET base + path_and_query`.
    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Result<ApiResponse, CollectError> {
        self.send(Method::GET, path, auth, None).await
    }

    /// `POST` a JSON body to a login path. Any path not in
    /// [`LOGIN_POST_PATHS`] is refused without a request.
    pub async fn post_login(
        &self,
        path: &'static str,
        auth: Auth<'_>,
        json: &serde_json::Value,
    ) -> Result<ApiResponse, CollectError> {
        if !LOGIN_POST_PATHS.contains(&path) {
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
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(CollectError::Timeout(format!(
                "{url}: no complete response within {}",
                humantime::format_duration(self.timeout)
            ))),
        }
    }

    fn request(
        &self,
        method: &Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Bytes>,
    ) -> Result<Request<Full<Bytes>>, CollectError> {
        let ep = &self.endpoint;
        // Through a proxy, plain HTTP goes in absolute form; HTTPS is
        // tunnelled, so the appliance sees the usual origin form.
        let target = if self.transport.proxy.is_some() && !ep.tls {
            format!("{}{}", ep.base, path)
        } else {
            format!("{}{}", ep.prefix, path)
        };
        let mut b = Request::builder()
            .method(method.clone())
            .uri(target)
            .header(HOST, ep.authority.clone())
            .header(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT))
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let (Some(p), false) = (&self.transport.proxy, ep.tls) {
            if let Some(a) = &p.authorization {
                b = b.header(PROXY_AUTHORIZATION, sensitive(a.expose())?);
            }
        }
        let credential = match auth {
            Auth::None => None,
            Auth::ApiKey(key) => Some((AUTHORIZATION, basic(key.expose(), ""))),
            Auth::Basic(user, pass) => Some((AUTHORIZATION, basic(user, pass.expose()))),
            Auth::Cookie(name, value) => Some((COOKIE, format!("{name}={}", value.expose()))),
            Auth::Authorization(value) => Some((AUTHORIZATION, value.expose().to_owned())),
        };
        if let Some((name, value)) = credential {
            b = b.header::<HeaderName, HeaderValue>(name, sensitive(&value)?);
        }
        if body.is_some() {
            b = b.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        b.body(Full::new(body.unwrap_or_default()))
            .map_err(|e| CollectError::Connect(format!("{}{path}: invalid request: {e}", ep.base)))
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

    /// A new connection: TCP (to the proxy, then `CONNECT` for HTTPS), then TLS.
    async fn connect(&self, url: &str) -> Result<Stream, CollectError> {
        let ep = &self.endpoint;
        let proxy = self.transport.proxy.as_ref();
        let (host, port) = match proxy {
            Some(p) => (&*p.host, p.port),
            None => (&*ep.host, ep.port),
        };
        let mut tcp = TcpStream::connect((host, port)).await.map_err(|e| {
            CollectError::Connect(format!("{url}: connecting to {host}:{port}: {e}"))
        })?;
        let _ = tcp.set_nodelay(true);
        if !ep.tls {
            return Ok(Stream::Plain(tcp));
        }
        if let Some(p) = proxy {
            tunnel(&mut tcp, ep, p)
                .await
                .map_err(|e| CollectError::Connect(format!("{url}: proxy {host}:{port}: {e}")))?;
        }
        let tls = self
            .transport
            .tls
            .connect(ep.server_name.clone(), tcp)
            .await
            .map_err(|e| {
                if wraps_rustls(&e) {
                    CollectError::Tls(format!("{url}: {e}"))
                } else {
                    CollectError::Connect(format!("{url}: during the TLS handshake: {e}"))
                }
            })?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    /// One request and its whole response on `stream`; the stream goes back
    /// to the idle list when the response allows it.
    async fn exchange(
        &self,
        stream: Stream,
        req: Request<Full<Bytes>>,
        url: &str,
    ) -> Result<ApiResponse, Failure> {
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::BeforeResponse(hyper_error(url, &e)))?;
        let mut conn = AbortOnDrop(tokio::spawn(conn.without_shutdown()));
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                // The connection task usually holds the better reason (a TLS alert).
                let err = match (&mut conn.0).await {
                    Ok(Err(ce)) => hyper_error(url, &ce),
                    _ => hyper_error(url, &e),
                };
                return Err(Failure::BeforeResponse(err));
            }
        };
        let (head, mut body) = resp.into_parts();
        let headers = &head.headers;
        let all = |name| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v: &HeaderValue| v.to_str().ok())
        };
        let content_type = all(CONTENT_TYPE).next().map(str::to_owned);
        let retry_after = all(RETRY_AFTER)
            .next()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let set_cookie = all(SET_COOKIE).map(|v| Secret::new(v.to_owned())).collect();
        let www_authenticate = all(WWW_AUTHENTICATE).map(str::to_owned).collect();
        let declared = all(CONTENT_LENGTH)
            .next()
            .and_then(|v| v.parse::<u64>().ok());
        let keep_alive = head.version == Version::HTTP_11
            && !all(CONNECTION).any(|v| v.to_ascii_lowercase().contains("close"));
        if declared.is_some_and(|n| n > self.body_limit as u64) {
            return Err(Failure::After(CollectError::TooLarge {
                limit: self.body_limit,
            }));
        }
        let mut data = Vec::with_capacity(declared.unwrap_or(0).min(1 << 20) as usize);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                Failure::After(CollectError::Connect(format!(
                    "response body cut off: {}",
                    describe(url, &e).1
                )))
            })?;
            if let Ok(chunk) = frame.into_data() {
                if data.len() + chunk.len() > self.body_limit {
                    return Err(Failure::After(CollectError::TooLarge {
                        limit: self.body_limit,
                    }));
                }
                data.extend_from_slice(&chunk);
            }
        }
        drop(sender);
        if keep_alive {
            if let Ok(Ok(parts)) = (&mut conn.0).await {
                if parts.read_buf.is_empty() {
                    self.put_idle(parts.io.into_inner());
                }
            }
        }
        Ok(ApiResponse {
            status: head.status.as_u16(),
            content_type,
            body: data,
            retry_after,
            set_cookie,
            www_authenticate,
        })
    }
}

/// Ask an HTTP proxy for a tunnel to the appliance.
async fn tunnel(tcp: &mut TcpStream, ep: &Endpoint, proxy: &Proxy) -> Result<(), String> {
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

/// `Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A header value marked sensitive (never printed by hyper's debug output).
fn sensitive(v: &str) -> Result<HeaderValue, CollectError> {
    let mut h = HeaderValue::from_str(v)
        .map_err(|_| CollectError::Auth("credential is not a valid header value".into()))?;
    h.set_sensitive(true);
    Ok(h)
}

/// Decide the class of a failure inside an exchange and describe it
/// without secrets (hyper's messages carry no headers; our URLs carry no
/// credentials).
fn hyper_error(url: &str, e: &hyper::Error) -> CollectError {
    match describe(url, e) {
        (true, msg) => CollectError::Tls(msg),
        (false, msg) => CollectError::Connect(msg),
    }
}

/// An I/O error that carries a TLS failure (tokio-rustls wraps them).
fn wraps_rustls(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

/// Whether a rustls error is behind `e`, and `url: e: its sources`.
fn describe(url: &str, e: &hyper::Error) -> (bool, String) {
    let mut tls = false;
    let mut detail = format!("{url}: {e}");
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        tls |= s.downcast_ref::<rustls::Error>().is_some()
            || s.downcast_ref::<std::io::Error>().is_some_and(wraps_rustls);
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    (tls, detail)
}

/// Shared TLS configurations, keyed by TLS and proxy settings.
#[derive(Debug, Default)]
pub struct ClientCache {
    transports: Mutex<HashMap<ClientKey, Arc<Transport>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    tls: TlsSettings,
    proxy: Option<String>,
}

impl ClientCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, target: &TargetConfig) -> Result<Arc<Transport>, String> {
        let key = ClientKey {
            tls: target.tls.clone(),
            proxy: target.proxy_url.as_ref().map(|u| u.to_string()),
        };
        let mut map = self.transports.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let transport = Arc::new(build_transport(&key.tls, target.proxy_url.as_ref())?);
        map.insert(key, transport.clone());
        Ok(transport)
    }

    /// Drop configurations no target in `keep` uses (after a reload).
    pub fn retain(&self, keep: &[Arc<TargetConfig>]) {
        let mut map = self.transports.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| {
            keep.iter()
                .any(|t| t.tls == k.tls && t.proxy_url.as_ref().map(|u| u.to_string()) == k.proxy)
        });
    }

    /// Number of distinct configurations.
    pub fn len(&self) -> usize {
        self.transports.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn build_transport(tls: &TlsSettings, proxy: Option<&url::Url>) -> Result<Transport, String> {
    tls::install_crypto_provider();
    let mut config = tls::client_config(tls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let proxy = match proxy {
        None => None,
        Some(u) => {
            if u.scheme() != "http" {
                return Err("proxy_url: only http:// proxies are supported".into());
            }
            let host = match u.host() {
                Some(url::Host::Domain(d)) => d.to_owned(),
                Some(url::Host::Ipv4(ip)) => ip.to_string(),
                Some(url::Host::Ipv6(ip)) => ip.to_string(),
                None => return Err("proxy_url: no host".into()),
            };
            let authorization = (!u.username().is_empty()).then(|| {
                Secret::new(basic(
                    &percent_decode(u.username()),
                    &percent_decode(u.password().unwrap_or_default()),
                ))
            });
            Some(Proxy {
                host: host.into(),
                port: u.port_or_known_default().unwrap_or(80),
                authorization,
            })
        }
    };
    Ok(Transport {
        tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        proxy,
    })
}

/// Undo the URL's percent-encoding of user info.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    fn target(yaml: &str) -> Arc<TargetConfig> {
        Config::from_yaml(yaml, Path::new("."))
            .unwrap()
            .targets
            .remove(0)
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
                        if s.write_all(resp.as_bytes()).await.is_err()
                            || mode == Mode::CloseSilently
                        {
                            return;
                        }
                    }
                });
            }
        });
        (addr, conns, heads)
    }

    fn client_for(url: &str, extra: &str) -> ApiClient {
        let t = target(&format!("targets:\n  - name: t\n    url: {url}\n{extra}"));
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
}

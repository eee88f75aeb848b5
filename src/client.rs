//! The only code that talks HTTP to appliances.
//!
//! - Sends only `GET`, and `POST` to the documented login paths in
//!   [`LOGIN_POST_PATHS`]. Redirects are never followed, so credentials never
//!   reach another origin; environment proxies are ignored (`proxy_url` is the
//!   explicit way).
//! - TLS is verified by default (web PKI roots, or `ca_file` alone when set);
//!   `insecure_skip_verify` and `server_name` are per target.
//! - Every request has a timeout covering the body; a body over
//!   `body_size_limit` is abandoned as soon as it passes the cap.
//! - Failures come back as [`CollectError`] with their class decided here.
//!
//! Targets with identical TLS and proxy settings share one `reqwest::Client`
//! (and its connection pool, keyed by host), so 10,000 targets do not build
//! 10,000 TLS configurations.

use crate::config::{TargetConfig, TlsSettings};
use crate::error::CollectError;
use crate::secret::Secret;
use reqwest::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, SET_COOKIE,
    WWW_AUTHENTICATE,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The only paths a `POST` may go to: the documented ICS login.
pub const LOGIN_POST_PATHS: &[&str] = &["/api/v1/realm_auth"];

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("ivanti-exporter/", env!("CARGO_PKG_VERSION"));

/// Install ring as rustls' process-wide crypto provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

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

/// An HTTP client bound to one appliance.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Arc<str>,
    timeout: Duration,
    body_limit: usize,
}

impl ApiClient {
    /// A client for `target`, sharing a `reqwest::Client` from `cache`.
    pub fn new(target: &TargetConfig, cache: &ClientCache) -> Result<ApiClient, String> {
        Ok(ApiClient {
            http: cache.get(target)?,
            base: target.url.as_str().trim_end_matches('/').into(),
            timeout: target.timeout,
            body_limit: target.body_size_limit,
        })
    }

    /// The appliance's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET base + path_and_query`.
    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Result<ApiResponse, CollectError> {
        let req = self.http.get(format!("{}{}", self.base, path));
        self.send(req, auth).await
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
        let req = self
            .http
            .post(format!("{}{}", self.base, path))
            .header(CONTENT_TYPE, "application/json")
            .body(json.to_string());
        self.send(req, auth).await
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        auth: Auth<'_>,
    ) -> Result<ApiResponse, CollectError> {
        let req = req
            .timeout(self.timeout)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let req = match auth {
            Auth::None => req,
            Auth::ApiKey(key) => req.basic_auth(key.expose(), Some("")),
            Auth::Basic(user, pass) => req.basic_auth(user, Some(pass.expose())),
            Auth::Cookie(name, value) => {
                req.header(COOKIE, sensitive(&format!("{name}={}", value.expose()))?)
            }
            Auth::Authorization(value) => req.header(AUTHORIZATION, sensitive(value.expose())?),
        };
        let mut resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let set_cookie = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| Secret::new(v.to_owned()))
            .collect();
        let www_authenticate = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let declared = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.body_limit as u64) {
            return Err(CollectError::TooLarge {
                limit: self.body_limit,
            });
        }
        let mut body = Vec::with_capacity(declared.unwrap_or(0).min(64 * 1024) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.body_limit {
                return Err(CollectError::TooLarge {
                    limit: self.body_limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(ApiResponse {
            status,
            content_type,
            body,
            retry_after,
            set_cookie,
            www_authenticate,
        })
    }
}

/// A header value marked sensitive (never printed by reqwest/hyper debug output).
fn sensitive(v: &str) -> Result<HeaderValue, CollectError> {
    let mut h = HeaderValue::from_str(v)
        .map_err(|_| CollectError::Auth("credential is not a valid header value".into()))?;
    h.set_sensitive(true);
    Ok(h)
}

/// Decide the class of a transport failure and describe it without secrets
/// (reqwest's messages carry the URL, and our URLs never carry credentials).
pub fn classify(e: reqwest::Error) -> CollectError {
    let mut root = String::new();
    let mut tls = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                tls = true;
            }
        }
        root = s.to_string();
        source = s.source();
    }
    if !tls {
        // The rustls error can sit behind boxed io::Errors whose `source()`
        // skips it; its variant names in the debug chain are unambiguous.
        let dbg = format!("{e:?}");
        tls = [
            "InvalidCertificate",
            "AlertReceived",
            "PeerIncompatible",
            "PeerMisbehaved",
            "NoCertificatesPresented",
            "InappropriateHandshakeMessage",
            "InvalidMessage",
        ]
        .iter()
        .any(|v| dbg.contains(v));
    }
    let url = e.url().map(|u| u.as_str().to_owned()).unwrap_or_default();
    let msg = if root.is_empty() {
        format!("{url}: {e}")
    } else {
        format!("{url}: {root}")
    };
    if e.is_timeout() {
        CollectError::Timeout(msg)
    } else if tls {
        CollectError::Tls(msg)
    } else if e.is_body() || e.is_decode() {
        CollectError::Connect(format!("response body cut off: {msg}"))
    } else {
        CollectError::Connect(msg)
    }
}

/// Shared `reqwest::Client`s, keyed by TLS and proxy settings.
#[derive(Debug, Default)]
pub struct ClientCache {
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
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

    /// The client for a target's settings, built on first use.
    pub fn get(&self, target: &TargetConfig) -> Result<reqwest::Client, String> {
        let key = ClientKey {
            tls: target.tls.clone(),
            proxy: target.proxy_url.as_ref().map(|u| u.to_string()),
        };
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let client = build_client(&key.tls, key.proxy.as_deref())?;
        map.insert(key, client.clone());
        Ok(client)
    }

    /// Drop clients no target in `keep` uses (after a reload).
    pub fn retain(&self, keep: &[Arc<TargetConfig>]) {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| {
            keep.iter()
                .any(|t| t.tls == k.tls && t.proxy_url.as_ref().map(|u| u.to_string()) == k.proxy)
        });
    }

    /// Number of distinct clients.
    pub fn len(&self) -> usize {
        self.clients.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn build_client(tls: &TlsSettings, proxy: Option<&str>) -> Result<reqwest::Client, String> {
    install_crypto_provider();
    let tls_config = rustls_config(tls)?;
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(USER_AGENT)
        .pool_idle_timeout(Duration::from_secs(300))
        .tcp_nodelay(true)
        .http1_only();
    if let Some(p) = proxy {
        let p = reqwest::Proxy::all(p).map_err(|e| format!("proxy_url: {e}"))?;
        b = b.proxy(p);
    }
    b.build().map_err(|e| format!("building HTTP client: {e}"))
}

/// Parse PEM CA certificates; at least one is required.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate found in the file".into());
    }
    Ok(certs)
}

/// Parse a client certificate chain and its private key.
pub fn parse_client_identity(
    cert: &[u8],
    key: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = parse_ca_pem(cert)?;
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|_| "key_file: no PEM private key found".to_owned())?;
    Ok((certs, key))
}

fn rustls_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AcceptAnyCert(provider))
    } else {
        let mut roots = RootCertStore::empty();
        match &tls.ca_pem {
            Some(pem) => {
                for cert in parse_ca_pem(pem)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("ca_file: unusable certificate: {e}"))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
        match &tls.server_name {
            Some(name) => {
                let name = ServerName::try_from(name.clone())
                    .map_err(|_| format!("server_name {name:?} is not a valid name"))?;
                Arc::new(FixedServerName { inner, name })
            }
            None => inner,
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &tls.client_pem {
        Some((cert, key)) => {
            let (certs, key) = parse_client_identity(cert, key.expose().as_bytes())?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// Verifies against `server_name` instead of the URL's host.
#[derive(Debug)]
struct FixedServerName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedServerName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake
/// signatures are still checked (so the peer holds the certificate's key).
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

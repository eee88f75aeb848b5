//! `--web.config.file`: TLS, response headers, rate limiting and basic
//! authentication for the exporter's own endpoints, in the Prometheus
//! exporter-toolkit format. The schema is the toolkit's own:
//! `docs/web-configuration.md`, with the accepted values from
//! `web/tls_config.go` (versions, curves, client auth types, SAN check) and
//! `web/handler.go` (the fixed set of headers) of
//! github.com/prometheus/exporter-toolkit (commit 19a7c2d5).
//!
//! Every key of that schema is either honoured or refused at load with the
//! reason; a key the schema does not have is refused as "unknown field", as
//! the toolkit's strict YAML decoding does. Relative paths are relative to
//! the file. The file is read once at start (the toolkit re-reads it on
//! every request).
//!
//! | key | here |
//! |---|---|
//! | `tls_server_config.cert_file`, `key_file`, `cert`, `key` | honoured (file or inline PEM, not both); the files are re-read when they change (`reload.rs`) |
//! | `tls_server_config.client_ca_file`, `client_ca` | honoured (file or inline PEM, not both) |
//! | `tls_server_config.client_auth_type` | `NoClientCert`, `VerifyClientCertIfGiven`, `RequireAndVerifyClientCert`; `RequestClientCert`, `RequireAnyClientCert` (unverified certificates) refused |
//! | `tls_server_config.client_allowed_sans` | honoured: the client certificate must carry one of them as DNS, IP, e-mail or URI SAN (then required with `VerifyClientCertIfGiven` too) |
//! | `tls_server_config.min_version`, `max_version` | `TLS12`, `TLS13`; `TLS10`, `TLS11` refused (rustls does not implement them) |
//! | `tls_server_config.cipher_suites` | the six ECDHE AEAD suites; CBC and RSA key exchange suites refused; TLS 1.3 names accepted with a warning (not configurable, as in Go) |
//! | `tls_server_config.curve_preferences` | `X25519`, `CurveP256`, `CurveP384`; `CurveP521` refused (not in rustls' ring provider) |
//! | `tls_server_config.prefer_server_cipher_suites` | warning, ignored (a no-op in Go since 1.18) |
//! | `http_server_config.headers` | honoured on every response; only the toolkit's five header names and values |
//! | `http_server_config.http2` | `false` honoured (HTTP/1.1 only); `true` accepted with a warning (clients negotiate HTTP/1.1) |
//! | `basic_auth_users` | honoured (bcrypt); not asked on `/-/healthy`, `/-/ready` |
//! | `rate_limit.interval`, `burst` | honoured: token bucket, 429 past it; not on `/-/healthy`, `/-/ready` |

mod auth;
mod http;
mod reload;
mod tls;

use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use auth::{require_auth, Verifier};
pub use http::{middleware, RateLimit};

/// Answered without credentials and without a rate limit even when basic
/// auth or `rate_limit` is on: they reveal nothing but "the process runs"
/// and "a configuration is applied", and kubelet probes and load balancers
/// cannot send a password (a probe answered 429 would restart the pod).
pub const UNAUTHENTICATED: [&str; 2] = ["/-/healthy", "/-/ready"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsServer>,
    #[serde(default)]
    http_server_config: HttpServer,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, Secret>,
    rate_limit: Option<RateLimitKeys>,
}

/// `tls_server_config`, as written: the toolkit's schema, also used by the
/// syslog receiver's TLS listener (`syslog.tls_server_config`). Turned into
/// a rustls configuration by [`tls_server_config`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsServer {
    cert: Option<String>,
    key: Option<Secret>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    curve_preferences: Vec<String>,
}

/// `http_server_config`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServer {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// `rate_limit`, as written (`interval` is a Go duration: `"1s"`, `"500ms"`, `0`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitKeys {
    interval: Option<serde_yaml::Value>,
    #[serde(default)]
    burst: u32,
}

/// A loaded web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS for the listener, if configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// user -> bcrypt hash; empty means no authentication.
    pub users: Arc<BTreeMap<String, Secret>>,
    /// `http_server_config.headers`: added to every response.
    pub headers: Arc<Vec<(axum::http::HeaderName, axum::http::HeaderValue)>>,
    /// `rate_limit`, when its interval is not 0.
    pub rate_limit: Option<Arc<RateLimit>>,
    /// Keys accepted but without effect, one line each (logged at load).
    pub warnings: Vec<String>,
    /// The bcrypt cache and gate for `users`.
    pub verifier: Arc<auth::Verifier>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit)
            .field("warnings", &self.warnings)
            .field("verifier", &self.verifier)
            .finish()
    }
}

impl WebConfig {
    /// Read and check the file; relative paths are relative to it. Keys
    /// accepted without effect are logged once, at warn.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
        let web = WebConfig::from_yaml(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| at(&e))?;
        for w in &web.warnings {
            tracing::warn!(file = %path.display(), "{w}");
        }
        Ok(web)
    }

    /// As [`WebConfig::load`] for the text of a file in `base`, without logging.
    pub fn from_yaml(text: &str, base: &Path) -> Result<WebConfig, String> {
        // An empty file (or only comments) is the toolkit's "nothing configured".
        let file: File = match serde_yaml::from_str::<Option<File>>(text) {
            Ok(f) => f.unwrap_or_default(),
            Err(e) => return Err(e.to_string()),
        };
        for (user, hash) in &file.basic_auth_users {
            if !hash.expose().starts_with("$2") {
                return Err(format!(
                    "basic_auth_users.{user}: not a bcrypt hash (expected $2a$/$2b$/$2y$...)"
                ));
            }
        }
        let mut warnings = Vec::new();
        let http = &file.http_server_config;
        if http.http2 == Some(true) {
            // The toolkit's own default: a shared file may well say it.
            // HTTP/2 is negotiated (ALPN), so clients fall back; refusing
            // would stop the exporter over a transport preference.
            warnings.push(
                "http_server_config.http2: true ignored: this exporter serves HTTP/1.1 only \
                 (its read-header timeout and connection limit are built on it); clients \
                 negotiate HTTP/1.1"
                    .to_owned(),
            );
        }
        let headers = http::headers(&http.headers)?;
        let rate_limit = match &file.rate_limit {
            None => None,
            Some(r) => rate_limit(r)?.map(Arc::new),
        };
        let tls = match &file.tls_server_config {
            None => None,
            Some(t) => Some(Arc::new(tls_server_config(t, base, &mut warnings)?)),
        };
        Ok(WebConfig {
            tls,
            users: Arc::new(file.basic_auth_users),
            headers: Arc::new(headers),
            rate_limit,
            warnings,
            verifier: Arc::default(),
        })
    }
}

/// What a client of the exporter's TLS listener needs to know (the
/// `healthcheck` subcommand): the certificate it serves and whether it
/// requires a client certificate.
#[derive(Debug, Clone)]
pub struct ListenerTls {
    /// The served chain, PEM, as configured (its first certificate is the leaf).
    pub cert_pem: Vec<u8>,
    /// `client_auth_type` makes a client certificate mandatory.
    pub client_cert_required: bool,
}

impl ListenerTls {
    /// From the web configuration file at `path`, checked in full as the
    /// daemon loads it; `None` without `tls_server_config`.
    pub fn load(path: &Path) -> Result<Option<ListenerTls>, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        WebConfig::from_yaml(&text, base).map_err(|e| at(&e))?;
        let file = serde_yaml::from_str::<Option<File>>(&text)
            .map_err(|e| at(&e))?
            .unwrap_or_default();
        file.tls_server_config
            .as_ref()
            .map(|t| tls::listener(t, base))
            .transpose()
            .map_err(|e| at(&e))
    }
}

/// The rustls server configuration of a `tls_server_config` block, for any
/// listener of the exporter (its web endpoints, the syslog receiver's TLS):
/// the certificate files re-read when they change, client certificates
/// verified against `client_ca_file` (required when it is set, unless
/// `client_auth_type` says otherwise). Relative paths are relative to
/// `base`; keys accepted without effect are added to `warnings`. Errors
/// start with `tls_server_config`.
pub fn tls_server_config(
    t: &TlsServer,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<rustls::ServerConfig, String> {
    tls::server_config(t, base, warnings)
}

/// `rate_limit`: `None` when the interval is 0 or absent (the toolkit's "disabled").
fn rate_limit(r: &RateLimitKeys) -> Result<Option<RateLimit>, String> {
    let interval = match &r.interval {
        None => Duration::ZERO,
        Some(serde_yaml::Value::Number(n)) if n.as_u64() == Some(0) => Duration::ZERO,
        Some(serde_yaml::Value::String(s)) => humantime::parse_duration(s)
            .map_err(|e| format!("rate_limit.interval: {s:?}: {e} (a duration such as \"1s\")"))?,
        Some(serde_yaml::Value::Number(n)) => {
            return Err(format!(
                "rate_limit.interval: {n} has no unit (Go would read nanoseconds); \
                 write a duration such as \"1s\""
            ))
        }
        Some(_) => return Err("rate_limit.interval: not a duration such as \"1s\"".into()),
    };
    if interval.is_zero() {
        return Ok(None);
    }
    if r.burst == 0 {
        return Err(
            "rate_limit.burst: 0 would answer every request 429; set it to at least 1 \
             (or the interval to 0 to disable the limit)"
                .into(),
        );
    }
    Ok(Some(RateLimit::new(interval, r.burst)))
}

#[cfg(test)]
mod tests;

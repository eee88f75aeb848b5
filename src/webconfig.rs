//! `--web.config.file`: TLS and basic authentication for the exporter's own
//! endpoints, in the Prometheus exporter-toolkit format:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_ca_file: clients-ca.crt          # optional: mutual TLS
//!   client_auth_type: RequireAndVerifyClientCert
//!   min_version: TLS12                      # TLS12 (default) or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...                  # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```

use crate::secret::Secret;
use crate::tls::parse_ca_pem;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsServer>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServer {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
}

/// A loaded web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS for the listener, if configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// user -> bcrypt hash; empty means no authentication.
    pub users: Arc<BTreeMap<String, Secret>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl WebConfig {
    /// Read and check the file; relative paths are relative to it.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
        let file: File = serde_yaml::from_str(&text).map_err(|e| at(&e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for (user, hash) in &file.basic_auth_users {
            if !hash.expose().starts_with("$2") {
                return Err(at(&format!(
                    "basic_auth_users.{user}: not a bcrypt hash (expected $2a$/$2b$/$2y$...)"
                )));
            }
        }
        let tls = match file.tls_server_config {
            None => None,
            Some(t) => Some(Arc::new(server_config(&t, base).map_err(|e| at(&e))?)),
        };
        Ok(WebConfig {
            tls,
            users: Arc::new(file.basic_auth_users),
        })
    }

    /// True when `Authorization: Basic ...` matches a configured user (or none are configured).
    pub fn authorized(&self, header: Option<&str>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        use base64::Engine as _;
        let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(raw) = String::from_utf8(raw) else {
            return false;
        };
        let Some((user, password)) = raw.split_once(':') else {
            return false;
        };
        match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash.expose()).unwrap_or(false),
            // Spend the same time for unknown users as for wrong passwords.
            None => {
                let _ = bcrypt::verify(password, DUMMY_HASH);
                false
            }
        }
    }
}

/// bcrypt("x", cost 10), used to equalise timing for unknown users.
const DUMMY_HASH: &str = "$2b$10$3euPcmQFCiblsZeEu5s7p.9OVHgeHWFDk9nhMqZ0m/3pd/lhwZgES";

fn server_config(t: &TlsServer, base: &Path) -> Result<rustls::ServerConfig, String> {
    let read = |p: &Path| std::fs::read(base.join(p)).map_err(|e| format!("{}: {e}", p.display()));
    let certs: Vec<CertificateDer<'static>> = parse_ca_pem(&read(&t.cert_file)?)
        .map_err(|e| format!("tls_server_config.cert_file: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&read(&t.key_file)?)
        .map_err(|_| "tls_server_config.key_file: no PEM private key".to_owned())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match t.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v) => {
            return Err(format!(
                "tls_server_config.min_version: unsupported {v:?} (TLS12 or TLS13)"
            ))
        }
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?;
    let auth_type = t
        .client_auth_type
        .as_deref()
        .unwrap_or(if t.client_ca_file.is_some() {
            "RequireAndVerifyClientCert"
        } else {
            "NoClientCert"
        });
    let builder = match (auth_type, &t.client_ca_file) {
        ("NoClientCert", _) => builder.with_no_client_auth(),
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", Some(ca)) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in parse_ca_pem(&read(ca)?).map_err(|e| format!("tls_server_config.client_ca_file: {e}"))? {
                roots.add(c).map_err(|e| e.to_string())?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if auth_type == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
        }
        (other, None) if other != "NoClientCert" => {
            return Err(format!("tls_server_config.client_auth_type {other} needs client_ca_file"))
        }
        (other, _) => {
            return Err(format!(
                "tls_server_config.client_auth_type: unsupported {other:?} (NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ))
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_checks_bcrypt() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let mut users = BTreeMap::new();
        users.insert("prom".to_owned(), Secret::new(hash));
        let w = WebConfig {
            tls: None,
            users: Arc::new(users),
        };
        use base64::Engine as _;
        let h = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(w.authorized(Some(&h("prom:s3cret"))));
        assert!(!w.authorized(Some(&h("prom:wrong"))));
        assert!(!w.authorized(Some(&h("other:s3cret"))));
        assert!(!w.authorized(None));
        assert!(!w.authorized(Some("Bearer x")));
        assert!(WebConfig::default().authorized(None));
        assert!(!format!("{w:?}").contains("$2"));
    }
}

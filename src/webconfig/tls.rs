//! `tls_server_config` on rustls (ring provider): the accepted values of
//! exporter-toolkit `web/tls_config.go` (`Cipher`, `Curve`, `TLSVersion`,
//! `ClientAuth`, `VerifyPeerCertificate`) mapped to what rustls implements,
//! the rest refused with the reason.

use super::TlsServer;
use crate::tls::parse_ca_pem;
use rustls::crypto::ring::{kx_group, ALL_CIPHER_SUITES};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DistinguishedName, SupportedCipherSuite, SupportedProtocolVersion};
use std::path::Path;
use std::sync::Arc;

/// A TLS 1.2 suite of rustls' ring provider by its IANA name, which is Go's:
/// the six ECDHE AEAD suites of Go's `tls.CipherSuites()`.
fn tls12_suite(name: &str) -> Option<SupportedCipherSuite> {
    ALL_CIPHER_SUITES
        .iter()
        .copied()
        .find(|s| s.version() == &rustls::version::TLS12 && s.suite().as_str() == Some(name))
}

/// Go's TLS 1.3 suite names: accepted by the toolkit, but Go (like rustls)
/// does not let TLS 1.3 suites be configured, so all three stay on.
const TLS13_NAMES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The rest of Go's `tls.CipherSuites()`: CBC or RSA key exchange, neither
/// of which rustls implements.
const GO_ONLY: [&str; 8] = [
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

/// The rustls server configuration for `t`; relative paths are relative to `base`.
pub(super) fn server_config(
    t: &TlsServer,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<rustls::ServerConfig, String> {
    let (cert_pem, key_pem) = identity(t, base)?;
    if t.prefer_server_cipher_suites.is_some() {
        warnings.push(
            "tls_server_config.prefer_server_cipher_suites: ignored (a no-op in Go since 1.18, \
             whose crypto/tls documents it as deprecated and ignored)"
                .into(),
        );
    }
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = cipher_suites(&t.cipher_suites, warnings)? {
        provider.cipher_suites = suites;
    }
    if !t.curve_preferences.is_empty() {
        provider.kx_groups = curves(&t.curve_preferences)?;
    }
    let provider = Arc::new(provider);
    let versions = versions(t)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: cipher_suites and versions: {e}"))?;
    let verifier = client_verifier(t, base, provider.clone())?;
    let files = t
        .cert_file
        .as_ref()
        .zip(t.key_file.as_ref())
        .map(|(c, k)| (base.join(c), base.join(k)));
    let resolver = super::reload::ReloadingCert::new(
        files,
        (&cert_pem, &key_pem),
        provider,
        Box::new(certified_key),
    )?;
    Ok(builder
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(resolver)))
}

/// What a client needs of `t` ([`super::ListenerTls`]).
pub(super) fn listener(t: &TlsServer, base: &Path) -> Result<super::ListenerTls, String> {
    let (cert_pem, _) = identity(t, base)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_verifier(t, base, provider)?;
    Ok(super::ListenerTls {
        cert_pem,
        client_cert_required: verifier.client_auth_mandatory(),
    })
}

/// The chain and key of PEM texts, checked to belong together.
fn certified_key(
    cert: &[u8],
    key: &[u8],
    provider: &rustls::crypto::CryptoProvider,
) -> Result<rustls::sign::CertifiedKey, String> {
    let certs = parse_ca_pem(cert).map_err(|e| format!("tls_server_config.cert_file: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|_| "tls_server_config.key_file: no PEM private key".to_owned())?;
    rustls::sign::CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| format!("tls_server_config: {e}"))
}

/// Read `file` (relative to `base`) or take the inline PEM; one of them, not both.
fn pem(
    base: &Path,
    file: Option<&Path>,
    inline: Option<&str>,
    names: (&str, &str),
) -> Result<Option<Vec<u8>>, String> {
    match (file, inline) {
        (Some(_), Some(_)) => Err(format!(
            "tls_server_config: set {} or {}, not both",
            names.0, names.1
        )),
        (Some(p), None) => std::fs::read(base.join(p))
            .map(Some)
            .map_err(|e| format!("tls_server_config.{}: {}: {e}", names.0, p.display())),
        (None, Some(text)) => Ok(Some(text.as_bytes().to_vec())),
        (None, None) => Ok(None),
    }
}

/// The server certificate chain and key PEM (`cert_file`/`cert`, `key_file`/`key`).
fn identity(t: &TlsServer, base: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let key_inline = t.key.as_ref().map(|k| k.expose());
    let cert = pem(
        base,
        t.cert_file.as_deref(),
        t.cert.as_deref(),
        ("cert_file", "cert"),
    )?
    .ok_or("tls_server_config: missing one of cert_file or cert")?;
    let key = pem(base, t.key_file.as_deref(), key_inline, ("key_file", "key"))?
        .ok_or("tls_server_config: missing one of key_file or key")?;
    Ok((cert, key))
}

/// `min_version`/`max_version` (default TLS12..TLS13, as the toolkit).
fn versions(t: &TlsServer) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let parse = |key: &str, v: Option<&str>, default: u8| match v {
        None => Ok(default),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some(v @ ("TLS10" | "TLS11")) => Err(format!(
            "tls_server_config.{key}: {v} is not supported: rustls implements TLS 1.2 and 1.3 only"
        )),
        Some(v) => Err(format!(
            "tls_server_config.{key}: unknown TLS version {v:?} (TLS12 or TLS13)"
        )),
    };
    let min = parse("min_version", t.min_version.as_deref(), 12)?;
    let max = parse("max_version", t.max_version.as_deref(), 13)?;
    if min > max {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let mut out = Vec::new();
    if max == 13 {
        out.push(&rustls::version::TLS13);
    }
    if min == 12 {
        out.push(&rustls::version::TLS12);
    }
    Ok(out)
}

/// `cipher_suites`: the TLS 1.3 suites plus the listed TLS 1.2 ones (the
/// client's order decides among them, as in Go since 1.17); `None` when the
/// list is empty (all of them).
fn cipher_suites(
    names: &[String],
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<SupportedCipherSuite>>, String> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut suites: Vec<SupportedCipherSuite> = ALL_CIPHER_SUITES
        .iter()
        .copied()
        .filter(|s| s.version() == &rustls::version::TLS13)
        .collect();
    let mut tls13 = Vec::new();
    for name in names {
        let at = format!("tls_server_config.cipher_suites: {name}");
        if let Some(s) = tls12_suite(name) {
            suites.push(s);
        } else if TLS13_NAMES.contains(&name.as_str()) {
            tls13.push(name.as_str());
        } else if GO_ONLY.contains(&name.as_str()) {
            let why = if name.contains("_CBC_") {
                "CBC-mode suites are"
            } else {
                "RSA key exchange (no forward secrecy) is"
            };
            return Err(format!(
                "{at}: not supported: {why} not implemented by rustls"
            ));
        } else {
            return Err(format!(
                "{at}: not a cipher suite of Go's tls.CipherSuites(), which the toolkit accepts"
            ));
        }
    }
    if !tls13.is_empty() {
        warnings.push(format!(
            "tls_server_config.cipher_suites: {} ignored: TLS 1.3 suites are not configurable \
             (in Go neither); all three stay enabled",
            tls13.join(", ")
        ));
    }
    Ok(Some(suites))
}

/// `curve_preferences`: the key exchange groups, in preference order.
fn curves(names: &[String]) -> Result<Vec<&'static dyn SupportedKxGroup>, String> {
    names
        .iter()
        .map(|name| match name.as_str() {
            "X25519" => Ok(kx_group::X25519),
            "CurveP256" => Ok(kx_group::SECP256R1),
            "CurveP384" => Ok(kx_group::SECP384R1),
            "CurveP521" => Err(
                "tls_server_config.curve_preferences: CurveP521 is not supported: rustls' ring \
                 provider does not implement P-521 key exchange"
                    .to_owned(),
            ),
            other => Err(format!(
                "tls_server_config.curve_preferences: unknown curve {other:?} \
                 (CurveP256, CurveP384, CurveP521, X25519)"
            )),
        })
        .collect()
}

/// `client_auth_type` with `client_ca_file`/`client_ca`, and `client_allowed_sans`.
fn client_verifier(
    t: &TlsServer,
    base: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let ca = pem(
        base,
        t.client_ca_file.as_deref(),
        t.client_ca.as_deref(),
        ("client_ca_file", "client_ca"),
    )?;
    // A CA without a type means verified certificates (the toolkit refuses it).
    let default = if ca.is_some() {
        "RequireAndVerifyClientCert"
    } else {
        "NoClientCert"
    };
    let auth = t.client_auth_type.as_deref().unwrap_or(default);
    let at = "tls_server_config.client_auth_type";
    let optional = match auth {
        "NoClientCert" if ca.is_some() => {
            return Err(format!(
                "{at}: NoClientCert with a client CA: the CA would not be used"
            ))
        }
        "NoClientCert" if t.client_allowed_sans.is_some() => {
            return Err(
                "tls_server_config.client_allowed_sans needs client_auth_type \
                 RequireAndVerifyClientCert or VerifyClientCertIfGiven"
                    .into(),
            )
        }
        "NoClientCert" => return Ok(WebPkiClientVerifier::no_client_auth()),
        "RequireAndVerifyClientCert" => false,
        "VerifyClientCertIfGiven" => true,
        "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => {
            return Err(format!(
                "{at}: {auth} is not supported: it accepts client certificates without \
                 verifying them (insecure, says the toolkit); use RequireAndVerifyClientCert"
            ))
        }
        other => return Err(format!("{at}: unknown {other:?}")),
    };
    let ca = ca.ok_or(format!("{at}: {auth} needs client_ca_file or client_ca"))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in parse_ca_pem(&ca).map_err(|e| format!("tls_server_config.client_ca_file: {e}"))? {
        roots
            .add(c)
            .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    let inner = builder.build().map_err(|e| e.to_string())?;
    match &t.client_allowed_sans {
        None => Ok(inner),
        Some(allowed) if allowed.is_empty() => Err(
            "tls_server_config.client_allowed_sans: an empty list would refuse every client \
             certificate; remove the key or list the allowed names"
                .into(),
        ),
        Some(allowed) => Ok(Arc::new(AllowedSans {
            inner,
            allowed: allowed.clone(),
        })),
    }
}

/// The SAN values of a certificate as Go prints them: DNS names, e-mail
/// addresses, IP addresses and URIs.
pub(super) fn san_values(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                Some((*s).to_owned())
            }
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// `client_allowed_sans`: after the chain check, the client certificate
/// must carry one of the allowed values, exactly (the toolkit's
/// `VerifyPeerCertificate`); otherwise the handshake fails (access_denied).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    /// A certificate is required even with `VerifyClientCertIfGiven`: a
    /// client without one must not pass a SAN check (in the toolkit it
    /// cannot either: its check fails on an empty certificate list).
    fn client_auth_mandatory(&self) -> bool {
        true
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let found = san_values(end_entity);
        if found.iter().any(|v| self.allowed.contains(v)) {
            Ok(verified)
        } else {
            tracing::debug!(?found, "client certificate has none of client_allowed_sans");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

//! TLS, shared by the appliance client, the config checks and the
//! exporter's own web server: the settings of one target (files already
//! read), PEM parsing, the rustls client configuration and its verifiers.
//! A leaf: it imports nothing else of the crate but [`Secret`].

use crate::secret::Secret;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Install ring as rustls' process-wide crypto provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// TLS settings with the files already read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// PEM bytes of `ca_file`.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM bytes of `cert_file` and `key_file`.
    pub client_pem: Option<(Vec<u8>, Secret)>,
    /// `server_name`.
    pub server_name: Option<String>,
    /// `insecure_skip_verify`.
    pub insecure_skip_verify: bool,
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

/// The operating system's trust store, where internal CAs live (as Go's
/// `crypto/x509` and so Prometheus use it; `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` are honoured). A system without one (a scratch
/// container) gets the bundled Mozilla roots instead. Read when a client
/// configuration is built (at start and on reload), so a CA added to the
/// system is trusted after a reload.
pub fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::info!(
            errors = found.errors.len(),
            "no certificates in the system trust store: using the bundled Mozilla roots"
        );
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// The rustls client configuration for one set of TLS settings: the
/// system's trust store ([`system_roots`]) or `ca_file` alone, `server_name` instead of the URL host,
/// `insecure_skip_verify`, and a client certificate.
pub fn client_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, String> {
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
            None => roots = system_roots(),
        }
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
        let name = match &tls.server_name {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|_| format!("server_name {name:?} is not a valid name"))?,
            ),
            None => None,
        };
        let pinned = match &tls.ca_pem {
            Some(pem) => parse_ca_pem(pem)?,
            None => Vec::new(),
        };
        if name.is_none() && pinned.is_empty() {
            inner
        } else {
            Arc::new(Verifier {
                inner,
                name,
                pinned,
            })
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

/// A client configuration that trusts exactly the first certificate of
/// `pinned_pem` (the leaf of a chain) as the server's (whatever names it carries, but within
/// its validity period, and the handshake signed with its key), presenting
/// `client` (certificate chain and key PEM) when given: the `healthcheck`
/// subcommand on loopback, against the exporter's own configured
/// certificate.
pub fn pinned_client_config(
    pinned_pem: &[u8],
    client: Option<&(Vec<u8>, Secret)>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut pinned = parse_ca_pem(pinned_pem)?;
    pinned.truncate(1);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedLeaf {
            pinned,
            any: AcceptAnyCert(provider),
        }));
    match client {
        Some((cert, key)) => {
            let (certs, key) = parse_client_identity(cert, key.expose().as_bytes())?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("client certificate: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// [`pinned_client_config`]'s verifier: the leaf must be `pinned`,
/// byte for byte, and valid now; signatures are checked as [`AcceptAnyCert`] does.
#[derive(Debug)]
struct PinnedLeaf {
    pinned: Vec<CertificateDer<'static>>,
    any: AcceptAnyCert,
}

impl ServerCertVerifier for PinnedLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError;
        if !self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        verify_validity(end_entity, now).map(|()| ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.any.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.any.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.any.supported_verify_schemes()
    }
}

/// Full verification against `ca_file` (or the web PKI), with two
/// additions an operator expects:
/// - `server_name`: the certificate is checked against it instead of the
///   URL's host;
/// - pinning: a presented leaf that is byte-identical to a certificate in
///   `ca_file` is accepted although webpki refuses a CA certificate as an
///   end entity (`openssl req -x509` makes `CA:TRUE` certificates, and
///   Prometheus, curl and Python accept them pinned this way). Its name or
///   IP and its validity period are still checked, and the handshake
///   signatures are still verified with its key.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    name: Option<ServerName<'static>>,
    pinned: Vec<CertificateDer<'static>>,
}

/// The checks left for a pinned certificate: the name and the validity period.
fn verify_pinned(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    use rustls::CertificateError;
    let bad = |e: CertificateError| rustls::Error::InvalidCertificate(e);
    let ee =
        webpki::EndEntityCert::try_from(cert).map_err(|_| bad(CertificateError::BadEncoding))?;
    ee.verify_is_valid_for_subject_name(name)
        .map_err(|_| bad(CertificateError::NotValidForName))?;
    verify_validity(cert, now)
}

/// The certificate's validity period includes `now`.
fn verify_validity(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    use rustls::CertificateError;
    let bad = |e: CertificateError| rustls::Error::InvalidCertificate(e);
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|_| bad(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = parsed.validity();
    if now < validity.not_before.timestamp() {
        return Err(bad(CertificateError::NotValidYet));
    }
    if now > validity.not_after.timestamp() {
        return Err(bad(CertificateError::Expired));
    }
    Ok(())
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = self.name.as_ref().unwrap_or(server_name);
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            verify_pinned(end_entity, name, now).map(|()| ServerCertVerified::assertion())
        } else {
            self.inner
                .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        }
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

/// The `notAfter` of a DER certificate, in Unix seconds.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    //! Real handshakes on loopback against appliances with the certificates
    //! operators make: `openssl req -x509` style self-signed `CA:TRUE`
    //! certificates, pinned in `ca_file`.
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tokio::net::{TcpListener, TcpStream};

    struct SelfSigned {
        pem: String,
        der: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    }

    /// A self-signed certificate like `openssl req -x509 -newkey ... -addext
    /// subjectAltName=...` makes: basicConstraints CA:TRUE.
    fn self_signed(sans: &[&str], expired: bool) -> SelfSigned {
        let mut p =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        SelfSigned {
            pem: cert.pem(),
            der: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    }

    /// An appliance presenting `cert` alone; answers every handshake.
    async fn appliance(cert: &SelfSigned) -> std::net::SocketAddr {
        install_crypto_provider();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der.clone()], cert.key.clone_key())
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let a = acceptor.clone();
                tokio::spawn(async move {
                    let _ = a.accept(s).await;
                });
            }
        });
        addr
    }

    /// The handshake's outcome: `Ok`, or the rustls error text.
    async fn handshake(
        addr: std::net::SocketAddr,
        name: &str,
        tls: TlsSettings,
    ) -> Result<(), String> {
        let config = client_config(&tls)?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        connector
            .connect(name, tcp)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn pinned(pem: &str) -> TlsSettings {
        TlsSettings {
            ca_pem: Some(pem.as_bytes().to_vec()),
            ..TlsSettings::default()
        }
    }

    #[tokio::test]
    async fn a_pinned_ca_true_self_signed_certificate_is_accepted_by_ip_and_name() {
        let cert = self_signed(&["127.0.0.1", "vpn-fra-1.example.net"], false);
        let addr = appliance(&cert).await;
        assert_eq!(
            handshake(addr, "127.0.0.1", pinned(&cert.pem)).await,
            Ok(())
        );
        // server_name replaces the URL's host in the check.
        let tls = TlsSettings {
            server_name: Some("vpn-fra-1.example.net".into()),
            ..pinned(&cert.pem)
        };
        assert_eq!(handshake(addr, "127.0.0.1", tls).await, Ok(()));
    }

    #[tokio::test]
    async fn a_pinned_certificate_is_still_checked_for_name_and_validity() {
        let cert = self_signed(&["127.0.0.1"], false);
        let addr = appliance(&cert).await;
        let e = handshake(addr, "localhost", pinned(&cert.pem))
            .await
            .unwrap_err();
        assert!(e.contains("NotValidForName"), "{e}");
        let tls = TlsSettings {
            server_name: Some("other.example.net".into()),
            ..pinned(&cert.pem)
        };
        let e = handshake(addr, "127.0.0.1", tls).await.unwrap_err();
        assert!(e.contains("NotValidForName"), "{e}");

        let old = self_signed(&["127.0.0.1"], true);
        let addr = appliance(&old).await;
        let e = handshake(addr, "127.0.0.1", pinned(&old.pem))
            .await
            .unwrap_err();
        assert!(e.contains("Expired"), "{e}");
    }

    #[tokio::test]
    async fn anything_not_pinned_keeps_full_verification() {
        let cert = self_signed(&["127.0.0.1"], false);
        let other = self_signed(&["127.0.0.1"], false);
        let addr = appliance(&cert).await;
        // Another certificate in ca_file: the presented one is not pinned,
        // and webpki refuses it (a CA certificate as end entity).
        let e = handshake(addr, "127.0.0.1", pinned(&other.pem))
            .await
            .unwrap_err();
        assert!(e.contains("invalid peer certificate"), "{e}");
        // No ca_file: the web PKI roots, which do not know it.
        let e = handshake(addr, "127.0.0.1", TlsSettings::default())
            .await
            .unwrap_err();
        assert!(e.contains("invalid peer certificate"), "{e}");
    }

    /// Without `ca_file`, the system's trust store decides (issue 23): a
    /// certificate from an internal CA that `SSL_CERT_FILE` names (as the
    /// OS store would hold it) is trusted; the same appliance is refused
    /// when the store does not hold that CA.
    #[tokio::test]
    async fn without_ca_file_the_system_trust_store_is_used() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let served = SelfSigned {
            pem: leaf.pem(),
            der: leaf.der().clone(),
            key: PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        };
        let addr = appliance(&served).await;
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("internal-ca.pem");
        std::fs::write(&bundle, ca_cert.pem()).unwrap();
        // SAFETY of the test: only this test sets SSL_CERT_FILE; the others
        // pin their certificates with ca_file, which ignores the store.
        std::env::set_var("SSL_CERT_FILE", &bundle);
        let trusted = handshake(addr, "127.0.0.1", TlsSettings::default()).await;
        std::env::set_var("SSL_CERT_FILE", dir.path().join("empty.pem"));
        std::fs::write(dir.path().join("empty.pem"), self_signed(&["x"], false).pem).unwrap();
        let refused = handshake(addr, "127.0.0.1", TlsSettings::default()).await;
        std::env::remove_var("SSL_CERT_FILE");
        assert_eq!(trusted, Ok(()));
        assert!(refused.unwrap_err().contains("invalid peer certificate"));
    }
}

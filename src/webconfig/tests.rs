//! Every refused key with its exact message, the warnings, and each
//! honoured TLS key seen on a real handshake on 127.0.0.1.

use super::*;
use rustls::crypto::ring::{cipher_suite as cs, kx_group};
use rustls::crypto::SupportedKxGroup;
use rustls::pki_types::ServerName;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use std::net::SocketAddr;
use std::time::Instant;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A PEM certificate and its key.
struct Leaf {
    cert: String,
    key: String,
}

/// A CA, a server certificate for 127.0.0.1 and client certificates, in a
/// temp dir as `ca.crt`, `server.crt`, `server.key`.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    /// A PKI whose CA is named `ca` (distinct names: chain building goes by name).
    fn new(ca: &str) -> Pki {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, ca);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap());
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
            ca: ca.unwrap(),
        };
        let server = pki.leaf(&["127.0.0.1"], rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        std::fs::write(pki.dir.path().join("server.crt"), &server.cert).unwrap();
        std::fs::write(pki.dir.path().join("server.key"), &server.key).unwrap();
        std::fs::write(pki.dir.path().join("ca.crt"), pki.ca.pem()).unwrap();
        pki
    }

    fn leaf(&self, sans: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let sans = sans.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut p = rcgen::CertificateParams::new(sans).unwrap();
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn client_leaf(&self, sans: &[&str]) -> Leaf {
        self.leaf(sans, rcgen::ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// `tls_server_config` with the server certificate plus `extra` lines.
    fn load(&self, extra: &str) -> Result<WebConfig, String> {
        let text =
            format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra}");
        WebConfig::from_yaml(&text, self.dir.path())
    }
}

/// What a client offers.
#[derive(Default)]
struct Offer {
    versions: Option<Vec<&'static SupportedProtocolVersion>>,
    suites: Option<Vec<SupportedCipherSuite>>,
    kx: Option<Vec<&'static dyn SupportedKxGroup>>,
    cert: Option<Leaf>,
    alpn: Vec<Vec<u8>>,
}

/// A TLS server on 127.0.0.1 with `web`'s configuration; it writes "ok"
/// after each handshake and closes.
async fn serve(web: &WebConfig) -> SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(web.tls.clone().expect("TLS configured"));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let a = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut s) = a.accept(s).await {
                    let _ = s.write_all(b"ok").await;
                    let _ = s.shutdown().await;
                }
            });
        }
    });
    addr
}

/// Connect with `offer`; the negotiated version, suite and group, or the error.
async fn connect(pki: &Pki, addr: SocketAddr, offer: Offer) -> Result<String, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(s) = offer.suites {
        provider.cipher_suites = s;
    }
    if let Some(k) = offer.kx {
        provider.kx_groups = k;
    }
    let versions = offer
        .versions
        .unwrap_or(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match offer.cert {
        Some(leaf) => {
            let (certs, key) =
                crate::tls::parse_client_identity(leaf.cert.as_bytes(), leaf.key.as_bytes())
                    .unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    let mut config = config;
    config.alpn_protocols = offer.alpn;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut s = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.map_err(|e| e.to_string())?;
    assert_eq!(got, b"ok");
    let c = s.get_ref().1;
    if let Some(p) = c.alpn_protocol() {
        return Ok(format!("ALPN {}", String::from_utf8_lossy(p)));
    }
    Ok(format!(
        "{:?} {:?} {:?}",
        c.protocol_version().unwrap(),
        c.negotiated_cipher_suite().unwrap().suite(),
        c.negotiated_key_exchange_group().unwrap().name()
    ))
}

fn tls12_only() -> Option<Vec<&'static SupportedProtocolVersion>> {
    Some(vec![&rustls::version::TLS12])
}

#[tokio::test]
async fn basic_auth_checks_bcrypt() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let mut users = BTreeMap::new();
    users.insert("prom".to_owned(), Secret::new(hash));
    let w = WebConfig {
        users: Arc::new(users),
        ..WebConfig::default()
    };
    use base64::Engine as _;
    let h = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    assert!(w.authorized(Some(&h("prom:s3cret"))).await);
    assert!(!w.authorized(Some(&h("prom:wrong"))).await);
    assert!(!w.authorized(Some(&h("other:s3cret"))).await);
    assert!(!w.authorized(None).await);
    assert!(!w.authorized(Some("Bearer x")).await);
    assert!(WebConfig::default().authorized(None).await);
    assert!(!format!("{w:?}").contains("$2"));
}

#[test]
fn an_empty_file_configures_nothing() {
    let sections = "tls_server_config:\nhttp_server_config:\nbasic_auth_users:\nrate_limit:\n";
    for text in ["", "# shared file, nothing here yet\n", sections] {
        let w = WebConfig::from_yaml(text, Path::new(".")).unwrap();
        assert!(w.tls.is_none() && w.users.is_empty() && w.headers.is_empty());
        assert!(w.rate_limit.is_none());
    }
}

#[test]
fn each_refused_key_says_why() {
    let pki = Pki::new("clients CA");
    let tls = [
        ("  min_version: TLS10\n", "tls_server_config.min_version: TLS10 is not supported: rustls implements TLS 1.2 and 1.3 only"),
        ("  min_version: TLS11\n", "tls_server_config.min_version: TLS11 is not supported: rustls implements TLS 1.2 and 1.3 only"),
        ("  max_version: TLS11\n", "tls_server_config.max_version: TLS11 is not supported: rustls implements TLS 1.2 and 1.3 only"),
        ("  max_version: SSL3\n", "tls_server_config.max_version: unknown TLS version \"SSL3\" (TLS12 or TLS13)"),
        ("  min_version: TLS13\n  max_version: TLS12\n", "tls_server_config: min_version is above max_version"),
        ("  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n", "tls_server_config.cipher_suites: TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: not supported: CBC-mode suites are not implemented by rustls"),
        ("  cipher_suites: [TLS_RSA_WITH_AES_128_GCM_SHA256]\n", "tls_server_config.cipher_suites: TLS_RSA_WITH_AES_128_GCM_SHA256: not supported: RSA key exchange (no forward secrecy) is not implemented by rustls"),
        ("  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", "tls_server_config.cipher_suites: TLS_RSA_WITH_RC4_128_SHA: not a cipher suite of Go's tls.CipherSuites(), which the toolkit accepts"),
        ("  curve_preferences: [CurveP521]\n", "tls_server_config.curve_preferences: CurveP521 is not supported: rustls' ring provider does not implement P-521 key exchange"),
        ("  curve_preferences: [P256]\n", "tls_server_config.curve_preferences: unknown curve \"P256\" (CurveP256, CurveP384, CurveP521, X25519)"),
        ("  client_auth_type: RequireAnyClientCert\n  client_ca_file: ca.crt\n", "tls_server_config.client_auth_type: RequireAnyClientCert is not supported: it accepts client certificates without verifying them (insecure, says the toolkit); use RequireAndVerifyClientCert"),
        ("  client_auth_type: RequestClientCert\n", "tls_server_config.client_auth_type: RequestClientCert is not supported: it accepts client certificates without verifying them (insecure, says the toolkit); use RequireAndVerifyClientCert"),
        ("  client_auth_type: RequireAndVerifyClientCert\n", "tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file or client_ca"),
        ("  client_auth_type: NoClientCert\n  client_ca_file: ca.crt\n", "tls_server_config.client_auth_type: NoClientCert with a client CA: the CA would not be used"),
        ("  client_auth_type: Sometimes\n", "tls_server_config.client_auth_type: unknown \"Sometimes\""),
        ("  client_allowed_sans: [prometheus]\n", "tls_server_config.client_allowed_sans needs client_auth_type RequireAndVerifyClientCert or VerifyClientCertIfGiven"),
        ("  client_ca_file: ca.crt\n  client_allowed_sans: []\n", "tls_server_config.client_allowed_sans: an empty list would refuse every client certificate; remove the key or list the allowed names"),
        ("  client_ca_file: ca.crt\n  client_ca: inline\n", "tls_server_config: set client_ca_file or client_ca, not both"),
        ("  cert: inline\n", "tls_server_config: set cert_file or cert, not both"),
    ];
    for (extra, want) in tls {
        assert_eq!(pki.load(extra).unwrap_err(), want, "{extra}");
    }
    let d = pki.dir.path();
    let other = [
        ("tls_server_config:\n  key_file: server.key\n", "tls_server_config: missing one of cert_file or cert"),
        ("http_server_config:\n  headers:\n    Content-Type: foo\n", "http_server_config.headers.Content-Type: this header can not be configured (the exporter-toolkit allows only Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection)"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "http_server_config.headers.X-Frame-Options: \"allow\" is not one of [\"deny\", \"sameorigin\"]"),
        ("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n", "http_server_config.headers.X-Content-Type-Options: \"sniff\" is not one of [\"nosniff\"]"),
        ("rate_limit:\n  interval: 1s\n  burst: 0\n", "rate_limit.burst: 0 would answer every request 429; set it to at least 1 (or the interval to 0 to disable the limit)"),
        ("rate_limit:\n  interval: 1000\n  burst: 1\n", "rate_limit.interval: 1000 has no unit (Go would read nanoseconds); write a duration such as \"1s\""),
        ("basic_auth_users:\n  prometheus: plaintext\n", "basic_auth_users.prometheus: not a bcrypt hash (expected $2a$/$2b$/$2y$...)"),
    ];
    for (text, want) in other {
        assert_eq!(WebConfig::from_yaml(text, d).unwrap_err(), want, "{text}");
    }
    // A key of no schema is a typo: refused as the toolkit's strict decoding does.
    let e = WebConfig::from_yaml("tls_server_config:\n  cert_fil: x\n", d).unwrap_err();
    assert!(
        e.starts_with("tls_server_config: unknown field `cert_fil`"),
        "{e}"
    );
}

#[test]
fn no_op_keys_are_accepted_with_one_warning_each() {
    let pki = Pki::new("clients CA");
    let w = pki
        .load("  prefer_server_cipher_suites: true\n  cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256]\n")
        .unwrap();
    assert_eq!(
        w.warnings,
        [
            "tls_server_config.prefer_server_cipher_suites: ignored (a no-op in Go since 1.18, whose crypto/tls documents it as deprecated and ignored)",
            "tls_server_config.cipher_suites: TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256 ignored: TLS 1.3 suites are not configurable (in Go neither); all three stay enabled",
        ]
    );
    assert!(pki.load("").unwrap().warnings.is_empty());
    let h2 = WebConfig::from_yaml("http_server_config:\n  http2: true\n", Path::new(".")).unwrap();
    assert_eq!(
        h2.warnings,
        ["http_server_config.http2: true ignored: this exporter serves HTTP/1.1 only (its read-header timeout and connection limit are built on it); clients negotiate HTTP/1.1"]
    );
}

#[test]
fn headers_and_rate_limit_are_read() {
    let text = "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: \"\"\nrate_limit:\n  interval: 500ms\n  burst: 3\n";
    let w = WebConfig::from_yaml(text, Path::new(".")).unwrap();
    // The blank Content-Security-Policy is unset, as the toolkit documents.
    assert_eq!(
        format!("{:?}", w.headers),
        r#"[("x-frame-options", "deny")]"#
    );
    let r = w.rate_limit.unwrap();
    assert_eq!((r.interval, r.burst), (Duration::from_millis(500), 3));
    let off = WebConfig::from_yaml("rate_limit:\n  interval: 0\n  burst: 5\n", Path::new("."));
    assert!(off.unwrap().rate_limit.is_none());
}

#[test]
fn the_rate_limit_is_a_token_bucket() {
    let r = RateLimit::new(Duration::from_secs(1), 2);
    let t = Instant::now() + Duration::from_secs(1);
    // Starts full: two at once, the third refused.
    assert_eq!(
        [r.allow_at(t), r.allow_at(t), r.allow_at(t)],
        [true, true, false]
    );
    // Half an interval later still nothing; a whole one gives one token.
    assert!(!r.allow_at(t + Duration::from_millis(500)));
    assert!(r.allow_at(t + Duration::from_millis(1000)));
    assert!(!r.allow_at(t + Duration::from_millis(1000)));
    // A long pause refills up to the burst, not more.
    let later = t + Duration::from_secs(60);
    assert_eq!(
        [r.allow_at(later), r.allow_at(later), r.allow_at(later)],
        [true, true, false]
    );
}

#[tokio::test]
async fn min_and_max_version_limit_the_handshake() {
    crate::tls::install_crypto_provider();
    let pki = Pki::new("clients CA");
    let tls13 = serve(&pki.load("  min_version: TLS13\n").unwrap()).await;
    let e = connect(
        &pki,
        tls13,
        Offer {
            versions: tls12_only(),
            ..Offer::default()
        },
    )
    .await;
    assert_eq!(e.unwrap_err(), "received fatal alert: ProtocolVersion");
    let ok = connect(&pki, tls13, Offer::default()).await.unwrap();
    assert!(ok.starts_with("TLSv1_3 "), "{ok}");

    let tls12 = serve(&pki.load("  max_version: TLS12\n").unwrap()).await;
    let only13 = Some(vec![&rustls::version::TLS13]);
    let e = connect(
        &pki,
        tls12,
        Offer {
            versions: only13,
            ..Offer::default()
        },
    )
    .await;
    assert_eq!(e.unwrap_err(), "received fatal alert: ProtocolVersion");
    let ok = connect(&pki, tls12, Offer::default()).await.unwrap();
    assert!(ok.starts_with("TLSv1_2 "), "{ok}");
}

#[tokio::test]
async fn cipher_suites_limit_tls12_suites() {
    crate::tls::install_crypto_provider();
    let pki = Pki::new("clients CA");
    let web = pki
        .load("  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n")
        .unwrap();
    let addr = serve(&web).await;
    let other = Offer {
        versions: tls12_only(),
        suites: Some(vec![cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]),
        ..Offer::default()
    };
    let e = connect(&pki, addr, other).await.unwrap_err();
    assert_eq!(e, "received fatal alert: HandshakeFailure");
    let ok = connect(
        &pki,
        addr,
        Offer {
            versions: tls12_only(),
            ..Offer::default()
        },
    )
    .await;
    assert_eq!(
        ok.unwrap(),
        "TLSv1_2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 X25519"
    );
    // Every ECDHE AEAD name of Go's list is known (the toolkit's allCiphers test file, CBC aside).
    let all = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, \
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, \
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";
    let all = pki.load(&format!("  cipher_suites: [{all}]\n")).unwrap();
    let provider = all.tls.unwrap().crypto_provider().clone();
    assert_eq!(provider.cipher_suites.len(), 3 + 6);
    // TLS 1.3 keeps its suites.
    let ok = connect(&pki, addr, Offer::default()).await.unwrap();
    assert!(ok.starts_with("TLSv1_3 TLS13_"), "{ok}");
}

#[tokio::test]
async fn curve_preferences_limit_the_key_exchange() {
    crate::tls::install_crypto_provider();
    let pki = Pki::new("clients CA");
    let addr = serve(&pki.load("  curve_preferences: [CurveP384]\n").unwrap()).await;
    let x25519 = Offer {
        kx: Some(vec![kx_group::X25519]),
        ..Offer::default()
    };
    let e = connect(&pki, addr, x25519).await.unwrap_err();
    assert_eq!(e, "received fatal alert: HandshakeFailure");
    let ok = connect(&pki, addr, Offer::default()).await.unwrap();
    assert!(ok.ends_with(" secp384r1"), "{ok}");
}

#[tokio::test]
async fn client_allowed_sans_refuse_a_verified_certificate_without_one() {
    crate::tls::install_crypto_provider();
    let pki = Pki::new("clients CA");
    let web = pki
        .load("  client_ca_file: ca.crt\n  client_allowed_sans: [prometheus.example.net, spiffe://example.net/prometheus]\n")
        .unwrap();
    let addr = serve(&web).await;
    for sans in [&["other.example.net"][..], &["prometheus.example.org"]] {
        let offer = Offer {
            cert: Some(pki.client_leaf(sans)),
            ..Offer::default()
        };
        let e = connect(&pki, addr, offer).await.unwrap_err();
        assert_eq!(e, "received fatal alert: AccessDenied", "{sans:?}");
    }
    for sans in [
        &["prometheus.example.net"][..],
        &["x.example.net", "spiffe://example.net/prometheus"],
    ] {
        let offer = Offer {
            cert: Some(pki.client_leaf(sans)),
            ..Offer::default()
        };
        assert!(connect(&pki, addr, offer).await.is_ok(), "{sans:?}");
    }
    // Without a certificate the handshake fails, with VerifyClientCertIfGiven too.
    assert!(connect(&pki, addr, Offer::default()).await.is_err());
    let if_given = "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n";
    let web = pki.load(&format!("{if_given}  client_allowed_sans: [a]\n"));
    let if_given = serve(&web.unwrap()).await;
    let e = connect(&pki, if_given, Offer::default()).await.unwrap_err();
    assert_eq!(e, "received fatal alert: CertificateRequired");
    // A certificate from another CA fails the chain check first.
    let other = Pki::new("another CA");
    let offer = Offer {
        cert: Some(other.client_leaf(&["prometheus.example.net"])),
        ..Offer::default()
    };
    let e = connect(&pki, addr, offer).await.unwrap_err();
    assert_eq!(e, "received fatal alert: UnknownCA");
}

#[tokio::test]
async fn inline_cert_key_and_client_ca_are_used() {
    crate::tls::install_crypto_provider();
    let pki = Pki::new("clients CA");
    let server = pki.leaf(&["127.0.0.1"], rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    let text = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}  client_ca: |\n{}  client_auth_type: VerifyClientCertIfGiven\n",
        indent(&server.cert),
        indent(&server.key),
        indent(&pki.ca.pem())
    );
    let web = WebConfig::from_yaml(&text, Path::new("/nonexistent")).unwrap();
    assert!(!format!("{web:?}").contains("PRIVATE KEY"));
    let addr = serve(&web).await;
    // VerifyClientCertIfGiven: none is fine, one from the CA is fine, another is not.
    assert!(connect(&pki, addr, Offer::default()).await.is_ok());
    let offer = Offer {
        cert: Some(pki.client_leaf(&["a"])),
        ..Offer::default()
    };
    assert!(connect(&pki, addr, offer).await.is_ok());
    let other = Pki::new("another CA");
    let offer = Offer {
        cert: Some(other.client_leaf(&["a"])),
        ..Offer::default()
    };
    let e = connect(&pki, addr, offer).await.unwrap_err();
    assert_eq!(e, "received fatal alert: UnknownCA");
}

#[tokio::test]
async fn http2_false_offers_no_h2() {
    crate::tls::install_crypto_provider();
    let pki = Pki::new("clients CA");
    let web = pki.load("").unwrap();
    let text = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nhttp_server_config:\n  http2: false\n";
    let off = WebConfig::from_yaml(text, pki.dir.path()).unwrap();
    for web in [web, off] {
        let addr = serve(&web).await;
        let alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let offer = Offer {
            alpn,
            ..Offer::default()
        };
        // No protocol agreed: the client speaks HTTP/1.1.
        assert!(connect(&pki, addr, offer)
            .await
            .unwrap()
            .starts_with("TLSv1_3 "));
    }
}

/// The certificate the server presents (DER), or the handshake error.
async fn served(pki: &Pki, addr: SocketAddr) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("handshake");
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// A rotated certificate (cert-manager, certbot) is served from the next
/// handshake a second later, without a restart; a half-written one is
/// ignored and the previous pair kept.
#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let pki = Pki::new("rotation CA");
    let web = pki.load("").unwrap();
    let addr = serve(&web).await;
    let der = |pem: &str| crate::tls::parse_ca_pem(pem.as_bytes()).unwrap()[0].to_vec();
    let first = der(&std::fs::read_to_string(pki.dir.path().join("server.crt")).unwrap());
    assert_eq!(served(&pki, addr).await, first);

    let next = pki.leaf(
        &["127.0.0.1", "localhost"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    std::fs::write(pki.dir.path().join("server.key"), &next.key).unwrap();
    std::fs::write(pki.dir.path().join("server.crt"), &next.cert).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        served(&pki, addr).await,
        der(&next.cert),
        "the new certificate"
    );

    std::fs::write(pki.dir.path().join("server.crt"), "-----BEGIN CERT").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        served(&pki, addr).await,
        der(&next.cert),
        "the previous pair kept"
    );
}

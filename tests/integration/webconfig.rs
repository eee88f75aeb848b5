//! --web.config.file: TLS with required client certificates and basic auth
//! with bcrypt hashes, exercised with real TLS clients.

use crate::helpers::*;
use std::sync::Arc;

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf = |sans: Vec<String>, usage: rcgen::ExtendedKeyUsagePurpose| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(sans).unwrap();
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca.pem(),
        server: leaf(
            vec!["127.0.0.1".into()],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        ),
        client: leaf(
            vec!["prometheus".into()],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ),
    }
}

fn client(pki: &Pki, with_cert: bool) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in ivanti_exporter::tls::parse_ca_pem(pki.ca_pem.as_bytes()).unwrap() {
        roots.add(c).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let tls = if with_cert {
        let (certs, key) = ivanti_exporter::tls::parse_client_identity(
            pki.client.0.as_bytes(),
            pki.client.1.as_bytes(),
        )
        .unwrap();
        b.with_client_auth_cert(certs, key).unwrap()
    } else {
        b.with_no_client_auth()
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_client_certificates_and_basic_auth() {
    init();
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("server.crt"), &pki.server.0).unwrap();
    std::fs::write(d.join("server.key"), &pki.server.1).unwrap();
    std::fs::write(d.join("clients-ca.crt"), &pki.ca_pem).unwrap();
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    std::fs::write(
        d.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: clients-ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: \"{hash}\"\n"
        ),
    )
    .unwrap();
    let web = d.join("web.yml").display().to_string();
    let exp = Exporter::start_with("targets: []\n", &["--web.config.file", &web]);
    let url = format!("https://{}/metrics", exp.addr);
    let ok = client(&pki, true);
    // Correct certificate and password.
    let r = ok
        .get(&url)
        .basic_auth("prometheus", Some("correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("ivanti_exporter_build_info"));
    // Wrong password, unknown user, no credentials: 401 with a challenge.
    for (user, pass) in [
        ("prometheus", Some("wrong")),
        ("mallory", Some("correct horse")),
    ] {
        let r = ok.get(&url).basic_auth(user, pass).send().await.unwrap();
        assert_eq!(r.status(), 401, "{user}");
    }
    let r = ok.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    // Health needs the client certificate but no password (it reveals nothing).
    let r = ok
        .get(format!("https://{}/-/healthy", exp.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // No client certificate: the handshake is refused.
    let r = client(&pki, false)
        .get(&url)
        .basic_auth("prometheus", Some("correct horse"))
        .send()
        .await;
    assert!(r.is_err(), "served without a client certificate: {r:?}");
    // Plain HTTP is not served.
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{}/metrics", exp.addr))
        .send()
        .await;
    assert!(r.map(|r| r.status() != 200).unwrap_or(true));
    // The hash is not echoed anywhere.
    assert!(!exp.logs().contains(&hash));
}

#[test]
fn bad_web_configs_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plaintext\n").unwrap();
    let cfg = dir.path().join("c.yml");
    std::fs::write(&cfg, "targets: []\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .arg("--config.file")
        .arg(&cfg)
        .arg("--web.config.file")
        .arg(&web)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("basic_auth_users.prometheus: not a bcrypt hash"),
        "{err}"
    );
    assert!(!err.contains("plaintext"), "{err}");
}

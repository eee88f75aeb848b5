use super::*;
use crate::config::Config;
use crate::kinds::Credentials;
use crate::sim::error_token;
use std::path::Path;

fn spn() -> Vec<String> {
    vec!["HTTP".into(), "console.sim.test".into()]
}

/// What a console's refusal turns into, through the token a console
/// sends (`WWW-Authenticate: Negotiate <KRB-ERROR>`).
#[test]
fn console_refusals_get_their_reason() {
    let refusal = |n: u32| {
        let token =
            base64::engine::general_purpose::STANDARD.encode(error_token(n, "SIM.TEST", &spn()));
        let e = console_error(&token).expect("a KRB-ERROR token");
        assert_eq!(e.0.error_code.0, n);
        krb_error(&e, "console")
    };
    assert_eq!(refusal(code::KRB_AP_ERR_SKEW).kind(), "clock_skew");
    assert_eq!(
        refusal(code::KRB_AP_ERR_TKT_EXPIRED).kind(),
        "ticket_expired"
    );
    let other = refusal(code::KRB_AP_ERR_MODIFIED);
    assert_eq!(other.kind(), "auth");
    assert_eq!(
        other.to_string(),
        "authentication failed: console: Kerberos error 41"
    );
    // An NTLM challenge or garbage is not a Kerberos refusal.
    assert!(console_error("TlRMTVNTUAACAAAA").is_none());
    assert!(console_error("not base64!").is_none());
}

#[test]
fn kdc_errors_name_the_cause() {
    let kdc = |n: u32| {
        let raw = error_token(n, "SIM.TEST", &spn());
        let e = KrbMessage::<KrbError>::decode_application_krb_message(&raw)
            .unwrap()
            .0
            .krb_msg;
        krb_error(&e, "KDC (AS exchange)")
    };
    let cases = [
        (code::KDC_ERR_PREAUTH_FAILED, "auth", "wrong password"),
        (
            code::KDC_ERR_C_PRINCIPAL_UNKNOWN,
            "auth",
            "principal is unknown",
        ),
        (
            code::KDC_ERR_CLIENT_REVOKED,
            "auth",
            "disabled or locked out",
        ),
        (code::KDC_ERR_KEY_EXPIRED, "auth", "password has expired"),
        (
            code::KDC_ERR_S_PRINCIPAL_UNKNOWN,
            "auth",
            "kerberos.service_principal",
        ),
        (code::KRB_AP_ERR_SKEW, "clock_skew", "check NTP"),
        (
            code::KRB_AP_ERR_TKT_EXPIRED,
            "ticket_expired",
            "KRB_AP_ERR_TKT_EXPIRED",
        ),
    ];
    for (n, reason, text) in cases {
        let e = kdc(n);
        assert_eq!(e.kind(), reason, "{n}");
        assert!(e.to_string().contains(text), "{n}: {e}");
    }
}

fn load(target: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret-pw\n").unwrap();
    let yaml =
        format!("targets:\n  - name: c\n    url: https://console.corp.example.com:3121\n{target}");
    Config::from_yaml(&yaml, dir.path()).map_err(|e| e.to_string())
}

#[test]
fn kerberos_credentials_are_checked() {
    let ok = load(
        "    kind: isec\n    kerberos: { principal: svc-monitor@CORP.EXAMPLE.COM, password_file: pw, kdc: [dc1.corp.example.com] }\n",
    )
    .unwrap();
    let t = ok.target("c").unwrap().kind_target();
    let Credentials::Kerberos(k) = &t.credentials else {
        panic!("{:?}", t.credentials)
    };
    assert_eq!(
        (k.user.as_str(), k.realm.as_str()),
        ("svc-monitor", "CORP.EXAMPLE.COM")
    );
    assert_eq!(k.secret, KerberosSecret::Password(Secret::new("s3cret-pw")));
    let client = KerberosClient::new(
        k.clone(),
        "console.corp.example.com",
        Duration::from_secs(10),
    );
    assert_eq!(client.service_principal(), "HTTP/console.corp.example.com");
    let shown = format!("{k:?} {client:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("svc-monitor@CORP.EXAMPLE.COM"), "{shown}");

    let err = |target: &str| load(target).unwrap_err();
    let e =
        err("    kind: isec\n    kerberos: { principal: svc-monitor, password: x, kdc: [dc1] }\n");
    assert!(
        e.contains("targets[0].kerberos.principal: missing or not user@REALM"),
        "{e}"
    );
    let e = err("    kind: isec\n    kerberos: { principal: a@B, password: x, keytab_file: pw, kdc: [dc1] }\n");
    assert!(
        e.contains("targets[0].kerberos.keytab_file: set either a keytab or a password"),
        "{e}"
    );
    let e = err("    kind: isec\n    kerberos: { principal: a@B, keytab_file: pw, kdc: [dc1] }\n");
    assert!(e.contains("not a keytab"), "{e}");
    let e = err("    kind: isec\n    kerberos: { principal: a@B, password: x, kdc: [dc1], service_principal: HTTP/c@B }\n");
    assert!(
        e.contains("kerberos.service_principal: not service/host"),
        "{e}"
    );
    let e = err("    kind: isec\n    kerberos: { principal: a@B, password: x, kdc: [dc1] }\n    basic_auth: { username: u, password: p }\n");
    assert!(
        e.contains("targets[0].kerberos: set one kind of credentials only"),
        "{e}"
    );
    let e = err("    kerberos: { principal: a@B, password: x, kdc: [dc1] }\n");
    assert!(
        e.contains("targets[0].kerberos: kind ics authenticates with"),
        "{e}"
    );
    let e = err("    kind: isec\n    kerberos: { principal: a@B, password: x, kdcs: [dc1] }\n");
    assert!(
        e.contains("kerberos.kdcs: unknown field \"kdcs\", did you mean \"kdc\"?"),
        "{e}"
    );
}

#[test]
fn a_keytab_file_supplies_the_key() {
    let dir = tempfile::tempdir().unwrap();
    // One aes256 entry for svc@CORP.TEST, kvno 3.
    let mut e = Vec::new();
    e.extend_from_slice(&1u16.to_be_bytes());
    for s in ["CORP.TEST", "svc"] {
        e.extend_from_slice(&(s.len() as u16).to_be_bytes());
        e.extend_from_slice(s.as_bytes());
    }
    e.extend_from_slice(&1u32.to_be_bytes());
    e.extend_from_slice(&0u32.to_be_bytes());
    e.push(3);
    e.extend_from_slice(&18u16.to_be_bytes());
    e.extend_from_slice(&32u16.to_be_bytes());
    e.extend_from_slice(&[7; 32]);
    let mut file = vec![5, 2];
    file.extend_from_slice(&(e.len() as u32).to_be_bytes());
    file.extend_from_slice(&e);
    std::fs::write(dir.path().join("svc.keytab"), &file).unwrap();
    let yaml = |p: &str| {
        format!("targets:\n  - name: c\n    url: https://c:3121\n    kind: isec\n    kerberos: {{ principal: {p}, keytab_file: svc.keytab, kdc: [dc1] }}\n")
    };
    let c = Config::from_yaml(&yaml("svc@CORP.TEST"), dir.path()).unwrap();
    let Credentials::Kerberos(k) = c.target("c").unwrap().kind_target().credentials else {
        panic!()
    };
    let KerberosSecret::Keytab(keys) = &k.secret else {
        panic!()
    };
    assert_eq!((keys.len(), keys[0].kvno, keys[0].key[0]), (1, 3, 7));
    let e = Config::from_yaml(&yaml("other@CORP.TEST"), Path::new(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no AES key for other@CORP.TEST"), "{e}");
}

proptest::proptest! {
    /// What a console or a KDC sends back is read without panicking,
    /// whatever the bytes (a keytab file too).
    #[test]
    fn arbitrary_answers_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = keytab::parse(&b);
        let _ = console_error(&base64::engine::general_purpose::STANDARD.encode(&b));
        let _ = kdc_error(&b, "AS");
        let _ = picky_asn1_der::from_bytes::<AsRep>(&b);
        let _ = kdc::realm_kdcs(&String::from_utf8_lossy(&b), "A");
    }

    /// A GSS wrapper around arbitrary bytes, as a console's refusal.
    #[test]
    fn arbitrary_refusal_tokens_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let mut token = vec![0x60, 0x82, 0x01, 0x00, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x03, 0x00];
        token.extend_from_slice(&b);
        let _ = console_error(&base64::engine::general_purpose::STANDARD.encode(&token));
    }
}

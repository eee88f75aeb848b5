//! Classifying a failed exchange (`tls` or `connect`) and describing it
//! without secrets: hyper's messages carry no headers, and target URLs
//! carry no credentials (the config refuses them).

use crate::error::CollectError;

/// Decide the class of a failure inside an exchange and describe it
/// without secrets (hyper's messages carry no headers; our URLs carry no
/// credentials).
pub(super) fn hyper_error(url: &str, e: &hyper::Error) -> CollectError {
    match describe(url, e) {
        (true, msg) => CollectError::Tls(msg),
        (false, msg) => CollectError::Connect(msg),
    }
}

/// An I/O error that carries a TLS failure (tokio-rustls wraps them).
pub(super) fn wraps_rustls(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

/// Whether a rustls error is behind `e`, and `url: e: its sources`.
pub(super) fn describe(url: &str, e: &hyper::Error) -> (bool, String) {
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

/// What an operator should do about a certificate the exporter refused,
/// in words (rustls' own text names an enum variant), pointing at the
/// README section that fixes the common case: an appliance's factory
/// certificate, self-signed with `CA:TRUE`.
pub(super) fn certificate_hint(e: &std::io::Error) -> Option<&'static str> {
    use rustls::CertificateError as C;
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let rustls::Error::InvalidCertificate(c) = inner else {
        return None;
    };
    Some(match c {
        C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            "the appliance presents a self-signed CA certificate (its factory certificate?): pin it with tls_config.ca_file (README \"Self-signed appliance certificates\")"
        }
        C::UnknownIssuer => {
            "the certificate's issuer is not trusted: add the issuing CA to the system trust store or set tls_config.ca_file (README \"Self-signed appliance certificates\" for a self-signed one)"
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the certificate is not issued for this host name: use the name it carries in the target URL, or set tls_config.server_name"
        }
        C::Expired | C::ExpiredContext { .. } => {
            "the appliance's certificate has expired: renew it on the appliance"
        }
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the appliance's certificate is not valid yet: check the clocks of the appliance and of the exporter's host"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::certificate_hint;
    use std::sync::Arc;

    fn io(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    /// The refusals a new user meets first get words and the fix (issue 25).
    #[test]
    fn certificate_refusals_say_what_to_do() {
        let factory = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity)),
        ));
        assert!(certificate_hint(&io(factory))
            .unwrap()
            .contains("pin it with tls_config.ca_file"));
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(certificate_hint(&io(unknown))
            .unwrap()
            .contains("system trust store"));
        let name = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        assert!(certificate_hint(&io(name))
            .unwrap()
            .contains("tls_config.server_name"));
        // Anything else keeps rustls' own words only.
        assert_eq!(certificate_hint(&io(rustls::Error::DecryptError)), None);
        assert_eq!(certificate_hint(&std::io::Error::other("x")), None);
    }
}

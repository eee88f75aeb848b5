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

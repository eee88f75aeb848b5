//! Why a collector failed. [`CollectError::kind`] is the bounded `reason`
//! label of `ivanti_collector_errors_total`; the `Display` text is the log
//! line and the status page. Neither ever contains a secret: errors are built
//! from status codes, URLs without credentials and parser messages.

use thiserror::Error;

/// A failed poll of one collector.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CollectError {
    /// The request (or the whole collector run) took longer than its timeout.
    #[error("timeout: {0}")]
    Timeout(String),
    /// TCP connection refused, reset, unreachable, DNS failure.
    #[error("connection failed: {0}")]
    Connect(String),
    /// TLS handshake or certificate verification failed.
    #[error("TLS error: {0}")]
    Tls(String),
    /// 401/403, a rejected login, or a login that needs a second factor.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Any other non-2xx status (redirects included: they are not followed).
    #[error("HTTP {status}: {message}")]
    Http {
        /// The status code.
        status: u16,
        /// What the appliance said, shortened.
        message: String,
        /// Seconds from a `Retry-After` header (429, 503): the next poll waits at least this long.
        retry_after: Option<u64>,
    },
    /// Not the JSON we expected: HTML login page, broken JSON, wrong shape.
    #[error("unexpected response: {0}")]
    Parse(#[from] ParseError),
    /// Kerberos: the clocks of the exporter and the KDC or console differ
    /// by more than the allowed skew (`KRB_AP_ERR_SKEW`).
    #[error("clock skew: {0}")]
    ClockSkew(String),
    /// Kerberos: a ticket was refused as expired (`KRB_AP_ERR_TKT_EXPIRED`)
    /// even after a new one was fetched.
    #[error("ticket expired: {0}")]
    TicketExpired(String),
    /// Kerberos: no KDC of the realm answered.
    #[error("no KDC answered: {0}")]
    KdcUnreachable(String),
    /// The body was larger than the target's `body_size_limit`.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The configured cap, in bytes.
        limit: usize,
    },
}

impl CollectError {
    /// The `reason` label: one of [`CollectError::REASONS`].
    pub fn kind(&self) -> &'static str {
        match self {
            CollectError::Timeout(_) => "timeout",
            CollectError::Connect(_) => "connect",
            CollectError::Tls(_) => "tls",
            CollectError::Auth(_) => "auth",
            CollectError::Http { .. } => "http",
            CollectError::Parse(_) => "parse",
            CollectError::TooLarge { .. } => "too_large",
            CollectError::ClockSkew(_) => "clock_skew",
            CollectError::TicketExpired(_) => "ticket_expired",
            CollectError::KdcUnreachable(_) => "kdc_unreachable",
        }
    }

    /// How long the appliance asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            CollectError::Http {
                retry_after: Some(s),
                ..
            } => Some(std::time::Duration::from_secs(*s)),
            _ => None,
        }
    }

    /// Every value [`CollectError::kind`] can return.
    pub const REASONS: &'static [&'static str] = &[
        "timeout",
        "connect",
        "tls",
        "auth",
        "http",
        "parse",
        "too_large",
        "clock_skew",
        "ticket_expired",
        "kdc_unreachable",
    ];
}

/// A response body that could not be understood.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The body is HTML (typically the appliance's sign-in page).
    #[error("got an HTML page instead of JSON (a login page or a proxy error?)")]
    Html,
    /// The body is not valid JSON, or not of the expected shape.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Valid JSON, but a required field is missing or has the wrong type.
    #[error("missing or invalid field `{0}`")]
    Field(&'static str),
    /// A paged list still had a next page after this many pages: the
    /// count would be short, so none is published.
    #[error("list still has a next page after {0} pages (not counted)")]
    TooManyPages(usize),
}

impl ParseError {
    /// Classify a serde_json failure, recognising HTML bodies first.
    pub fn from_json(body: &[u8], err: serde_json::Error) -> ParseError {
        if looks_like_html(body) {
            ParseError::Html
        } else {
            let mut msg = err.to_string();
            msg.truncate(200);
            ParseError::Json(msg)
        }
    }
}

/// True when the body starts (after whitespace) with `<`.
pub fn looks_like_html(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<')
}

/// Parse JSON into `T`, classifying failures as [`ParseError`].
///
/// A body that is valid UTF-8 (nearly all) is checked once, in one fast
/// pass, and parsed as text, so strings borrowed from it are not validated
/// again one by one; anything else goes through the byte parser, which
/// behaves as before.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ParseError> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
    .map_err(|e| ParseError::from_json(body, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_recognised() {
        let e = parse_json::<serde_json::Value>(b"  <!DOCTYPE html><html>").unwrap_err();
        assert_eq!(e, ParseError::Html);
        let e = parse_json::<serde_json::Value>(b"{\"a\":").unwrap_err();
        assert!(matches!(e, ParseError::Json(_)));
        assert_eq!(CollectError::from(e).kind(), "parse");
    }
}

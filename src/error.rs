//! Why a collector failed. [`CollectError::kind`] is its [`Reason`], the bounded `reason`
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
    /// A credentials file of the target (`api_key_file`, `password_file`,
    /// `keytab_file`) could not be read: the file and the OS error, never
    /// its content. Retried at every poll.
    #[error("credentials unreadable: {0}")]
    Credentials(String),
}

impl CollectError {
    /// The `reason` label.
    pub fn kind(&self) -> Reason {
        match self {
            CollectError::Timeout(_) => Reason::Timeout,
            CollectError::Connect(_) => Reason::Connect,
            CollectError::Tls(_) => Reason::Tls,
            CollectError::Auth(_) => Reason::Auth,
            CollectError::Http { .. } => Reason::Http,
            CollectError::Parse(_) => Reason::Parse,
            CollectError::TooLarge { .. } => Reason::TooLarge,
            CollectError::ClockSkew(_) => Reason::ClockSkew,
            CollectError::TicketExpired(_) => Reason::TicketExpired,
            CollectError::KdcUnreachable(_) => Reason::KdcUnreachable,
            CollectError::Credentials(_) => Reason::Credentials,
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
}

/// Declares [`Reason`] from one list: each variant with its label and its
/// description, so the enum, [`Reason::label`], [`Reason::description`],
/// [`Reason::ALL`] and [`Reason::HELP`] cannot disagree.
macro_rules! reasons {
    ($first:ident $first_label:literal $first_desc:literal $(, $v:ident $label:literal $desc:literal)* $(,)?) => {
        /// Why a collector failed: the bounded `reason` label of
        /// `ivanti_collector_errors_total` (and of the log line and the
        /// landing page). Listed with its description in docs/runbook.md.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Reason {
            #[doc = $first_desc]
            $first,
            $(#[doc = $desc] $v,)*
        }

        impl Reason {
            /// Every reason, in label order of the exposition.
            pub const ALL: &'static [Reason] = &[Reason::$first $(, Reason::$v)*];

            /// The HELP text of `ivanti_collector_errors_total`, which lists every reason.
            pub const HELP: &'static str = concat!(
                "Failed polls of the collector by reason: ",
                $first_label $(, ", ", $label)*
            );

            /// The label value.
            pub const fn label(self) -> &'static str {
                match self {
                    Reason::$first => $first_label,
                    $(Reason::$v => $label,)*
                }
            }

            /// What it means, one sentence (docs/runbook.md has the same).
            pub const fn description(self) -> &'static str {
                match self {
                    Reason::$first => $first_desc,
                    $(Reason::$v => $desc,)*
                }
            }
        }
    };
}

reasons! {
    Timeout "timeout" "The request, or the whole collector run, took longer than its timeout.",
    Connect "connect" "The TCP connection was refused, reset or unreachable, or the name did not resolve.",
    Tls "tls" "The TLS handshake or the certificate verification failed.",
    Auth "auth" "401/403, a rejected login, or a login that needs a second factor.",
    Http "http" "Any other non-2xx status (redirects included: they are not followed).",
    Parse "parse" "Not the answer expected: an HTML page, broken JSON, a wrong shape, a list too long to count.",
    TooLarge "too_large" "The body was larger than the target's body_size_limit.",
    ClockSkew "clock_skew" "Kerberos: the clocks of the exporter and the KDC or console differ by more than the allowed skew.",
    TicketExpired "ticket_expired" "Kerberos: a ticket was refused as expired even after a new one was fetched.",
    KdcUnreachable "kdc_unreachable" "Kerberos: no KDC of the realm answered.",
    Credentials "credentials" "A credentials file (api_key_file, password_file, keytab_file) or TLS file (tls_config key_file, cert_file, ca_file) of the target cannot be read: missing, permission denied, or a secret empty or not text; nothing is sent to the appliance (for a TLS file not even the healthcheck), the other targets are polled, and the file is read again at every poll.",
}

impl Reason {
    /// Its position in [`Reason::ALL`]: an index for per-reason counters.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Compares with the label, so `e.kind() == "auth"` reads as the metric does.
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.label() == *other
    }
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
        assert_eq!(CollectError::from(e).kind(), Reason::Parse);
    }

    fn doc(name: &str) -> String {
        std::fs::read_to_string(format!("{}/docs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// Every reason has a distinct label and a description, is named in the
    /// HELP text and in docs/metrics.md, and has its row in docs/runbook.md.
    #[test]
    fn every_reason_is_labelled_described_and_documented() {
        let metrics = doc("metrics.md");
        let row = metrics
            .lines()
            .find(|l| l.starts_with("| `ivanti_collector_errors_total` |"))
            .expect("docs/metrics.md has a row for ivanti_collector_errors_total");
        let runbook = doc("runbook.md");
        let mut labels = std::collections::BTreeSet::new();
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            let label = r.label();
            assert!(labels.insert(label), "{label} twice");
            assert!(
                !label.is_empty() && label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label:?}"
            );
            assert!(
                r.description().ends_with('.'),
                "{label}: {}",
                r.description()
            );
            let listed = Reason::HELP
                .split_once(": ")
                .map(|(_, l)| l.split(", ").any(|x| x == label));
            assert_eq!(listed, Some(true), "{label} not in HELP {:?}", Reason::HELP);
            assert!(
                row.contains(&format!("`{label}`")),
                "docs/metrics.md: {label}"
            );
            let line = format!("| `{label}` | {} |", r.description());
            assert!(
                runbook.contains(&line),
                "docs/runbook.md lacks the line\n{line}"
            );
        }
    }

    #[test]
    fn help_lists_the_reasons_in_order() {
        assert_eq!(
            Reason::HELP,
            "Failed polls of the collector by reason: timeout, connect, tls, auth, http, \
             parse, too_large, clock_skew, ticket_expired, kdc_unreachable, credentials"
        );
    }
}

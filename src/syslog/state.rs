//! What the receiver keeps: per target a few counters (memory does not grow
//! with traffic: realms are capped, nothing else is keyed by message
//! content), and the exporter-level counters of the receiver itself. Both
//! render as series at scrape time.

use super::event::Event;
use crate::exposition::{Desc, Samples};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Distinct realms counted per target; later realms count as `other`.
pub const MAX_REALMS: usize = 50;
/// Longest realm name kept (longer names are cut at a character boundary).
const MAX_REALM_LEN: usize = 64;

/// `ivanti_integrity_scans_total`.
pub static SCANS: Desc = Desc::counter(
    "ivanti_integrity_scans_total",
    "Integrity Checker (ICT) results in the gateway's event log by result: clean (SYS32088 or SYS32100, nothing found), files_found (SYS32039/SYS32040 then SYS32088), manifest_missing (SYS32041), manifest_bad (SYS32042), manifest_check_failed (ERR32031), external (SYS32102, a scan by the external ICT finished)",
    &["result"],
);
/// `ivanti_integrity_scan_last_timestamp_seconds`.
pub static SCAN_LAST: Desc = Desc::gauge(
    "ivanti_integrity_scan_last_timestamp_seconds",
    "Unix time the exporter received the latest completed built-in integrity scan (SYS32088 or SYS32100)",
    &[],
);
/// `ivanti_integrity_scan_new_files`.
pub static NEW_FILES: Desc = Desc::gauge(
    "ivanti_integrity_scan_new_files",
    "New files the latest completed integrity scan found (SYS32039); 0 after a clean scan",
    &[],
);
/// `ivanti_integrity_scan_modified_files`.
pub static MODIFIED_FILES: Desc = Desc::gauge(
    "ivanti_integrity_scan_modified_files",
    "Modified files the latest completed integrity scan found (SYS32040); 0 after a clean scan",
    &[],
);
/// `ivanti_event_log_full_total`.
pub static LOG_FULL: Desc = Desc::counter(
    "ivanti_event_log_full_total",
    "Messages saying the gateway's local event log is nearly_full (SYS23041) or full (SYS23042, SYS24348: older entries are being lost)",
    &["level"],
);
/// `ivanti_signin_failures_total`.
pub static SIGNIN_FAILURES: Desc = Desc::counter(
    "ivanti_signin_failures_total",
    "Failed primary authentications in the gateway's event log (AUT24327) by realm; the first 50 realms per target, then other",
    &["realm"],
);
/// `ivanti_syslog_messages_total`.
pub static MESSAGES: Desc = Desc::counter(
    "ivanti_syslog_messages_total",
    "Syslog messages received from the appliance, recognised or not",
    &[],
);
/// `ivanti_syslog_last_message_timestamp_seconds`.
pub static LAST_MESSAGE: Desc = Desc::gauge(
    "ivanti_syslog_last_message_timestamp_seconds",
    "Unix time the exporter received the appliance's latest syslog message",
    &[],
);

/// Per-target syslog metrics, in output order.
pub static TARGET_METRICS: &[&Desc] = &[
    &SCANS,
    &SCAN_LAST,
    &NEW_FILES,
    &MODIFIED_FILES,
    &SIGNIN_FAILURES,
    &LOG_FULL,
    &MESSAGES,
    &LAST_MESSAGE,
];

/// `ivanti_exporter_syslog_messages_received_total`.
pub static RECEIVED: Desc = Desc::counter(
    "ivanti_exporter_syslog_messages_received_total",
    "Syslog messages the receiver read (all transports), before any check",
    &[],
);
/// `ivanti_exporter_syslog_messages_rejected_total`.
pub static REJECTED: Desc = Desc::counter(
    "ivanti_exporter_syslog_messages_rejected_total",
    "Syslog messages dropped by reason: too_big (over syslog.max_message_size), rate_limited (the sender's token bucket was empty), framing (a TCP stream whose framing could not be read; the connection is closed), incomplete (a message not whole within syslog.message_timeout of its first byte; the connection is closed)",
    &["reason"],
);
/// `ivanti_exporter_syslog_unknown_sender_messages_total`.
pub static UNKNOWN_SENDER: Desc = Desc::counter(
    "ivanti_exporter_syslog_unknown_sender_messages_total",
    "Syslog messages whose source address and host name match no configured target (counted, not stored)",
    &[],
);
/// `ivanti_exporter_syslog_unrecognized_messages_total`.
pub static UNRECOGNIZED: Desc = Desc::counter(
    "ivanti_exporter_syslog_unrecognized_messages_total",
    "Syslog messages from a configured target that are not in a format of the gateway (counted in ivanti_syslog_messages_total too)",
    &[],
);
/// `ivanti_exporter_syslog_connections_limited_total`.
pub static CONNECTIONS_LIMITED: Desc = Desc::counter(
    "ivanti_exporter_syslog_connections_limited_total",
    "TCP/TLS syslog connections refused because syslog.max_connections were open",
    &[],
);

/// `ivanti_exporter_syslog_connections_rejected_total`.
pub static CONNECTIONS_REJECTED: Desc = Desc::counter(
    "ivanti_exporter_syslog_connections_rejected_total",
    "TCP/TLS syslog connections refused by reason: sender_limit (the sender address already held syslog.max_connections_per_sender), and in the TLS handshake tls_no_certificate (a client CA is configured and the client sent no certificate), tls_bad_certificate (its certificate is not signed by the client CA, expired, or lacks an allowed SAN), tls_handshake (any other handshake failure: not TLS, no common version or cipher suite)",
    &["reason"],
);
/// `ivanti_exporter_syslog_idle_connections_closed_total`.
pub static IDLE_CLOSED: Desc = Desc::counter(
    "ivanti_exporter_syslog_idle_connections_closed_total",
    "TCP/TLS syslog connections the exporter closed because they sent nothing (or did not finish the TLS handshake) for syslog.idle_timeout",
    &[],
);

/// The receiver's own metrics, in output order.
pub static SELF_METRICS: &[&Desc] = &[
    &RECEIVED,
    &REJECTED,
    &UNKNOWN_SENDER,
    &UNRECOGNIZED,
    &CONNECTIONS_LIMITED,
    &CONNECTIONS_REJECTED,
    &IDLE_CLOSED,
];

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Over the size limit.
    TooBig,
    /// The sender's rate limit.
    RateLimited,
    /// Unreadable TCP framing.
    Framing,
    /// Not whole within the message timeout.
    Incomplete,
}

impl Rejected {
    /// Every reason, in label order.
    pub const ALL: [Rejected; 4] = [
        Rejected::TooBig,
        Rejected::RateLimited,
        Rejected::Framing,
        Rejected::Incomplete,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Rejected::TooBig => "too_big",
            Rejected::RateLimited => "rate_limited",
            Rejected::Framing => "framing",
            Rejected::Incomplete => "incomplete",
        }
    }
}

/// Why a TCP or TLS connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The sender address already holds its share of connections.
    SenderLimit,
    /// A client certificate is required and none was sent.
    NoCertificate,
    /// The client's certificate was not accepted.
    BadCertificate,
    /// Any other handshake failure.
    Handshake,
}

impl Refused {
    /// Every reason, in label order.
    pub const ALL: [Refused; 4] = [
        Refused::SenderLimit,
        Refused::NoCertificate,
        Refused::BadCertificate,
        Refused::Handshake,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refused::SenderLimit => "sender_limit",
            Refused::NoCertificate => "tls_no_certificate",
            Refused::BadCertificate => "tls_bad_certificate",
            Refused::Handshake => "tls_handshake",
        }
    }
}

/// The receiver's counters (exporter-level).
#[derive(Debug, Default)]
pub struct ReceiverStats {
    /// Set when a `syslog:` block is configured: the series are published.
    pub enabled: AtomicBool,
    /// Messages read.
    pub received: AtomicU64,
    /// Messages dropped, by [`Rejected`] (index: position in `ALL`).
    pub rejected: [AtomicU64; Rejected::ALL.len()],
    /// Messages from no configured target.
    pub unknown_sender: AtomicU64,
    /// Messages from a target, not in a gateway format.
    pub unrecognized: AtomicU64,
    /// Connections refused at the cap.
    pub connections_limited: AtomicU64,
    /// Connections refused (per-sender cap, TLS handshake), by [`Refused`] (index: position in `ALL`).
    pub connections_rejected: [AtomicU64; Refused::ALL.len()],
    /// Connections closed for idleness.
    pub idle_closed: AtomicU64,
}

impl ReceiverStats {
    /// Count a dropped message.
    pub fn reject(&self, why: Rejected) {
        let i = Rejected::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Count a refused connection.
    pub fn refuse(&self, why: Refused) {
        let i = Refused::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.connections_rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The series (none unless enabled).
    pub fn samples(&self, out: &mut Samples) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let r = Ordering::Relaxed;
        out.push(&RECEIVED, &[], self.received.load(r) as f64);
        for (why, n) in Rejected::ALL.iter().zip(&self.rejected) {
            out.push(&REJECTED, &[why.label()], n.load(r) as f64);
        }
        out.push(&UNKNOWN_SENDER, &[], self.unknown_sender.load(r) as f64);
        out.push(&UNRECOGNIZED, &[], self.unrecognized.load(r) as f64);
        out.push(
            &CONNECTIONS_LIMITED,
            &[],
            self.connections_limited.load(r) as f64,
        );
        for (why, n) in Refused::ALL.iter().zip(&self.connections_rejected) {
            out.push(&CONNECTIONS_REJECTED, &[why.label()], n.load(r) as f64);
        }
        out.push(&IDLE_CLOSED, &[], self.idle_closed.load(r) as f64);
    }
}

/// An integrity-scan result (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanResult {
    Clean,
    FilesFound,
    ManifestMissing,
    ManifestBad,
    ManifestCheckFailed,
    External,
}

const RESULTS: [(ScanResult, &str); 6] = [
    (ScanResult::Clean, "clean"),
    (ScanResult::FilesFound, "files_found"),
    (ScanResult::ManifestMissing, "manifest_missing"),
    (ScanResult::ManifestBad, "manifest_bad"),
    (ScanResult::ManifestCheckFailed, "manifest_check_failed"),
    (ScanResult::External, "external"),
];

#[derive(Debug, Default)]
struct Counts {
    messages: u64,
    last_message: Option<f64>,
    scans: [u64; RESULTS.len()],
    last_scan: Option<f64>,
    /// (new, modified) files of the latest completed scan.
    last_files: Option<(u64, u64)>,
    /// Files reported since the scan began.
    pending: (u64, u64),
    /// A scan is under way (or the first completion may be counted): a
    /// second completion message of the same scan (SYS32088 and SYS32100)
    /// is not a second scan.
    closed: bool,
    realms: Vec<(Box<str>, u64)>,
    other_realms: u64,
    /// Log (nearly) full messages: `[nearly_full, full]`.
    log_full: [u64; 2],
}

/// One target's syslog counters.
#[derive(Debug, Default)]
pub struct TargetSyslog {
    counts: Mutex<Counts>,
}

impl TargetSyslog {
    /// Count one message received at `now` (Unix seconds) and its event.
    pub fn record(&self, event: &Event<'_>, now: f64) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.messages += 1;
        c.last_message = Some(now);
        let count = |c: &mut Counts, r: ScanResult| {
            if let Some(i) = RESULTS.iter().position(|(x, _)| *x == r) {
                c.scans[i] += 1;
            }
        };
        match *event {
            Event::ScanStarted => {
                c.pending = (0, 0);
                c.closed = false;
            }
            Event::NewFiles(n) => {
                c.pending.0 = c.pending.0.saturating_add(n);
                c.closed = false;
            }
            Event::ModifiedFiles(n) => {
                c.pending.1 = c.pending.1.saturating_add(n);
                c.closed = false;
            }
            Event::ScanCompleted | Event::ScanSuccessful => {
                if !c.closed {
                    let found = c.pending.0 + c.pending.1 > 0;
                    let result = if found {
                        ScanResult::FilesFound
                    } else {
                        ScanResult::Clean
                    };
                    count(&mut c, result);
                    c.last_files = Some(c.pending);
                    c.pending = (0, 0);
                    c.closed = true;
                }
                c.last_scan = Some(now);
            }
            Event::ManifestMissing => count(&mut c, ScanResult::ManifestMissing),
            Event::ManifestBad => count(&mut c, ScanResult::ManifestBad),
            Event::ManifestCheckFailed => count(&mut c, ScanResult::ManifestCheckFailed),
            Event::ExternalIct => count(&mut c, ScanResult::External),
            Event::SigninFailure(realm) => c.signin_failure(realm),
            Event::LogNearlyFull => c.log_full[0] += 1,
            Event::LogFull => c.log_full[1] += 1,
            Event::Other | Event::Unrecognized => {}
        }
    }

    /// The series of this target (its `target` label is added by the caller).
    pub fn samples(&self, out: &mut Samples) {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for ((_, label), n) in RESULTS.iter().zip(&c.scans) {
            out.push(&SCANS, &[label], *n as f64);
        }
        if let Some(t) = c.last_scan {
            out.push(&SCAN_LAST, &[], t);
        }
        if let Some((new, modified)) = c.last_files {
            out.push(&NEW_FILES, &[], new as f64);
            out.push(&MODIFIED_FILES, &[], modified as f64);
        }
        for (realm, n) in &c.realms {
            out.push(&SIGNIN_FAILURES, &[realm], *n as f64);
        }
        if c.other_realms > 0 {
            out.push(&SIGNIN_FAILURES, &["other"], c.other_realms as f64);
        }
        for (level, n) in ["nearly_full", "full"].iter().zip(c.log_full) {
            out.push(&LOG_FULL, &[level], n as f64);
        }
        out.push(&MESSAGES, &[], c.messages as f64);
        if let Some(t) = c.last_message {
            out.push(&LAST_MESSAGE, &[], t);
        }
    }
}

impl Counts {
    fn signin_failure(&mut self, realm: &str) {
        let realm = if realm.is_empty() { "unknown" } else { realm };
        let mut end = realm.len().min(MAX_REALM_LEN);
        while !realm.is_char_boundary(end) {
            end -= 1;
        }
        let realm = &realm[..end];
        if let Some((_, n)) = self.realms.iter_mut().find(|(r, _)| &**r == realm) {
            *n += 1;
        } else if self.realms.len() < MAX_REALMS && realm != "other" {
            self.realms.push((realm.into(), 1));
        } else {
            self.other_realms += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &Samples, name: &str, labels: &str) -> Option<f64> {
        s.value_of(name, labels)
    }

    #[test]
    fn a_scan_with_new_and_modified_files_then_a_clean_one() {
        let t = TargetSyslog::default();
        for (e, at) in [
            (Event::ScanStarted, 100.0),
            (Event::NewFiles(3), 101.0),
            (Event::ModifiedFiles(2), 101.0),
            (Event::ScanCompleted, 102.0),
        ] {
            t.record(&e, at);
        }
        let mut s = Samples::new();
        t.samples(&mut s);
        assert_eq!(
            value(&s, "ivanti_integrity_scans_total", "files_found"),
            Some(1.0)
        );
        assert_eq!(
            value(&s, "ivanti_integrity_scans_total", "\"clean\""),
            Some(0.0)
        );
        assert_eq!(value(&s, "ivanti_integrity_scan_new_files", ""), Some(3.0));
        assert_eq!(
            value(&s, "ivanti_integrity_scan_modified_files", ""),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "ivanti_integrity_scan_last_timestamp_seconds", ""),
            Some(102.0)
        );
        assert_eq!(value(&s, "ivanti_syslog_messages_total", ""), Some(4.0));
        // The next day: started, completed and successful are one clean scan.
        for e in [
            Event::ScanStarted,
            Event::ScanCompleted,
            Event::ScanSuccessful,
        ] {
            t.record(&e, 200.0);
        }
        let mut s = Samples::new();
        t.samples(&mut s);
        assert_eq!(
            value(&s, "ivanti_integrity_scans_total", "\"clean\""),
            Some(1.0)
        );
        assert_eq!(
            value(&s, "ivanti_integrity_scans_total", "files_found"),
            Some(1.0)
        );
        assert_eq!(value(&s, "ivanti_integrity_scan_new_files", ""), Some(0.0));
        assert_eq!(
            value(&s, "ivanti_syslog_last_message_timestamp_seconds", ""),
            Some(200.0)
        );
    }

    #[test]
    fn an_external_scan_counts_once_and_log_full_by_level() {
        let t = TargetSyslog::default();
        // As the gateway sends them (WELF): the id is not taken for a tag.
        let line = |id: &str| {
            let m = crate::sim::syslog::message("vpn-a", &format!("{id}: text"), "");
            let m: &'static str = Box::leak(m.into_boxed_str());
            crate::syslog::event::parse(m).event
        };
        for e in [
            line("SYS32101"),
            line("SYS32102"),
            Event::LogNearlyFull,
            Event::LogFull,
            Event::LogFull,
        ] {
            t.record(&e, 1.0);
        }
        let mut s = Samples::new();
        t.samples(&mut s);
        assert_eq!(
            value(&s, "ivanti_integrity_scans_total", "external"),
            Some(1.0)
        );
        assert_eq!(
            value(&s, "ivanti_event_log_full_total", "nearly_full"),
            Some(1.0)
        );
        assert_eq!(
            value(&s, "ivanti_event_log_full_total", "\"full\""),
            Some(2.0)
        );
    }

    #[test]
    fn realms_are_capped_then_other() {
        let t = TargetSyslog::default();
        for i in 0..(MAX_REALMS + 10) {
            t.record(&Event::SigninFailure(&format!("realm-{i}")), 1.0);
        }
        t.record(&Event::SigninFailure("realm-0"), 1.0);
        t.record(&Event::SigninFailure(""), 1.0);
        t.record(&Event::SigninFailure(&"é".repeat(100)), 1.0);
        let mut s = Samples::new();
        t.samples(&mut s);
        let realms = s
            .series()
            .iter()
            .filter(|x| x.desc.name == "ivanti_signin_failures_total")
            .count();
        assert_eq!(realms, MAX_REALMS + 1);
        assert_eq!(
            value(&s, "ivanti_signin_failures_total", "\"realm-0\""),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "ivanti_signin_failures_total", "\"other\""),
            Some(12.0)
        );
    }
}

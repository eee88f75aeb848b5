//! The gateway's own event-log formats inside a syslog message, and the
//! events this exporter counts in them.
//!
//! - WELF: `id=firewall time="…" pri=6 fw=<ip> vpn=<node> ivs=<network>
//!   user=<user> realm="<realm>" roles="…" … msg="<ID>: <text>"`; values are
//!   quoted, or bare and ending at the next ` key=` (`ivs=Default Network`
//!   has a space).
//! - Standard: `<date> <time> - <node> - [<ip>] <ivs>::<user>(<realm>)[<roles>] - <text>`,
//!   where `<text>` starts with the message id on releases that add it.
//!
//! The message ids are the gateway's event-log catalogue's (see
//! `tests/fixtures/syslog/README.md` for the public copies they were taken
//! from). Anything else is [`Event::Other`] (a gateway line we do not count)
//! or [`Event::Unrecognized`]: never an error.

use super::frame;

/// What a message means to this exporter. Borrowed text is only ever a
/// realm name (bounded by the caller), never a user name or address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// SYS32087: a built-in integrity scan has started.
    ScanStarted,
    /// SYS32088: a built-in integrity scan has been completed.
    ScanCompleted,
    /// SYS32100: the integrity scan was successful (nothing found).
    ScanSuccessful,
    /// SYS32039: new files found by the integrity checker (their number).
    NewFiles(u64),
    /// SYS32040: modified files found by the integrity checker (their number).
    ModifiedFiles(u64),
    /// SYS32041: the integrity checker's manifest file is missing.
    ManifestMissing,
    /// SYS32042: the integrity checker's manifest file is bad.
    ManifestBad,
    /// ERR32031: the manifest check failed.
    ManifestCheckFailed,
    /// SYS32102 (`ExternalIntegrityScanStop` in the catalogue): a scan by
    /// the external Integrity Checker Tool finished. Its start, SYS32101,
    /// is [`Event::Other`]: one external scan counts once.
    ExternalIct,
    /// SYS23041 (`LogNearlyFull`): the gateway's local event log is nearly full.
    LogNearlyFull,
    /// SYS23042, SYS24348 (`LogFull`): the gateway's local event log is full
    /// (older entries are being lost).
    LogFull,
    /// AUT24327: primary authentication failed, in this realm (may be empty).
    SigninFailure(&'a str),
    /// A gateway message with an id (or format) we know but do not count.
    Other,
    /// Not recognisably the gateway's.
    Unrecognized,
}

/// One message, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The syslog HOSTNAME, when the header has one.
    pub hostname: Option<&'a str>,
    /// The gateway's node name (WELF `vpn=`, Standard's second field).
    pub node: Option<&'a str>,
    /// What it means.
    pub event: Event<'a>,
}

/// Read one syslog message (framing and content).
pub fn parse(line: &str) -> Message<'_> {
    let f = frame::parse(line);
    let (node, event) = content(f.msg);
    Message {
        hostname: f.hostname,
        node,
        event,
    }
}

/// The gateway part of a message: its node name and event.
pub fn content(msg: &str) -> (Option<&str>, Event<'_>) {
    let msg = msg.trim_start();
    if msg.starts_with("id=") || msg.contains(" msg=\"") {
        let kv = Welf(msg);
        let text = kv.get("msg").unwrap_or("");
        let realm = kv.get("realm").unwrap_or("");
        let node = kv.get("vpn").filter(|n| !n.is_empty());
        return (node, classify(text, realm, true));
    }
    if let Some((node, realm, text)) = standard(msg) {
        return (
            Some(node).filter(|n| !n.is_empty()),
            classify(text, realm, true),
        );
    }
    (None, classify(msg, "", false))
}

/// WELF `key=value` pairs, looked up lazily (no allocation).
struct Welf<'a>(&'a str);

impl<'a> Welf<'a> {
    /// The value of `key`: quoted (a `\"` inside is kept as is), or bare up
    /// to the next ` word=`.
    fn get(&self, key: &str) -> Option<&'a str> {
        let s = self.0;
        let mut from = 0;
        while let Some(pos) = s.get(from..)?.find(key) {
            let at = from + pos;
            from = at + key.len();
            let starts = at == 0 || s.as_bytes()[at - 1] == b' ';
            if !starts || s.as_bytes().get(from) != Some(&b'=') {
                continue;
            }
            let v = &s[from + 1..];
            if let Some(q) = v.strip_prefix('"') {
                let b = q.as_bytes();
                let mut i = 0;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                return q.get(..i.min(q.len()));
            }
            // Bare: up to the next " key=" (a word of [a-zA-Z_] then '=').
            let mut end = v.len();
            let mut search = 0;
            while let Some(sp) = v.get(search..).and_then(|r| r.find(' ')) {
                let i = search + sp;
                let word: &str = v[i + 1..]
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("");
                if !word.is_empty() && v[i + 1 + word.len()..].starts_with('=') {
                    end = i;
                    break;
                }
                search = i + 1;
            }
            return Some(&v[..end]);
        }
        None
    }
}

/// The Standard format: `(node, realm, text)`.
fn standard(msg: &str) -> Option<(&str, &str, &str)> {
    let (date_time, rest) = msg.split_once(" - ")?;
    let b = date_time.as_bytes();
    if b.len() != 19 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let (node, rest) = rest.split_once(" - ")?;
    let rest = rest.strip_prefix('[')?;
    let (_source, rest) = rest.split_once("] ")?;
    // `<ivs>::<user>(<realm>)[<roles>] - <text>`: roles hold no " - ".
    let (who, text) = rest.split_once("] - ").unwrap_or((rest, ""));
    let who = who.rsplit_once('[').map_or(who, |(w, _)| w);
    let realm = who
        .strip_suffix(')')
        .and_then(|w| w.rsplit_once('('))
        .map_or("", |(_, r)| r);
    Some((node, realm, text))
}

/// The event of a message text (`<ID>: text`, or a Standard text without id).
fn classify<'a>(text: &'a str, realm: &'a str, gateway: bool) -> Event<'a> {
    let (id, body) = match text.split_once(':') {
        Some((id, body)) if is_message_id(id) => (Some(id), body),
        _ => (None, text),
    };
    match id {
        Some("SYS32087") => Event::ScanStarted,
        Some("SYS32088") => Event::ScanCompleted,
        Some("SYS32100") => Event::ScanSuccessful,
        Some("SYS32039") => Event::NewFiles(count(body)),
        Some("SYS32040") => Event::ModifiedFiles(count(body)),
        Some("SYS32041") => Event::ManifestMissing,
        Some("SYS32042") => Event::ManifestBad,
        Some("ERR32031") => Event::ManifestCheckFailed,
        Some("SYS32102") => Event::ExternalIct,
        Some("SYS23041") => Event::LogNearlyFull,
        Some("SYS23042" | "SYS24348") => Event::LogFull,
        Some("AUT24327") => Event::SigninFailure(realm),
        Some(_) => Event::Other,
        // Standard format without ids: the failed sign-in by its text.
        None if gateway && body.starts_with("Primary authentication failed for ") => {
            Event::SigninFailure(realm)
        }
        None if gateway => Event::Other,
        None => Event::Unrecognized,
    }
}

/// Three capital letters and five digits (`AUT24327`).
fn is_message_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8
        && b[..3].iter().all(u8::is_ascii_uppercase)
        && b[3..].iter().all(u8::is_ascii_digit)
}

/// The first number in `text` (the files a scan found); at least one file
/// when the text names none.
fn count(text: &str) -> u64 {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/syslog/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn events(name: &str) -> Vec<Event<'static>> {
        let text: &'static str = Box::leak(fixture(name).into_boxed_str());
        text.lines().map(|l| parse(l).event).collect()
    }

    #[test]
    fn welf_sign_ins_from_a_real_gateway() {
        let e = events("welf_user_access.log");
        let failures: Vec<_> = e
            .iter()
            .filter(|e| matches!(e, Event::SigninFailure(_)))
            .collect();
        assert_eq!(failures, [&Event::SigninFailure("Users")]);
        assert!(!e.contains(&Event::Unrecognized));
        let text = fixture("welf_user_access.log");
        let m = parse(text.lines().nth(1).unwrap());
        assert_eq!(m.hostname, Some("192.0.2.11"));
        assert_eq!(m.node, Some("ive"));
    }

    #[test]
    fn standard_sign_ins_from_a_real_gateway() {
        let e = events("standard_user_access.log");
        assert_eq!(
            e.iter()
                .filter(|e| matches!(e, Event::SigninFailure("Users")))
                .count(),
            1
        );
        assert!(e
            .iter()
            .all(|e| matches!(e, Event::Other | Event::SigninFailure(_))));
    }

    #[test]
    fn integrity_scan_messages() {
        let e = events("integrity_welf.log");
        assert_eq!(
            e,
            [
                Event::ScanStarted,
                Event::NewFiles(3),
                Event::ModifiedFiles(2),
                Event::ScanCompleted,
                Event::ScanStarted,
                Event::ScanCompleted,
                Event::ScanSuccessful,
                Event::ManifestMissing,
                Event::ManifestBad,
                Event::ManifestCheckFailed,
                Event::Other,
                Event::ExternalIct,
                Event::LogNearlyFull,
                Event::LogFull,
            ]
        );
        let e = events("integrity_standard.log");
        assert_eq!(
            e,
            [Event::ScanStarted, Event::NewFiles(1), Event::ScanCompleted]
        );
    }

    #[test]
    fn welf_values_quoted_bare_and_with_spaces() {
        let kv = Welf("id=firewall vpn=ive ivs=Default Network user=a realm=\"Admin Users\" msg=\"X: a \\\"b\\\" c\" arg=");
        assert_eq!(kv.get("ivs"), Some("Default Network"));
        assert_eq!(kv.get("realm"), Some("Admin Users"));
        assert_eq!(kv.get("msg"), Some("X: a \\\"b\\\" c"));
        assert_eq!(kv.get("arg"), Some(""));
        assert_eq!(kv.get("vpn"), Some("ive"));
        assert_eq!(kv.get("pn"), None);
        assert_eq!(Welf("msg=\"unterminated").get("msg"), Some("unterminated"));
    }

    #[test]
    fn unknown_lines_are_unrecognized_not_errors() {
        for l in [
            "",
            "hello",
            "<13>Jan  5 09:00:00 h sshd[1]: Accepted publickey",
            "id=",
            "msg=\"",
        ] {
            let m = parse(l);
            assert!(
                matches!(m.event, Event::Unrecognized | Event::Other),
                "{l:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let text = String::from_utf8_lossy(&data);
            let _ = parse(&text);
        }

        #[test]
        fn arbitrary_gateway_shaped_text_never_panics(s in "(<[0-9]{1,4}>)?(1 )?[ -~]{0,40}( msg=\"|id=| - |\\[|\\]|\\(|\\)|SYS3203[0-9]:| )[ -~\u{e9}\u{feff}]{0,80}") {
            let _ = parse(&s);
        }
    }
}

//! One syslog message's framing: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID
//! MSGID [SD] MSG`), RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`) and the
//! relay form rsyslog writes (`2021-04-08T11:46:32-07:00 HOST TAG: MSG`).
//! Pure and total: any text yields a [`Frame`]; what cannot be read as a
//! header stays in the message.

/// The parts of a syslog message this exporter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The HOSTNAME field, when there is one (`-` is none).
    pub hostname: Option<&'a str>,
    /// APP-NAME (RFC 5424) or TAG without its `[pid]:` (RFC 3164).
    pub app: Option<&'a str>,
    /// The message after the header.
    pub msg: &'a str,
}

/// Split `line` into header fields and message.
pub fn parse(line: &str) -> Frame<'_> {
    let line = line.trim_end_matches(['\r', '\n', '\0']);
    let line = line.strip_suffix("#015").unwrap_or(line);
    let rest = strip_pri(line);
    if let Some(v1) = rest.strip_prefix("1 ") {
        return rfc5424(v1);
    }
    rfc3164(rest)
}

/// `<PRI>` (1 to 3 digits) removed, when present.
fn strip_pri(s: &str) -> &str {
    if let Some(r) = s.strip_prefix('<') {
        if let Some(end) = r.find('>') {
            if (1..=3).contains(&end) && r[..end].bytes().all(|b| b.is_ascii_digit()) {
                return &r[end + 1..];
            }
        }
    }
    s
}

/// The next space-separated field and what follows it.
fn field(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((f, r)) => (f, r),
        None => (s, ""),
    }
}

fn nil(s: &str) -> Option<&str> {
    (!s.is_empty() && s != "-").then_some(s)
}

fn rfc5424(s: &str) -> Frame<'_> {
    let (_timestamp, s) = field(s);
    let (host, s) = field(s);
    let (app, s) = field(s);
    let (_procid, s) = field(s);
    let (_msgid, s) = field(s);
    let msg = skip_structured_data(s);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    Frame {
        hostname: nil(host),
        app: nil(app),
        msg,
    }
}

/// The message after STRUCTURED-DATA (`-`, or `[...]` elements whose values
/// may hold `\]`).
fn skip_structured_data(s: &str) -> &str {
    if let Some(r) = s.strip_prefix("- ") {
        return r;
    }
    if s == "-" {
        return "";
    }
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let mut quoted = false;
        i += 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 1,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    s.get(i..)
        .map(|r| r.strip_prefix(' ').unwrap_or(r))
        .unwrap_or("")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd hh:mm:ss ` (the day space-padded) or an RFC 3339 time, removed.
fn strip_timestamp(s: &str) -> Option<&str> {
    if s.len() >= 16 && s.is_char_boundary(16) && MONTHS.contains(&s.get(..3)?) {
        let t = &s.as_bytes()[..16];
        if t[3] == b' ' && t[6] == b' ' && t[9] == b':' && t[12] == b':' && t[15] == b' ' {
            return Some(&s[16..]);
        }
    }
    let (first, rest) = field(s);
    let b = first.as_bytes();
    if b.len() >= 19 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T' {
        return Some(rest);
    }
    None
}

/// A TAG: letters, digits and `-_./`, optionally `[pid]`, then `:`.
fn tag(token: &str) -> Option<&str> {
    let t = token.strip_suffix(':')?;
    let name = match t.split_once('[') {
        Some((n, pid)) if pid.ends_with(']') => n,
        Some(_) => return None,
        None => t,
    };
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
    ok.then_some(name)
}

fn rfc3164(s: &str) -> Frame<'_> {
    let Some(after_time) = strip_timestamp(s) else {
        // No header: perhaps a bare `TAG: MSG`.
        let (first, rest) = field(s);
        if let Some(app) = tag(first) {
            return Frame {
                hostname: None,
                app: Some(app),
                msg: rest,
            };
        }
        return Frame {
            hostname: None,
            app: None,
            msg: s,
        };
    };
    let (first, rest) = field(after_time);
    if let Some(app) = tag(first) {
        return Frame {
            hostname: None,
            app: Some(app),
            msg: rest,
        };
    }
    let (second, rest2) = field(rest);
    match tag(second) {
        Some(app) => Frame {
            hostname: nil(first),
            app: Some(app),
            msg: rest2,
        },
        None => Frame {
            hostname: nil(first),
            app: None,
            msg: rest,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_with_and_without_structured_data() {
        let f = parse("<134>1 2024-01-10T09:00:00.000Z vpn-fra-1.example.net PulseSecure - - - id=firewall msg=\"x\"");
        assert_eq!(f.hostname, Some("vpn-fra-1.example.net"));
        assert_eq!(f.app, Some("PulseSecure"));
        assert_eq!(f.msg, "id=firewall msg=\"x\"");
        let f = parse(
            "<134>1 2024-01-10T09:00:00Z h app 12 ID47 [a@1 k=\"v\\]w\" z=\"]\"][b@2 x=\"y\"] \u{feff}hello",
        );
        assert_eq!(
            (f.hostname, f.app, f.msg),
            (Some("h"), Some("app"), "hello")
        );
        let f = parse("<13>1 - - - - - -");
        assert_eq!((f.hostname, f.app, f.msg), (None, None, ""));
    }

    #[test]
    fn rfc3164_and_the_relay_form() {
        let f = parse("<134>Jan  5 09:00:00 vpn-fra-1 PulseSecure: 2024-01-05 09:00:00 - ive - x");
        assert_eq!(f.hostname, Some("vpn-fra-1"));
        assert_eq!(f.app, Some("PulseSecure"));
        assert_eq!(f.msg, "2024-01-05 09:00:00 - ive - x");
        let f = parse("2021-04-08T11:46:32-07:00 10.0.0.111 PulseSecure: id=firewall#015");
        assert_eq!(
            (f.hostname, f.app, f.msg),
            (Some("10.0.0.111"), Some("PulseSecure"), "id=firewall")
        );
        let f = parse("<30>Jan  5 09:00:00 sshd[42]: hi");
        assert_eq!((f.hostname, f.app, f.msg), (None, Some("sshd"), "hi"));
    }

    #[test]
    fn anything_else_is_all_message() {
        for s in ["", "<", "<999999>", "garbage", "<13>", "\u{0}\u{0}", "1 "] {
            let f = parse(s);
            assert_eq!(f.hostname, None, "{s:?}");
        }
        assert_eq!(parse("<13>hello world").msg, "hello world");
    }
}

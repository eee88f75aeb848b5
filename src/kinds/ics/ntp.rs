//! `GET /api/v1/system/status/ntp` (22.x guide, "NTP status"): per NTP
//! server the columns of `ntpq -p` as strings: `delay`, `offset`, `jitter`
//! in milliseconds, `reach` an octal bit mask of the last 8 polls (`377`:
//! all answered), `stratum`, `refid`, `type`, `when`, `pool`. The guide's
//! own sample is malformed, so the reading is tolerant: trailing commas
//! are dropped, the list may be one object, and a record is any object
//! with an `offset` or `reach`, named by `server`/`remote`/`name`/
//! `address` or by its key. 9.x answers 404: not applicable.

use super::lenient::value_f64;
use super::IcsAppliance;
use crate::error::CollectError;
use crate::error::{looks_like_html, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
use serde_json::Value;

/// `ivanti_ntp_server_offset_seconds`
pub static OFFSET: Desc = Desc::gauge(
    "ivanti_ntp_server_offset_seconds",
    "Offset of the appliance's clock from the NTP server (ntpq offset, milliseconds converted to seconds)",
    &["server"],
);
/// `ivanti_ntp_server_jitter_seconds`
pub static JITTER: Desc = Desc::gauge(
    "ivanti_ntp_server_jitter_seconds",
    "Jitter of the NTP server's samples (ntpq jitter, milliseconds converted to seconds)",
    &["server"],
);
/// `ivanti_ntp_server_delay_seconds`
pub static DELAY: Desc = Desc::gauge(
    "ivanti_ntp_server_delay_seconds",
    "Round-trip delay to the NTP server (ntpq delay, milliseconds converted to seconds)",
    &["server"],
);
/// `ivanti_ntp_server_stratum`
pub static STRATUM: Desc = Desc::gauge(
    "ivanti_ntp_server_stratum",
    "Stratum of the NTP server (16: unsynchronised)",
    &["server"],
);
/// `ivanti_ntp_server_reachable`
pub static REACHABLE: Desc = Desc::gauge(
    "ivanti_ntp_server_reachable",
    "1 when the NTP server answered the appliance's last poll (lowest bit of the octal reach mask)",
    &["server"],
);
/// `ivanti_ntp_synchronized`
pub static SYNCHRONIZED: Desc = Desc::gauge(
    "ivanti_ntp_synchronized",
    "1 when at least one NTP server answered the last poll, is below stratum 16 and within 1 s",
    &[],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[
    &OFFSET,
    &JITTER,
    &DELAY,
    &STRATUM,
    &REACHABLE,
    &SYNCHRONIZED,
];

/// One NTP server as the appliance sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// The server's name or address (ntpq's tally mark removed).
    pub name: String,
    /// Offset in seconds.
    pub offset: Option<f64>,
    /// Jitter in seconds.
    pub jitter: Option<f64>,
    /// Delay in seconds.
    pub delay: Option<f64>,
    /// Stratum.
    pub stratum: Option<f64>,
    /// The reach register (8 bits; bit 0 is the last poll).
    pub reach: Option<u8>,
}

impl Server {
    /// The last poll was answered.
    pub fn reachable(&self) -> Option<bool> {
        self.reach.map(|r| r & 1 == 1)
    }

    /// Answered the last poll, below stratum 16, and within 1 s.
    pub fn synchronized(&self) -> bool {
        self.reachable() == Some(true)
            && self.stratum.is_some_and(|s| s < 16.0)
            && self.offset.is_some_and(|o| o.abs() <= 1.0)
    }
}

/// Drop commas that stand before a `}` or `]` (outside strings): the
/// guide's sample, and firmware like it, has them.
fn strip_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            in_string = c != '"' || escaped;
            escaped = c == '\\' && !escaped;
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}' | ']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Milliseconds in a value (`"0.512"`, `"+12.5"`, `0.5`) as seconds.
fn ms(v: Option<&Value>) -> Option<f64> {
    v.and_then(value_f64).map(|ms| ms / 1000.0)
}

/// The reach register: octal digits (`"377"`, or the number 377).
fn reach(v: Option<&Value>) -> Option<u8> {
    let text = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.as_u64()?.to_string(),
        _ => return None,
    };
    u16::from_str_radix(&text, 8)
        .ok()
        .filter(|r| *r <= 0o377)
        .map(|r| r as u8)
}

fn name_of(m: &serde_json::Map<String, Value>, key: Option<&str>) -> Option<String> {
    let field = ["server", "remote", "name", "address", "host", "peer"]
        .iter()
        .find_map(|k| match m.get(*k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
            _ => None,
        });
    let name = field.or(key)?;
    // ntpq prefixes `remote` with a tally mark (`*`, `+`, `-`, `#`, `x`, `.`, `o`).
    let name = name
        .trim()
        .trim_start_matches(['*', '+', '-', '#', '.', ' ']);
    (!name.is_empty()).then(|| name.to_owned())
}

fn collect(v: &Value, key: Option<&str>, out: &mut Vec<Server>, depth: usize) {
    if depth > 8 {
        return;
    }
    match v {
        Value::Array(items) => {
            for item in items {
                collect(item, key, out, depth + 1);
            }
        }
        Value::Object(m) if m.contains_key("offset") || m.contains_key("reach") => {
            if let Some(name) = name_of(m, key) {
                out.push(Server {
                    name,
                    offset: ms(m.get("offset")),
                    jitter: ms(m.get("jitter")),
                    delay: ms(m.get("delay")),
                    stratum: m.get("stratum").and_then(value_f64),
                    reach: reach(m.get("reach")),
                });
            }
        }
        Value::Object(m) => {
            for (k, inner) in m {
                collect(inner, Some(k), out, depth + 1);
            }
        }
        _ => {}
    }
}

/// Parse the servers (an empty list when none is configured). Each server
/// name once, the first record winning.
pub fn parse(body: &[u8]) -> Result<Vec<Server>, ParseError> {
    if looks_like_html(body) {
        return Err(ParseError::Html);
    }
    let text = String::from_utf8_lossy(body);
    let v: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => serde_json::from_str(&strip_trailing_commas(&text))
            .map_err(|e| ParseError::from_json(body, e))?,
    };
    if !v.is_object() {
        return Err(ParseError::Json("expected a JSON object".into()));
    }
    let mut servers = Vec::new();
    collect(&v, None, &mut servers, 0);
    let mut seen = std::collections::HashSet::new();
    servers.retain(|s| seen.insert(s.name.clone()));
    Ok(servers)
}

/// The series of one poll.
pub fn samples(servers: &[Server], out: &mut Samples) {
    for s in servers {
        let name = [s.name.as_str()];
        for (desc, v) in [
            (&OFFSET, s.offset),
            (&JITTER, s.jitter),
            (&DELAY, s.delay),
            (&STRATUM, s.stratum),
        ] {
            if let Some(v) = v {
                out.push(desc, &name, v);
            }
        }
        if let Some(r) = s.reachable() {
            out.push_bool(&REACHABLE, &name, r);
        }
    }
    out.push_bool(&SYNCHRONIZED, &[], servers.iter().any(Server::synchronized));
}

const PATH: &str = "/api/v1/system/status/ntp";

/// The `ntp` collector, every 5 minutes.
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "ntp",
        default_enabled: true,
        default_interval: super::SLOW,
        endpoints: &["GET /api/v1/system/status/ntp"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

async fn poll(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    a.poll_optional(PATH, parse, |v, o| samples(v, o), out)
        .await
}

#[cfg(test)]
mod tests {
    use super::super::lenient::testing::{arb_json, lines};
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/status/ntp.json");
    const MALFORMED: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/status/ntp__guide-malformed.json"
    );
    const UNSYNC: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/status/ntp__unsynchronised.json");

    fn render(body: &[u8]) -> Vec<String> {
        let mut out = Samples::new();
        samples(&parse(body).unwrap(), &mut out);
        lines(&out)
    }

    #[test]
    fn milliseconds_become_seconds_and_reach_is_octal() {
        assert_eq!(
            render(SAMPLE),
            [
                // -0.231 ms, 0.087 ms, 0.512 ms; reach 377 = 0b11111111.
                r#"ivanti_ntp_server_offset_seconds{server="10.64.1.10"} -0.000231"#,
                r#"ivanti_ntp_server_jitter_seconds{server="10.64.1.10"} 0.000087"#,
                r#"ivanti_ntp_server_delay_seconds{server="10.64.1.10"} 0.000512"#,
                r#"ivanti_ntp_server_stratum{server="10.64.1.10"} 2"#,
                r#"ivanti_ntp_server_reachable{server="10.64.1.10"} 1"#,
                r#"ivanti_ntp_server_offset_seconds{server="10.64.1.11"} 0"#,
                r#"ivanti_ntp_server_jitter_seconds{server="10.64.1.11"} 0"#,
                r#"ivanti_ntp_server_delay_seconds{server="10.64.1.11"} 0"#,
                r#"ivanti_ntp_server_stratum{server="10.64.1.11"} 16"#,
                r#"ivanti_ntp_server_reachable{server="10.64.1.11"} 0"#,
                // reach 376 = 0b11111110: the last poll went unanswered.
                r#"ivanti_ntp_server_offset_seconds{server="ntp.example.net"} 0.001742"#,
                r#"ivanti_ntp_server_jitter_seconds{server="ntp.example.net"} 0.003215"#,
                r#"ivanti_ntp_server_delay_seconds{server="ntp.example.net"} 0.024301"#,
                r#"ivanti_ntp_server_stratum{server="ntp.example.net"} 3"#,
                r#"ivanti_ntp_server_reachable{server="ntp.example.net"} 0"#,
                "ivanti_ntp_synchronized 1",
            ]
        );
    }

    #[test]
    fn the_guides_malformed_shape_is_read() {
        // Trailing commas, one object instead of a list, a `+` sign;
        // reach 17 octal = 0b1111: the last four polls answered.
        let servers = parse(MALFORMED).unwrap();
        assert_eq!(
            servers,
            [Server {
                name: "pool.ntp.example.org".into(),
                offset: Some(0.012501),
                jitter: Some(0.000044),
                delay: Some(0.001204),
                stratum: Some(2.0),
                reach: Some(0o17),
            }]
        );
        assert!(servers[0].synchronized());
    }

    #[test]
    fn not_synchronised_when_the_reachable_one_is_off_by_seconds() {
        // 10.64.1.10 is 2.3 s off and missed its last poll; 10.64.1.11
        // answered but is stratum 16.
        let out = render(UNSYNC);
        assert!(
            out.contains(&"ivanti_ntp_synchronized 0".to_owned()),
            "{out:?}"
        );
        assert!(out.contains(
            &r#"ivanti_ntp_server_offset_seconds{server="10.64.1.10"} -2.3015"#.to_owned()
        ));
        assert!(out.contains(&r#"ivanti_ntp_server_reachable{server="10.64.1.11"} 1"#.to_owned()));
    }

    #[test]
    fn other_shapes() {
        // Keyed by server, ntpq's tally marks, a numeric reach.
        let servers = parse(
            br#"{"ntp": {"10.0.0.1": {"offset": "0.5", "reach": 377, "stratum": 1}, "x": {"remote": "*ntp2", "reach": "x"}}}"#,
        )
        .unwrap();
        let names: Vec<_> = servers.iter().map(|s| (s.name.as_str(), s.reach)).collect();
        assert_eq!(names, [("10.0.0.1", Some(255)), ("ntp2", None)]);
        // No server configured: not synchronised.
        assert_eq!(
            render(br#"{"ntp-status": []}"#),
            ["ivanti_ntp_synchronized 0"]
        );
        // A comma inside a string is kept.
        assert_eq!(strip_trailing_commas(r#"{"a": ",}", }"#), r#"{"a": ",}" }"#);
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
        assert!(matches!(parse(b"[]"), Err(ParseError::Json(_))));
        assert!(matches!(parse(b"{"), Err(ParseError::Json(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&b);
        }

        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json()) {
            for body in [v.clone(), serde_json::json!({"ntp-status": [v, {"server": w, "offset": v, "reach": w}]})] {
                if let Ok(s) = parse(body.to_string().as_bytes()) {
                    samples(&s, &mut Samples::new());
                }
            }
        }
    }
}

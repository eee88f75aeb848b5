//! Messages for unknown keys and values: the known ones listed plainly
//! (figment's own text nests backticks), and the closest one suggested.

use figment::error::{Actual, Kind};

/// The problem text of one decoding error.
pub(super) fn describe(kind: &Kind) -> String {
    match kind {
        Kind::UnknownField(name, known) => unknown("field", name, known),
        Kind::UnknownVariant(name, known) => unknown("value", name, known),
        // A bare number where a duration goes: show the fix (`30` -> `30s`).
        Kind::InvalidType(Actual::Unsigned(n), expected) if expected.contains("duration") => {
            format!("{kind}: a duration needs a unit, e.g. {n}s (or {n}ms, {n}m)")
        }
        Kind::InvalidType(Actual::Signed(n), expected) if expected.contains("duration") => {
            format!("{kind}: a duration needs a unit, e.g. {n}s (or {n}ms, {n}m)")
        }
        Kind::InvalidType(Actual::Float(n), expected) if expected.contains("duration") => {
            format!("{kind}: a duration needs a unit, e.g. {n}s")
        }
        other => other.to_string(),
    }
}

pub(super) fn unknown(what: &str, name: &str, known: &[&str]) -> String {
    let mut msg = format!("unknown {what} {name:?}");
    if let Some(best) = closest(name, known) {
        msg.push_str(&format!(", did you mean {best:?}?"));
    }
    if !known.is_empty() {
        msg.push_str(&format!(" (known: {})", known.join(", ")));
    }
    msg
}

/// The known name nearest to `name`, if it is a likely typo: at most two
/// edits away (Levenshtein, by chars: `strsim`), and fewer edits than
/// `name` has characters.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| {
            (
                strsim::levenshtein(&name.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .filter(|&(d, _)| d <= 2 && d < name.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare number for a duration says how to write it (issue 25).
    #[test]
    fn a_duration_without_unit_shows_the_fix() {
        let kind = Kind::InvalidType(Actual::Unsigned(30), "a duration".into());
        let msg = describe(&kind);
        assert!(
            msg.ends_with("a duration needs a unit, e.g. 30s (or 30ms, 30m)"),
            "{msg}"
        );
        let other = Kind::InvalidType(Actual::Unsigned(30), "a string".into());
        assert!(!describe(&other).contains("needs a unit"));
    }

    #[test]
    fn suggestions_only_for_likely_typos() {
        let known = &["interval", "timeout", "labels"];
        assert_eq!(closest("intervall", known), Some("interval"));
        assert_eq!(closest("Timeout", known), Some("timeout"));
        assert_eq!(closest("lables", known), Some("labels"));
        assert_eq!(closest("frobnicate", known), None);
        // Two edits, by characters, not bytes: "täg" is one from "tag".
        assert_eq!(closest("täg", &["tag"]), Some("tag"));
        assert_eq!(
            closest("intervl", &["interval", "internal"]),
            Some("interval")
        );
        // One character is never "close" to a two-letter difference.
        assert_eq!(closest("x", &["y"]), None);
    }

    #[test]
    fn messages_name_the_key_without_nested_backticks() {
        let kind = Kind::UnknownField("intervall".into(), &["interval", "timeout"]);
        assert_eq!(
            describe(&kind),
            "unknown field \"intervall\", did you mean \"interval\"? (known: interval, timeout)"
        );
        let kind = Kind::UnknownField("frobnicate".into(), &["interval", "timeout"]);
        assert_eq!(
            describe(&kind),
            "unknown field \"frobnicate\" (known: interval, timeout)"
        );
        let kind = Kind::UnknownVariant("jsn".into(), &["json", "logfmt"]);
        assert_eq!(
            describe(&kind),
            "unknown value \"jsn\", did you mean \"json\"? (known: json, logfmt)"
        );
    }
}

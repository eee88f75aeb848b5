//! Decoding the file with every problem in it, not the first: serde stops
//! at the first error, so when the whole file does not decode, each key of
//! each section (`global`, `defaults`, every target, `syslog`) is decoded
//! on its own (a one-key map into the section's type, where only a missing
//! required key is not that key's fault), the keys that fail are reported
//! and left out, and the rest decodes. A section that had a problem is
//! marked broken: what validation would say about it follows from the keys
//! left out, so it is not reported. A key of `defaults` left out is left
//! out of every target: validation problems that follow from it (the
//! key's own, `timeout` against `interval`, "no credentials") are not
//! reported either; the targets' other problems are.

use super::file::{Defaults, FileConfig, GlobalFileConfig, TargetEntry};
use figment::value::{Dict, Tag, Value};
use figment::Figment;
use serde::de::DeserializeOwned;

/// A file decoded as far as it goes.
pub(super) struct Decoded {
    /// Its keys that decode.
    pub file: FileConfig,
    /// One line per key that does not, with its path.
    pub problems: Vec<String>,
    /// Sections that are not what they should be at all (a target that is
    /// not a map, `targets` not a list): none of their validation problems
    /// is reported.
    pub broken: Vec<String>,
    /// Keys left out, by section (`defaults`, `global`, `syslog`,
    /// `targets[3]`).
    pub left_out: Vec<(String, String)>,
}

impl Decoded {
    fn new() -> Decoded {
        Decoded {
            file: FileConfig::default(),
            problems: Vec::new(),
            broken: Vec::new(),
            left_out: Vec::new(),
        }
    }

    /// Whether a validation problem follows from a key left out: it is in
    /// a broken section, it is about a key left out (of its section, or of
    /// `defaults` for a target), about `timeout` or `interval` when one of
    /// them is, "no credentials" when a credentials key is, or anything of
    /// a target whose `kind` is.
    pub fn follows_from_left_out(&self, problem: &str) -> bool {
        let in_section = |section: &str| {
            problem
                .strip_prefix(section)
                .is_some_and(|r| r.starts_with(['.', ':', '[']))
        };
        if self.broken.iter().any(|b| in_section(b)) {
            return true;
        }
        if self.left_out.is_empty() {
            return false;
        }
        // The problem's section and key: `targets[3].timeout: ...`.
        let (section, rest) = match problem.split_once("].") {
            Some((head, rest)) if head.starts_with("targets[") && !head.contains(' ') => {
                (&problem[..head.len() + 1], rest)
            }
            _ => match problem.split_once(['.', ':']) {
                Some((head, rest)) => (head, rest),
                None => (problem, ""),
            },
        };
        let section = section.trim_end_matches(':');
        let key = if problem[section.len()..].starts_with(':') {
            ""
        } else {
            rest.split(['.', '[', ':']).next().unwrap_or_default()
        };
        let target = section.starts_with("targets[");
        let relevant = |k: &str| {
            self.left_out.iter().any(|(s, lk)| {
                lk == k && (s == section || (s == "defaults" && (target || section == "defaults")))
            })
        };
        const CREDENTIALS: &[&str] = &[
            "api_key",
            "api_key_file",
            "realm_auth",
            "basic_auth",
            "kerberos",
        ];
        (!key.is_empty() && relevant(key))
            || (target && relevant("kind"))
            || (matches!(key, "timeout" | "interval")
                && (relevant("timeout") || relevant("interval")))
            || (problem.contains(": no credentials") && CREDENTIALS.iter().any(|c| relevant(c)))
    }
}

/// The figment's file, with every problem.
pub(super) fn file(figment: &Figment) -> Result<Decoded, Vec<String>> {
    let first = match figment.extract::<FileConfig>() {
        Ok(file) => {
            return Ok(Decoded {
                file,
                ..Decoded::new()
            })
        }
        Err(e) => e,
    };
    // A file that does not parse at all, or whose root is not a map: one problem.
    let Ok(Value::Dict(tag, root)) = figment.find_value("") else {
        return Err(lines(first, &[]));
    };
    let mut out = Decoded::new();
    let mut clean = Dict::new();
    for (key, value) in root {
        let at = [key.clone()];
        let kept = match key.as_str() {
            "defaults" => section::<Defaults>(figment, &at, value, &mut out),
            "global" => section::<GlobalFileConfig>(figment, &at, value, &mut out),
            "syslog" => {
                section::<crate::syslog::config::SyslogFileConfig>(figment, &at, value, &mut out)
            }
            "targets" => match value {
                Value::Array(t, entries) => {
                    let entries = entries
                        .into_iter()
                        .enumerate()
                        .map(|(i, e)| target(figment, &[key.clone(), i.to_string()], e, &mut out))
                        .collect();
                    Some(Value::Array(t, entries))
                }
                other => whole(figment, &key, other, &mut out),
            },
            _ => whole(figment, &key, value, &mut out),
        };
        if let Some(v) = kept {
            clean.insert(key, v);
        }
    }
    match Value::Dict(tag, clean).deserialize::<FileConfig>() {
        Ok(file) => {
            out.file = file;
            Ok(out)
        }
        // Not expected: every key left decodes on its own.
        Err(e) => {
            out.problems.extend(lines(e, &[]));
            Err(out.problems)
        }
    }
}

/// A target entry from a `target_files` file (`at` is `file[3]`), decoded
/// as far as it goes; recorded in `into` as target `index` (its problems
/// with their file and index).
pub(super) fn target_file_entry(
    value: Value,
    at: &str,
    index: usize,
    into: &mut Decoded,
) -> TargetEntry {
    let mut out = Decoded::new();
    let figment = Figment::new();
    let entry = target(&figment, &[at.to_owned()], value, &mut out)
        .deserialize::<TargetEntry>()
        .unwrap_or_default();
    let section = format!("targets[{index}]");
    into.problems.extend(out.problems);
    into.left_out
        .extend(out.left_out.into_iter().map(|(_, k)| (section.clone(), k)));
    if !out.broken.is_empty() {
        into.broken.push(section);
    }
    entry
}

/// A key that is not a section: kept when `{key: value}` decodes as the file.
fn whole(figment: &Figment, key: &str, value: Value, out: &mut Decoded) -> Option<Value> {
    let ok = one_key::<FileConfig>(figment, &[], key, &value, out);
    if !ok {
        out.broken.push(key.to_owned());
    }
    ok.then_some(value)
}

/// A section: each key decoded on its own; those that fail are left out.
fn section<T: DeserializeOwned>(
    figment: &Figment,
    at: &[String],
    value: Value,
    out: &mut Decoded,
) -> Option<Value> {
    let Value::Dict(tag, dict) = value else {
        // Not a map: the section's own type says what it expected.
        let key = at.last().cloned().unwrap_or_default();
        return whole(figment, &key, value, out);
    };
    let mut clean = Dict::new();
    let mut left_out = Vec::new();
    for (key, v) in dict {
        if one_key::<T>(figment, at, &key, &v, out) {
            clean.insert(key, v);
        } else {
            left_out.push(key);
        }
    }
    let section = path_text(at);
    out.left_out
        .extend(left_out.into_iter().map(|k| (section.clone(), k)));
    Some(Value::Dict(tag, clean))
}

/// A target: its keys decoded on their own, those that fail left out (and
/// its validation problems with them); a missing `name`/`url` is an empty
/// string, which validation reports. The entry stays, so the indices of
/// the targets after it stay too.
fn target(figment: &Figment, at: &[String], value: Value, out: &mut Decoded) -> Value {
    let section = path_text(at);
    let (tag, mut clean) = match value {
        Value::Dict(tag, dict) => {
            let mut clean = Dict::new();
            for (key, v) in dict {
                if one_key::<TargetEntry>(figment, at, &key, &v, out) {
                    clean.insert(key, v);
                } else {
                    out.left_out.push((section.clone(), key));
                }
            }
            (tag, clean)
        }
        other => {
            if let Err(e) = other.deserialize::<TargetEntry>() {
                out.problems.extend(lines(e, at));
            }
            out.broken.push(section);
            (Tag::Default, Dict::new())
        }
    };
    // A missing `name` or `url` is left to validation, which says so
    // (`targets[2].url: missing`) with the target's other problems.
    for required in ["name", "url"] {
        clean
            .entry(required.to_owned())
            .or_insert_with(|| Value::from(""));
    }
    Value::Dict(tag, clean)
}

/// Whether `{key: value}` decodes as `T` (a missing required key aside);
/// the problem is recorded when it does not.
fn one_key<T: DeserializeOwned>(
    figment: &Figment,
    at: &[String],
    key: &str,
    value: &Value,
    out: &mut Decoded,
) -> bool {
    let mut one = Dict::new();
    one.insert(key.to_owned(), value.clone());
    match Value::Dict(Tag::Default, one).deserialize::<T>() {
        Ok(_) => true,
        Err(e) if e.missing() && e.path.is_empty() => true,
        Err(mut e) => {
            if e.metadata.is_none() {
                e.metadata = figment.get_metadata(value.tag()).cloned();
            }
            out.problems.extend(lines(e, at));
            false
        }
    }
}

/// `targets[3].tls_config` from `["targets", "3", "tls_config"]`.
fn path_text(parts: &[String]) -> String {
    let mut path = String::new();
    for part in parts {
        if part.parse::<usize>().is_ok() {
            path.push_str(&format!("[{part}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(part);
        }
    }
    path
}

/// The lines of a figment error (a chain), each with its path under `at`
/// and the source of the value (a file, the environment) when known.
pub(super) fn lines(err: figment::Error, at: &[String]) -> Vec<String> {
    err.into_iter()
        .map(|e| {
            let parts: Vec<String> = at.iter().chain(&e.path).cloned().collect();
            let path = path_text(&parts);
            let source = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .map(|s| format!(" (in {s})"))
                .unwrap_or_default();
            let kind = super::suggest::describe(&e.kind);
            if path.is_empty() {
                format!("{kind}{source}")
            } else {
                format!("{path}: {kind}{source}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn problems(yaml: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Config::from_yaml(yaml, dir.path()).unwrap_err().problems;
        let base = dir.path().display().to_string();
        for line in &mut p {
            *line = line.replace(&base, "<dir>");
        }
        p
    }

    /// A key that does not decode and a file that cannot be read: both
    /// are reported (the file's line was dropped when validation found
    /// nothing else to say).
    #[test]
    fn an_unreadable_file_is_reported_beside_a_key_left_out() {
        let yaml = "\
defaults:
  colectors: [healthcheck]
  api_key_file: keys/missing.key
targets:
  - name: a
    url: https://a.example.net
";
        let p = problems(yaml);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p[0].starts_with(
                "defaults.colectors: unknown field \"colectors\", did you mean \"collectors\"?"
            ),
            "{p:#?}"
        );
        assert!(
            p[1].starts_with("defaults.api_key_file: cannot read <dir>/keys/missing.key: "),
            "{p:#?}"
        );
    }

    /// Every key that does not decode is reported, not the first (issue 25
    /// item 11); the other targets are still validated, relative paths
    /// shown resolved; what follows from a key left out is not reported.
    #[test]
    fn every_problem_of_a_file_is_reported() {
        let yaml = "\
defaults:
  interval: 30
  timeout: 5
  intervall: 30s
  api_key: k
targets:
  - name: a
    url: https://vpn-a.example.net
    tls_config: { ca_file: certs/ca.pem, verify: no }
  - name: b
    url: ftp://vpn-b.example.net
  - name: c
    url: https://vpn-c.example.net
    timeout: 40s
  - name: d
    collectors: healthcheck
";
        assert_eq!(
            problems(yaml),
            [
                "defaults.interval: invalid type: found unsigned int `30`, expected a duration: a duration needs a unit, e.g. 30s (or 30ms, 30m)",
                "defaults.intervall: unknown field \"intervall\", did you mean \"interval\"? (known: interval, timeout, collectors, collector_intervals, tls_config, api_key, api_key_file, realm_auth, basic_auth, kerberos, kind_options, proxy_url, max_concurrent_requests, body_size_limit, active_users, labels)",
                "defaults.timeout: invalid type: found unsigned int `5`, expected a duration: a duration needs a unit, e.g. 5s (or 5ms, 5m)",
                "targets[0].tls_config.verify: unknown field \"verify\" (known: ca_file, cert_file, key_file, server_name, insecure_skip_verify)",
                "targets[3].collectors: invalid type: found string \"healthcheck\", expected a sequence",
                // Validation: target b, and d's missing url (d's
                // collectors were left out, not its url); not c's timeout
                // against the default interval (defaults.interval was
                // left out), nor a's ca_file (its tls_config was).
                "targets[1].url: scheme must be https or http, not \"ftp\"",
                "targets[3].url: missing",
            ]
        );
        // With the target's own problem fixed, its file is read, and named
        // by its full path.
        let fixed = yaml
            .replace(", verify: no", "")
            .replace("  - name: d\n    collectors: healthcheck\n", "");
        let p = problems(&fixed);
        assert!(
            p.contains(&"targets[0].tls_config.ca_file: cannot read <dir>/certs/ca.pem: No such file or directory (os error 2)".to_owned()),
            "{p:?}"
        );
    }

    #[test]
    fn global_syslog_and_unknown_sections_are_reported_together() {
        let yaml = "\
global: { stale_after: many, max_concurrent_polls: 0 }
syslog: { rate_limit: lots }
target: []
targets:
  - name: a
    api_key: k
";
        assert_eq!(
            problems(yaml),
            [
                "global.stale_after: invalid type: found string \"many\", expected u32",
                "syslog.rate_limit: invalid type: found string \"lots\", expected u32",
                "target: unknown field \"target\", did you mean \"targets\"? (known: global, defaults, targets, target_files, advisories_file, syslog)",
                // Validation of the keys that decoded.
                "global.max_concurrent_polls: must be at least 1",
                "syslog: set udp_listen_address, tcp_listen_address or tls_listen_address (or remove the block)",
                "targets[0].url: missing",
            ]
        );
    }
}

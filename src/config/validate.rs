//! Validating one target: every problem reported with its path in the
//! file (`targets[3].url: ...`), all of them at once. Credentials are
//! checked in `auth`, URL/TLS/proxy in `connection`.

use super::file::TargetEntry;
use super::{CollectorConfig, PendingCredentials, PendingTls, TargetConfig, DEFAULT_INTERVAL};
use crate::exposition::Desc;
use crate::kinds::{self, Kind, Options, RawOptions};
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Label names the exporter itself uses (a static label must not collide),
/// plus Prometheus' own target labels, which Prometheus would rename.
fn reserved_label_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = vec!["target", "collector", "reason", "job", "instance"];
    let descs: Vec<&'static Desc> = kinds::all_collector_metrics();
    for d in descs {
        names.extend(d.labels.iter().copied());
    }
    names.sort_unstable();
    names.dedup();
    names
}

/// Problems recorded in `list` since `before` in a key the target `at`
/// took from `defaults:` are the defaults' problems: reported once, at
/// their `defaults.` path ([`Validator::blame_defaults`]).
fn blame(list: &mut Vec<String>, before: usize, at: &str, inherited: &[&str]) {
    const TARGET_INDEPENDENT: &[&str] = &[
        "interval",
        "tls_config",
        "api_key",
        "api_key_file",
        "realm_auth",
        "basic_auth",
        "kerberos",
        "proxy_url",
        "max_concurrent_requests",
        "body_size_limit",
    ];
    let recorded = list.split_off(before);
    for p in recorded {
        let rest = p.strip_prefix(at).and_then(|r| r.strip_prefix('.'));
        let key = rest.map(|r| r.split(['.', '[', ':']).next().unwrap_or_default());
        let moved = match (rest, key) {
            (Some(rest), Some(key))
                if inherited.contains(&key)
                    && TARGET_INDEPENDENT.contains(&key)
                    && !rest.contains(": kind ") =>
            {
                format!("defaults.{rest}")
            }
            _ => p,
        };
        if !list.contains(&moved) {
            list.push(moved);
        }
    }
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

pub(super) struct Validator<'a> {
    pub(super) problems: Vec<String>,
    /// Credentials files that cannot be read (missing, not permitted,
    /// empty, not text): they fail their target only ([`PendingCredentials`]).
    pub(super) secret_problems: Vec<String>,
    pub(super) base: &'a Path,
    /// Where files are looked for ([`super::LoadOptions`]).
    pub(super) files: &'a super::LoadOptions,
    /// What `check-config` tells about files the service could not read.
    pub(super) warnings: Vec<String>,
    /// `advisories_file:` or the built-in data, for the kinds' options.
    pub(super) advisories: std::sync::Arc<crate::advisories::Advisories>,
}

impl<'a> Validator<'a> {
    /// No problem yet, the built-in advisory data.
    pub(super) fn new(base: &'a Path, files: &'a super::LoadOptions) -> Validator<'a> {
        Validator {
            problems: Vec::new(),
            secret_problems: Vec::new(),
            base,
            files,
            warnings: Vec::new(),
            advisories: crate::advisories::Advisories::builtin(),
        }
    }
}

impl Validator<'_> {
    pub(super) fn problem(&mut self, path: &str, msg: &str) {
        self.problems.push(format!("{path}: {msg}"));
    }

    fn secret_problem(&mut self, path: &str, msg: &str) {
        self.secret_problems.push(format!("{path}: {msg}"));
    }

    /// Problems recorded since `before` in a key the target `at` took from
    /// `defaults:` are the defaults' problems: reported once, at their
    /// `defaults.` path. Keys whose check depends on the target (its kind,
    /// its own interval) stay at the target's path.
    pub(super) fn blame_defaults(
        &mut self,
        (before, secrets_before): (usize, usize),
        at: &str,
        inherited: &[&str],
    ) {
        blame(&mut self.problems, before, at, inherited);
        blame(&mut self.secret_problems, secrets_before, at, inherited);
    }

    /// Where `file` is: `${CREDENTIALS_DIRECTORY}/name` in the credentials
    /// directory, `/run/credentials/<unit>/name` there too when checking
    /// as the service will ([`super::LoadOptions::credentials_directory`]),
    /// any other relative path against the config file's directory.
    pub(super) fn resolve(&self, file: &Path) -> Result<PathBuf, String> {
        let text = file.to_string_lossy();
        for var in ["${CREDENTIALS_DIRECTORY}", "$CREDENTIALS_DIRECTORY"] {
            if let Some(rest) = text.strip_prefix(var) {
                let dir = self.files.credentials_directory.as_ref().ok_or_else(|| {
                    format!(
                        "{text}: $CREDENTIALS_DIRECTORY is not set (systemd sets it for a service with LoadCredential=; check-config --credentials-directory DIR)"
                    )
                })?;
                return Ok(dir.join(rest.trim_start_matches('/')));
            }
        }
        if let (Some(dir), true) = (&self.files.credentials_directory, self.files.as_service) {
            if let Some((_unit, rest)) = text
                .strip_prefix("/run/credentials/")
                .and_then(|r| r.split_once('/'))
            {
                return Ok(dir.join(rest));
            }
        }
        Ok(self.base.join(file))
    }

    /// A file named in the config; a problem names it with its full path
    /// and the OS error.
    pub(super) fn read_file(&mut self, path: &str, file: &Path) -> Option<Vec<u8>> {
        self.read(path, file, false).map(|(bytes, _)| bytes)
    }

    /// Read `file`; a failure is a problem, or with `credential` a secret
    /// problem (the target fails, not the configuration). With the full path.
    fn read(&mut self, path: &str, file: &Path, credential: bool) -> Option<(Vec<u8>, PathBuf)> {
        let result = self
            .resolve(file)
            .and_then(|full| match std::fs::read(&full) {
                Ok(b) => {
                    let own = self
                        .files
                        .credentials_directory
                        .as_ref()
                        .is_some_and(|d| full.starts_with(d));
                    if self.files.as_service && !own {
                        if let Some(w) = super::service::unreadable_by_service(&full) {
                            self.warnings.push(format!("{path}: {w}"));
                        }
                    }
                    Ok((b, full))
                }
                Err(e) => Err(format!("cannot read {}: {e}", full.display())),
            });
        match result {
            Ok(read) => Some(read),
            Err(msg) if credential => {
                self.secret_problem(path, &msg);
                None
            }
            Err(msg) => {
                self.problem(path, &msg);
                None
            }
        }
    }

    /// A credential in a file (`api_key_file`, `password_file`, a TLS
    /// `key_file`): not empty, UTF-8; a file that cannot be read, is empty
    /// or is not text fails only its target (a secret problem).
    pub(super) fn read_credential(&mut self, path: &str, file: &Path) -> Option<Secret> {
        self.secret_text(path, file)
    }

    /// A TLS `ca_file` or `cert_file`: a file that cannot be read fails
    /// only its target (a secret problem); what is in it is checked by the
    /// caller, and a file that is not what it should be is a problem of the
    /// configuration.
    pub(super) fn read_tls_file(&mut self, path: &str, file: &Path) -> Option<Vec<u8>> {
        self.read(path, file, true).map(|(bytes, _)| bytes)
    }

    /// A credentials file read as bytes (a keytab), not empty.
    pub(super) fn read_credential_file(&mut self, path: &str, file: &Path) -> Option<Vec<u8>> {
        let (bytes, full) = self.read(path, file, true)?;
        if bytes.is_empty() {
            self.secret_problem(path, &format!("{} is empty", full.display()));
            return None;
        }
        Some(bytes)
    }

    fn secret_text(&mut self, path: &str, file: &Path) -> Option<Secret> {
        let (bytes, full) = self.read(path, file, true)?;
        let problem = match String::from_utf8(bytes) {
            Ok(s) if !s.trim().is_empty() => return Some(Secret::new(s)),
            Ok(_) => format!("{} is empty", full.display()),
            Err(_) => format!("{} is not UTF-8 text", full.display()),
        };
        self.secret_problem(path, &problem);
        None
    }

    /// One target, defaults already merged: `None` when it has problems
    /// (all of them recorded).
    pub(super) fn target(&mut self, at: &str, e: TargetEntry) -> Option<TargetConfig> {
        let before = self.problems.len();
        let secrets_before = self.secret_problems.len();
        self.name(at, &e.name);
        let kind = self.kind(at, e.kind.as_deref());
        let interval = self.interval(at, &e);
        let collectors = kind.map(|k| self.collectors(at, k, &e, interval));
        let credentials = self.credentials(at, kind, &e);
        match (kind, &credentials) {
            (Some(k), Some(c)) => {
                self.kind_accepts(at, k, c.block(e.api_key_file.is_some()));
                if let Some(Some(collectors)) = &collectors {
                    self.credentials_present(at, k, c, collectors);
                }
            }
            // Unreadable: whether the kind takes that block is known anyway.
            (Some(k), None) => {
                let written = [
                    ("api_key_file", e.api_key_file.is_some()),
                    ("realm_auth", e.realm_auth.is_some()),
                    ("basic_auth", e.basic_auth.is_some()),
                ]
                .into_iter()
                .find(|(_, set)| *set)
                .map(|(block, _)| block);
                self.kind_accepts(at, k, written);
            }
            _ => {}
        }
        let options = kind.map(|k| self.options(at, k, &e));
        let tls_before = self.secret_problems.len();
        let client = self.client_settings(at, &e, kind, interval);
        let labels = self.labels(at, e.labels.clone().unwrap_or_default());
        if self.problems.len() > before {
            return None;
        }
        let prefix = format!("{at}.");
        let own = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|p| p.strip_prefix(&prefix).unwrap_or(p).to_owned())
                .collect()
        };
        // A TLS file that cannot be read fails this target only: it starts
        // without an HTTP client and reads the files again at every poll.
        let client = client?;
        let pending_tls = (self.secret_problems.len() > tls_before).then(|| {
            Arc::new(PendingTls {
                problems: own(&self.secret_problems[tls_before..]),
                at: at.to_owned(),
                tls: e.tls_config.clone().unwrap_or_default(),
                settings: client.clone(),
                base: self.base.to_path_buf(),
                files: self.files.clone(),
            })
        });
        // A credentials file that cannot be read fails this target only:
        // it starts, and reads the file again at every poll.
        let (credentials, pending) = match credentials {
            Some(c) => (c, None),
            None if tls_before > secrets_before => {
                let problems = own(&self.secret_problems[secrets_before..tls_before]);
                let pending = PendingCredentials {
                    problems,
                    at: at.to_owned(),
                    kind: kind?,
                    entry: e.clone(),
                    base: self.base.to_path_buf(),
                    files: self.files.clone(),
                };
                (crate::kinds::Credentials::None, Some(Arc::new(pending)))
            }
            None => return None,
        };
        Some(TargetConfig {
            name: e.name,
            kind: kind?,
            labels,
            collectors: collectors??,
            interval,
            client,
            credentials,
            pending,
            pending_tls,
            options: options??,
        })
    }

    fn name(&mut self, at: &str, name: &str) {
        if name.trim().is_empty() {
            self.problem(&format!("{at}.name"), "must not be empty");
        } else if name.chars().any(|c| c.is_control()) {
            self.problem(&format!("{at}.name"), "must not contain control characters");
        }
    }

    fn kind(&mut self, at: &str, name: Option<&str>) -> Option<&'static dyn Kind> {
        let name = name.unwrap_or("ics");
        let kind = kinds::kind(name);
        if kind.is_none() {
            let known: Vec<_> = kinds::KINDS.iter().map(|k| k.name()).collect();
            self.problem(
                &format!("{at}.kind"),
                &format!("unknown kind {name:?} (known: {})", known.join(", ")),
            );
        }
        kind
    }

    fn interval(&mut self, at: &str, e: &TargetEntry) -> Duration {
        let interval = e.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_secs(1) {
            self.problem(&format!("{at}.interval"), "must be at least 1s");
        }
        interval
    }

    /// `kind_options` keys checked against the kind's, then the kind's own
    /// parse (which also reads its own blocks, e.g. `active_users`).
    fn options(&mut self, at: &str, k: &'static dyn Kind, e: &TargetEntry) -> Option<Options> {
        let empty = BTreeMap::new();
        let kind_options = e.kind_options.as_ref().unwrap_or(&empty);
        let mut ok = true;
        for key in kind_options.keys() {
            if !k.option_keys().contains(&key.as_str()) {
                let known = if k.option_keys().is_empty() {
                    "none".to_owned()
                } else {
                    k.option_keys().join(", ")
                };
                self.problem(
                    &format!("{at}.kind_options.{key}"),
                    &format!("unknown option for kind {} (known: {known})", k.name()),
                );
                ok = false;
            }
        }
        let blocks = e
            .kind_blocks()
            .into_iter()
            .filter(|(name, _)| k.blocks().contains(name))
            .map(|(name, v)| (name, v.clone()))
            .collect();
        let advisories = self.advisories.clone();
        let raw = RawOptions {
            at,
            kind_options,
            blocks: &blocks,
            advisories: &advisories,
        };
        let options = k.parse_options(&raw, self);
        options.filter(|_| ok)
    }

    fn labels(&mut self, at: &str, given: BTreeMap<String, String>) -> Vec<(String, String)> {
        let reserved = reserved_label_names();
        let mut labels = Vec::new();
        for (k, val) in given {
            let path = format!("{at}.labels.{k}");
            if !valid_label_name(&k) {
                self.problem(
                    &path,
                    "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)",
                );
            } else if reserved.contains(&k.as_str()) {
                self.problem(
                    &path,
                    "label name is used by the exporter or by Prometheus itself; choose another",
                );
            } else {
                labels.push((k, val));
            }
        }
        labels
    }

    fn collectors(
        &mut self,
        at: &str,
        kind: &'static dyn Kind,
        e: &TargetEntry,
        interval: Duration,
    ) -> Option<Vec<CollectorConfig>> {
        let specs = kind.collectors();
        let names: Vec<String> = match &e.collectors {
            Some(list) => list.clone(),
            None => specs
                .iter()
                .filter(|s| s.default_enabled)
                .map(|s| s.name.to_owned())
                .collect(),
        };
        let known = || specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
        // In a fleet mixing kinds, shared settings name the collectors of
        // every kind: another kind's collector is not for this target.
        let other_kind = |name: &str| {
            kinds::KINDS
                .iter()
                .any(|k| k.name() != kind.name() && k.collectors().iter().any(|c| c.name == name))
        };
        let mut out: Vec<CollectorConfig> = Vec::new();
        let mut ok = true;
        for (i, name) in names.iter().enumerate() {
            let path = format!("{at}.collectors[{i}]");
            match specs.iter().find(|s| s.name == name) {
                None if other_kind(name) => {}
                None => {
                    self.problem(
                        &path,
                        &format!(
                            "unknown collector {name:?} for kind {} (known: {})",
                            kind.name(),
                            known()
                        ),
                    );
                    ok = false;
                }
                Some(_) if out.iter().any(|c| c.spec.name == name) => {
                    self.problem(&path, &format!("{name:?} listed twice"));
                    ok = false;
                }
                Some(spec) => out.push(CollectorConfig {
                    spec,
                    interval: spec.default_interval.map_or(interval, |d| d.max(interval)),
                }),
            }
        }
        if ok && out.is_empty() && !names.is_empty() {
            self.problem(
                &format!("{at}.collectors"),
                &format!(
                    "none of these collectors is one of kind {} (known: {})",
                    kind.name(),
                    known()
                ),
            );
            ok = false;
        }
        for (name, d) in e.collector_intervals.iter().flatten() {
            let path = format!("{at}.collector_intervals.{name}");
            let d = d.into_inner();
            if !specs.iter().any(|s| s.name == name) {
                if !other_kind(name) {
                    self.problem(&path, &format!("unknown collector (known: {})", known()));
                    ok = false;
                }
            } else if d < Duration::from_secs(1) {
                self.problem(&path, "must be at least 1s");
                ok = false;
            } else if let Some(c) = out.iter_mut().find(|c| c.spec.name == name) {
                c.interval = d;
            }
        }
        ok.then_some(out)
    }
}

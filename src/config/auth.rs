//! Credentials: one group per target (`api_key`, `api_key_file`,
//! `realm_auth`, `basic_auth`, or a block of the kind's own such as
//! `kerberos`, which the kind reads), files read, and the kind asked
//! whether it authenticates that way.

use super::file::TargetEntry;
use super::validate::Validator;
use super::CollectorConfig;
use crate::kinds::{ConfigContext, Credentials, Kind};
use crate::secret::Secret;
use std::path::{Path, PathBuf};

/// Credentials whose file could not be read when the configuration was
/// loaded: the target starts without them and reads them again at every
/// poll ([`crate::kinds::CredentialSource`]), failing with reason
/// `credentials` until they can be read.
#[derive(Clone, PartialEq)]
pub struct PendingCredentials {
    /// What went wrong, by key: `api_key_file: cannot read /etc/...: ...`.
    pub(super) problems: Vec<String>,
    pub(super) at: String,
    pub(super) kind: &'static dyn Kind,
    pub(super) entry: TargetEntry,
    pub(super) base: PathBuf,
    pub(super) files: super::LoadOptions,
}

/// The problems only: the entry as written may hold other settings of
/// the kind's own blocks, which are not for logs.
impl std::fmt::Debug for PendingCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCredentials")
            .field("at", &self.at)
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl PendingCredentials {
    /// The problems found at load, one per file, with the file's full path
    /// and the OS error (never its content).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl crate::kinds::CredentialSource for PendingCredentials {
    fn read(&self) -> Result<Credentials, String> {
        let mut v = Validator::new(&self.base, &self.files);
        let credentials = v.credentials(&self.at, Some(self.kind), &self.entry);
        if let Some(c) = &credentials {
            v.kind_accepts(
                &self.at,
                self.kind,
                c.block(self.entry.api_key_file.is_some()),
            );
        }
        v.problems.append(&mut v.secret_problems);
        match credentials {
            Some(c) if v.problems.is_empty() => Ok(c),
            _ => {
                let prefix = format!("{}.", self.at);
                let lines: Vec<&str> = v
                    .problems
                    .iter()
                    .map(|p| p.strip_prefix(&prefix).unwrap_or(p))
                    .collect();
                Err(lines.join("; "))
            }
        }
    }
}

impl Validator<'_> {
    /// The credentials block of the target must be one its kind accepts.
    pub(super) fn kind_accepts(&mut self, at: &str, k: &'static dyn Kind, block: Option<&str>) {
        if let Some(given) = block {
            if !k.credentials().contains(&given) {
                self.problem(
                    &format!("{at}.{given}"),
                    &format!(
                        "kind {} authenticates with {}",
                        k.name(),
                        k.credentials().join(" or ")
                    ),
                );
            }
        }
    }

    /// A target without credentials may enable only collectors whose
    /// endpoints are unauthenticated: the others would fail every poll
    /// with `auth`.
    pub(super) fn credentials_present(
        &mut self,
        at: &str,
        k: &'static dyn Kind,
        c: &Credentials,
        collectors: &[CollectorConfig],
    ) {
        if *c != Credentials::None {
            return;
        }
        let needing: Vec<&str> = collectors
            .iter()
            .filter(|c| c.spec.needs_credentials)
            .map(|c| c.spec.name)
            .collect();
        if needing.is_empty() {
            return;
        }
        self.problem(
            at,
            &format!(
                "no credentials, but collectors {} need them: set {}, or enable only collectors that need none",
                needing.join(", "),
                k.credentials().join(" or ")
            ),
        );
    }

    pub(super) fn credentials(
        &mut self,
        at: &str,
        kind: Option<&'static dyn Kind>,
        e: &TargetEntry,
    ) -> Option<Credentials> {
        let key_sources = e.api_key.is_some() as u8 + e.api_key_file.is_some() as u8;
        // A credentials block that a kind reads itself (`kerberos`).
        let own = |b: &str| {
            crate::kinds::KINDS
                .iter()
                .any(|k| k.blocks().contains(&b) && k.credentials().contains(&b))
        };
        if let Some((block, value)) = e.kind_blocks().into_iter().find(|(b, _)| own(b)) {
            let path = format!("{at}.{block}");
            if key_sources > 0 || e.realm_auth.is_some() || e.basic_auth.is_some() {
                self.problem(&path, "set one kind of credentials only");
                return None;
            }
            let k = kind?;
            if !k.credentials().contains(&block) {
                self.problem(
                    &path,
                    &format!(
                        "kind {} authenticates with {}",
                        k.name(),
                        k.credentials().join(" or ")
                    ),
                );
                return None;
            }
            return k.parse_credentials(block, &path, value, self);
        }
        if let Some(ba) = &e.basic_auth {
            let path = format!("{at}.basic_auth");
            if key_sources > 0 || e.realm_auth.is_some() {
                self.problem(&path, "set one kind of credentials only");
                return None;
            }
            let username = ba.username.clone().filter(|s| !s.is_empty());
            if username.is_none() {
                self.problem(&format!("{path}.username"), "missing");
            }
            let password = self.password(&path, &ba.password, &ba.password_file);
            return Some(Credentials::Basic {
                username: username?,
                password: password?,
            });
        }
        if key_sources > 1 {
            self.problem(
                &format!("{at}.api_key_file"),
                "set either api_key or api_key_file, not both",
            );
            return None;
        }
        if let Some(ra) = &e.realm_auth {
            let path = format!("{at}.realm_auth");
            if key_sources > 0 {
                self.problem(&path, "set either an API key or realm_auth, not both");
                return None;
            }
            let realm = ra.realm.clone().filter(|s| !s.is_empty());
            let username = ra.username.clone().filter(|s| !s.is_empty());
            if realm.is_none() {
                self.problem(&format!("{path}.realm"), "missing");
            }
            if username.is_none() {
                self.problem(&format!("{path}.username"), "missing");
            }
            let password = self.password(&path, &ra.password, &ra.password_file);
            return Some(Credentials::RealmAuth {
                realm: realm?,
                username: username?,
                password: password?,
            });
        }
        if let Some(k) = &e.api_key {
            if k.is_empty() {
                self.problem(&format!("{at}.api_key"), "is empty");
                return None;
            }
            return Some(Credentials::ApiKey(k.clone()));
        }
        if let Some(f) = &e.api_key_file {
            return self
                .read_credential(&format!("{at}.api_key_file"), f)
                .map(Credentials::ApiKey);
        }
        Some(Credentials::None)
    }

    pub(super) fn password(
        &mut self,
        path: &str,
        inline: &Option<Secret>,
        file: &Option<PathBuf>,
    ) -> Option<Secret> {
        match (inline, file) {
            (Some(_), Some(_)) => {
                self.problem(
                    &format!("{path}.password_file"),
                    "set either password or password_file, not both",
                );
                None
            }
            (Some(p), None) => Some(p.clone()),
            (None, Some(f)) => self.read_credential(&format!("{path}.password_file"), f),
            (None, None) => {
                self.problem(&format!("{path}.password"), "missing (or password_file)");
                None
            }
        }
    }
}

/// What a kind may ask of the config while it reads its own blocks.
impl ConfigContext for Validator<'_> {
    fn problem(&mut self, path: &str, message: &str) {
        Validator::problem(self, path, message);
    }

    fn unknown_key(&mut self, path: &str, key: &str, known: &[&str]) {
        Validator::problem(self, path, &super::suggest::unknown("field", key, known));
    }

    fn read_file(&mut self, path: &str, file: &Path) -> Option<Vec<u8>> {
        Validator::read_file(self, path, file)
    }

    fn read_credential_file(&mut self, path: &str, file: &Path) -> Option<Vec<u8>> {
        Validator::read_credential_file(self, path, file)
    }

    fn full_path(&self, file: &Path) -> PathBuf {
        self.resolve(file).unwrap_or_else(|_| file.to_path_buf())
    }

    fn password(
        &mut self,
        path: &str,
        inline: &Option<Secret>,
        file: &Option<PathBuf>,
    ) -> Option<Secret> {
        Validator::password(self, path, inline, file)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Credentials};
    use crate::kinds::CredentialSource;
    use crate::secret::Secret;

    const TWO: &str = "defaults:\n  api_key_file: fleet.key\ntargets:\n  - { name: a, url: \"https://vpn-a.example.net\" }\n  - { name: b, url: \"https://vpn-b.example.net\", api_key_file: b.key }\n";

    /// A key file that is missing, empty or not text fails the targets
    /// using it (pending, with the file's full path and the OS error), not
    /// the configuration; the file is read again when asked (issue 25).
    #[test]
    fn unreadable_key_files_fail_their_targets_not_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::write(base.join("b.key"), "b-key\n").unwrap();
        let c = Config::from_yaml(TWO, base).expect("loads");
        let (a, b) = (c.target("a").unwrap(), c.target("b").unwrap());
        assert_eq!(b.pending, None);
        assert_eq!(b.credentials, Credentials::ApiKey(Secret::new("b-key")));
        let pending = a.pending.as_ref().expect("a is pending");
        let missing = format!(
            "api_key_file: cannot read {}: No such file or directory (os error 2)",
            base.join("fleet.key").display()
        );
        assert_eq!(pending.problems(), std::slice::from_ref(&missing));
        // Debug output (and so any log of the config) has the problem only.
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains(&format!(
                "pending: Some(PendingCredentials {{ at: \"targets[0]\", problems: [{missing:?}], .. }})"
            )),
            "{dbg}"
        );
        assert!(!dbg.contains("b-key"), "{dbg}");
        // Reported once, at the defaults' key, for check-config.
        assert_eq!(c.unreadable, [format!("defaults.{missing}")]);
        assert_eq!(pending.read(), Err(missing));
        std::fs::write(base.join("fleet.key"), "").unwrap();
        assert_eq!(
            pending.read(),
            Err(format!(
                "api_key_file: {} is empty",
                base.join("fleet.key").display()
            ))
        );
        std::fs::write(base.join("fleet.key"), b"\xff\xfe").unwrap();
        assert_eq!(
            pending.read(),
            Err(format!(
                "api_key_file: {} is not UTF-8 text",
                base.join("fleet.key").display()
            ))
        );
        std::fs::write(base.join("fleet.key"), "fleet-key\n").unwrap();
        assert_eq!(
            pending.read(),
            Ok(Credentials::ApiKey(Secret::new("fleet-key")))
        );
        // A reload now resolves it: a different target, restarted.
        let again = Config::from_yaml(TWO, base).unwrap();
        assert_ne!(again.target("a"), c.target("a"));
        assert_eq!(again.target("b"), c.target("b"));
        assert!(again.unreadable.is_empty());
    }

    /// What is wrong with the file itself stays a problem of the
    /// configuration, reported with the unreadable files.
    #[test]
    fn configuration_problems_still_fail_the_load_with_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "targets:\n  - { name: a, url: \"https://vpn-a.example.net\", realm_auth: { realm: R, password_file: pw } }\n  - { name: b, url: \"https://vpn-b.example.net\", api_key_file: b.key }\n";
        let e = Config::from_yaml(yaml, dir.path()).unwrap_err();
        assert_eq!(
            e.problems,
            [
                "targets[0].realm_auth.username: missing".to_owned(),
                format!(
                    "targets[0].realm_auth.password_file: cannot read {}: No such file or directory (os error 2)",
                    dir.path().join("pw").display()
                ),
                format!(
                    "targets[1].api_key_file: cannot read {}: No such file or directory (os error 2)",
                    dir.path().join("b.key").display()
                ),
            ]
        );
    }

    /// A kind that does not take the block is told so, readable or not.
    #[test]
    fn an_unreadable_file_of_a_block_the_kind_does_not_take_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "targets:\n  - { name: s, url: \"https://sps.example.net\", kind: sps, api_key_file: k }\n";
        let e = Config::from_yaml(yaml, dir.path()).unwrap_err();
        assert_eq!(
            e.problems,
            [
                "targets[0].api_key_file: kind sps authenticates with basic_auth".to_owned(),
                format!(
                    "targets[0].api_key_file: cannot read {}: No such file or directory (os error 2)",
                    dir.path().join("k").display()
                ),
            ]
        );
    }

    /// A Kerberos keytab or password file counts as credentials too.
    #[test]
    fn an_unreadable_keytab_fails_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "targets:\n  - name: c\n    url: https://console.corp.example.com:3121\n    kind: isec\n    kerberos: { principal: a@B, keytab_file: svc.keytab, kdc: [dc1] }\n";
        let c = Config::from_yaml(yaml, dir.path()).expect("loads");
        let p = c.target("c").unwrap().pending.clone().expect("pending");
        assert_eq!(
            p.problems(),
            [format!(
                "kerberos.keytab_file: cannot read {}: No such file or directory (os error 2)",
                dir.path().join("svc.keytab").display()
            )]
        );
        std::fs::write(dir.path().join("svc.keytab"), "").unwrap();
        let e = p.read().unwrap_err();
        assert!(e.ends_with("svc.keytab is empty"), "{e}");
        // A keytab that is there but is not one: named with its full path.
        std::fs::write(dir.path().join("svc.keytab"), "not a keytab").unwrap();
        let e = p.read().unwrap_err();
        assert!(
            e.starts_with(&format!(
                "kerberos.keytab_file: {}: ",
                dir.path().join("svc.keytab").display()
            )),
            "{e}"
        );
    }
}

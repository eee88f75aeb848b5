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

impl Validator<'_> {
    /// The credentials block of the target must be one its kind accepts.
    pub(super) fn kind_accepts(
        &mut self,
        at: &str,
        k: &'static dyn Kind,
        c: &Credentials,
        from_file: bool,
    ) {
        if let Some(given) = c.block(from_file) {
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
                .read_secret(&format!("{at}.api_key_file"), f)
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
            (None, Some(f)) => self.read_secret(&format!("{path}.password_file"), f),
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

    fn password(
        &mut self,
        path: &str,
        inline: &Option<Secret>,
        file: &Option<PathBuf>,
    ) -> Option<Secret> {
        Validator::password(self, path, inline, file)
    }
}

//! Credentials: one group per target (`api_key`, `api_key_file`,
//! `realm_auth`, `basic_auth`), files read, and the kind asked whether it
//! authenticates that way.

use super::file::TargetEntry;
use super::validate::Validator;
use super::CollectorConfig;
use crate::kinds::{Credentials, Kind};
use crate::secret::Secret;
use std::path::PathBuf;

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

    pub(super) fn credentials(&mut self, at: &str, e: &TargetEntry) -> Option<Credentials> {
        let key_sources = e.api_key.is_some() as u8 + e.api_key_file.is_some() as u8;
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

    fn password(
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

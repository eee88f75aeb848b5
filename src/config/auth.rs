//! Credentials: one group per target (`api_key`, `api_key_file`,
//! `realm_auth`, `basic_auth`), files read, and the kind asked whether it
//! authenticates that way.

use super::file::{KerberosFileConfig, TargetEntry};
use super::validate::Validator;
use super::CollectorConfig;
use crate::kinds::isec::kerberos::{kdc, keytab, KerberosCredentials, KerberosSecret};
use crate::kinds::{Credentials, Kind};
use crate::secret::Secret;
use std::path::PathBuf;
use std::sync::Arc;

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
        if let Some(k) = &e.kerberos {
            let path = format!("{at}.kerberos");
            if key_sources > 0 || e.realm_auth.is_some() || e.basic_auth.is_some() {
                self.problem(&path, "set one kind of credentials only");
                return None;
            }
            return self
                .kerberos(&path, k)
                .map(|k| Credentials::Kerberos(Arc::new(k)));
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

    /// `kerberos:`: `user@REALM`, exactly one of password, password_file
    /// and keytab_file (the keytab must hold an AES key of the principal),
    /// and KDCs from the block or from `krb5.conf`.
    fn kerberos(&mut self, path: &str, k: &KerberosFileConfig) -> Option<KerberosCredentials> {
        let principal = k.principal.as_deref().unwrap_or_default();
        let Some((user, realm)) = principal
            .rsplit_once('@')
            .filter(|(u, r)| !u.is_empty() && !r.is_empty())
        else {
            self.problem(
                &format!("{path}.principal"),
                "missing or not user@REALM (e.g. svc-monitor@CORP.EXAMPLE.COM)",
            );
            return None;
        };
        let secret = match (&k.keytab_file, &k.password, &k.password_file) {
            (Some(f), None, None) => {
                let at = format!("{path}.keytab_file");
                let keys = keytab::parse(&self.read_file(&at, f)?)
                    .map_err(|e| self.problem(&at, &format!("{}: {e}", f.display())))
                    .ok()?;
                if keytab::best_key(&keys, principal).is_none() {
                    self.problem(
                        &at,
                        &format!("{} has no AES key for {principal}", f.display()),
                    );
                    return None;
                }
                let mine = keys
                    .into_iter()
                    .filter(|key| key.principal == principal)
                    .collect();
                KerberosSecret::Keytab(mine)
            }
            (Some(_), _, _) => {
                self.problem(
                    &format!("{path}.keytab_file"),
                    "set either a keytab or a password, not both",
                );
                return None;
            }
            _ => KerberosSecret::Password(self.password(path, &k.password, &k.password_file)?),
        };
        let kdcs = match &k.kdc {
            Some(list) if !list.is_empty() => list.clone(),
            _ => {
                let conf = kdc::krb5_conf_path();
                let found = std::fs::read_to_string(&conf)
                    .map(|text| kdc::realm_kdcs(&text, realm))
                    .unwrap_or_default();
                if found.is_empty() {
                    self.problem(
                        &format!("{path}.kdc"),
                        &format!(
                            "no KDC for realm {realm}: set kdc, or a [realms] {realm} kdc entry in {} (DNS SRV lookup is not supported)",
                            conf.display()
                        ),
                    );
                    return None;
                }
                found
            }
        };
        if let Some(spn) = &k.service_principal {
            if !spn.contains('/') || spn.contains('@') {
                self.problem(
                    &format!("{path}.service_principal"),
                    "not service/host (e.g. HTTP/console.corp.example.com), without a realm",
                );
                return None;
            }
        }
        Some(KerberosCredentials {
            user: user.to_owned(),
            realm: realm.to_owned(),
            secret,
            service_principal: k.service_principal.clone(),
            kdcs,
        })
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

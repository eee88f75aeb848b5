//! Where and how to reach a target: its URL, timeout, body cap,
//! concurrency, TLS files and proxy, checked and turned into the client's
//! [`client::Settings`].

use super::file::{TargetEntry, TlsFileConfig};
use super::validate::Validator;
use super::{DEFAULT_BODY_SIZE_LIMIT, DEFAULT_TIMEOUT};
use crate::client;
use crate::kinds::Kind;
use crate::tls::{self, TlsSettings};
use std::time::Duration;
use url::Url;

/// A target's `tls_config` files that could not be read when the
/// configuration was loaded (`ca_file`, `cert_file`, `key_file`: missing,
/// permission denied; a key file also empty or not text): the target starts
/// without an HTTP client, fails every poll with reason `credentials`, and
/// reads the files again at every poll until they can be read
/// ([`crate::kinds::SettingsSource`]); then its client is built once.
#[derive(Clone, PartialEq)]
pub struct PendingTls {
    /// What went wrong, by key: `tls_config.key_file: cannot read /etc/...: ...`.
    pub(super) problems: Vec<String>,
    pub(super) at: String,
    pub(super) tls: TlsFileConfig,
    /// The client's settings but TLS (whose files are not read).
    pub(super) settings: client::Settings,
    pub(super) base: std::path::PathBuf,
    pub(super) files: super::LoadOptions,
}

/// The problems only (no file content is ever held here, but the
/// settings are not for logs either).
impl std::fmt::Debug for PendingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingTls")
            .field("at", &self.at)
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl PendingTls {
    /// The problems found at load, one per file, with the file's full path
    /// and the OS error (never its content).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl crate::kinds::SettingsSource for PendingTls {
    /// The client's settings with the TLS files read and checked, or what
    /// is wrong with them (a file that is read now and is not PEM, or a
    /// key that does not fit, is reported here: the configuration was
    /// accepted, so it fails the target).
    fn read(&self) -> Result<client::Settings, String> {
        let mut v = Validator::new(&self.base, &self.files);
        let path = format!("{}.tls_config", self.at);
        let tls = v.tls(&path, self.tls.clone());
        v.problems.append(&mut v.secret_problems);
        match tls {
            Some(tls) if v.problems.is_empty() => Ok(client::Settings {
                tls,
                ..self.settings.clone()
            }),
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
    /// The client's settings, or `None` with the problems recorded.
    pub(super) fn client_settings(
        &mut self,
        at: &str,
        e: &TargetEntry,
        kind: Option<&'static dyn Kind>,
        interval: Duration,
    ) -> Option<client::Settings> {
        let url = self.url(&format!("{at}.url"), &e.url);
        let timeout = self.timeout(at, e, interval);
        let tls = self.tls(
            &format!("{at}.tls_config"),
            e.tls_config.clone().unwrap_or_default(),
        );
        let proxy_url = e
            .proxy_url
            .as_deref()
            .and_then(|p| self.proxy_url(&format!("{at}.proxy_url"), p));
        let max_concurrent_requests = e.max_concurrent_requests.unwrap_or(1);
        if max_concurrent_requests == 0 {
            self.problem(
                &format!("{at}.max_concurrent_requests"),
                "must be at least 1",
            );
        }
        let body_size_limit = e
            .body_size_limit
            .map(|b| b.0)
            .unwrap_or(DEFAULT_BODY_SIZE_LIMIT);
        if body_size_limit < 1024 {
            self.problem(&format!("{at}.body_size_limit"), "must be at least 1KiB");
        }
        Some(client::Settings {
            url: url?,
            timeout,
            body_size_limit,
            max_concurrent_requests,
            tls: tls?,
            proxy_url,
            post_paths: kind?.login_post_paths(),
        })
    }

    fn timeout(&mut self, at: &str, e: &TargetEntry, interval: Duration) -> Duration {
        let timeout = e.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            self.problem(&format!("{at}.timeout"), "must be greater than 0");
        } else if timeout > interval {
            self.problem(
                &format!("{at}.timeout"),
                &format!(
                    "{} is longer than the interval {}",
                    humantime::format_duration(timeout),
                    humantime::format_duration(interval)
                ),
            );
        }
        timeout
    }

    fn proxy_url(&mut self, path: &str, p: &str) -> Option<Url> {
        match Url::parse(p) {
            Ok(u) if u.scheme() == "http" && u.host().is_some() => Some(u),
            Ok(u) if u.scheme() == "http" => {
                self.problem(path, "has no host");
                None
            }
            Ok(u) => {
                self.problem(
                    path,
                    &format!(
                        "unsupported scheme {:?}: an http:// proxy (HTTPS targets are tunnelled with CONNECT)",
                        u.scheme()
                    ),
                );
                None
            }
            Err(err) => {
                self.problem(path, &err.to_string());
                None
            }
        }
    }

    fn url(&mut self, path: &str, raw: &str) -> Option<Url> {
        if raw.trim().is_empty() {
            self.problem(path, "missing");
            return None;
        }
        let mut url = match Url::parse(raw) {
            Ok(u) => u,
            Err(e) => {
                self.problem(path, &e.to_string());
                return None;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.problem(
                path,
                &format!("scheme must be https or http, not {:?}", url.scheme()),
            );
            return None;
        }
        if url.host().is_none() {
            self.problem(path, "missing host");
            return None;
        }
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(
                path,
                "credentials in the URL are not allowed (they would end up in logs); use api_key_file or realm_auth",
            );
            return None;
        }
        if url.query().is_some() || url.fragment().is_some() {
            self.problem(path, "must not have a query or fragment");
            return None;
        }
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Some(url)
    }

    pub(super) fn tls(&mut self, path: &str, t: TlsFileConfig) -> Option<TlsSettings> {
        let before = self.problems.len();
        let unread_before = self.secret_problems.len();
        // A file that cannot be read fails the target only (a secret
        // problem: the target is `pending_tls`); one that is read and is
        // not what it should be is a problem of the configuration.
        let ca_pem = t
            .ca_file
            .as_ref()
            .and_then(|f| self.read_tls_file(&format!("{path}.ca_file"), f));
        if let Some(pem) = &ca_pem {
            if let Err(e) = tls::parse_ca_pem(pem) {
                self.problem(&format!("{path}.ca_file"), &e);
            }
        }
        let client_pem = match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => {
                let cert = self.read_tls_file(&format!("{path}.cert_file"), c);
                let key = self.read_credential(&format!("{path}.key_file"), k);
                cert.zip(key)
            }
            (None, None) => None,
            (Some(_), None) => {
                self.problem(&format!("{path}.key_file"), "cert_file needs key_file");
                None
            }
            (None, Some(_)) => {
                self.problem(&format!("{path}.cert_file"), "key_file needs cert_file");
                None
            }
        };
        if let Some((cert, key)) = &client_pem {
            if let Err(e) = tls::parse_client_identity(cert, key.expose().as_bytes()) {
                self.problem(&format!("{path}.cert_file"), &e);
            }
        }
        if let Some(name) = &t.server_name {
            if rustls_pki_types::ServerName::try_from(name.as_str()).is_err() {
                self.problem(
                    &format!("{path}.server_name"),
                    "not a valid DNS name or IP address",
                );
            }
        }
        // With a file unread, none is used: nothing is half pinned.
        let (ca_pem, client_pem) = match self.secret_problems.len() > unread_before {
            true => (None, None),
            false => (ca_pem, client_pem),
        };
        (self.problems.len() == before).then_some(TlsSettings {
            ca_pem,
            client_pem,
            server_name: t.server_name,
            insecure_skip_verify: t.insecure_skip_verify,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::kinds::SettingsSource;

    /// Target `a` uses a client key that is missing and a CA that is
    /// there; `b` uses the CA alone.
    const TWO: &str = "defaults:\n  api_key: k\n  tls_config: { ca_file: ca.pem }\ntargets:\n  - { name: a, url: \"https://vpn-a.example.net\", tls_config: { cert_file: client.crt, key_file: client.key } }\n  - { name: b, url: \"https://vpn-b.example.net\" }\n";

    fn identity() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["exporter".into()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    /// A TLS file that cannot be read fails the targets using it (pending,
    /// the file's full path and the OS error), not the configuration; it
    /// is read again when asked, and once it can be, the settings carry
    /// every file (issue 25).
    #[test]
    fn an_unreadable_tls_key_file_fails_its_target_not_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let (ca, _) = identity();
        let (cert, key) = identity();
        std::fs::write(base.join("ca.pem"), &ca).unwrap();
        std::fs::write(base.join("client.crt"), &cert).unwrap();
        let c = Config::from_yaml(TWO, base).expect("loads");
        let (a, b) = (c.target("a").unwrap(), c.target("b").unwrap());
        assert_eq!(b.pending_tls, None);
        assert_eq!(b.client.tls.ca_pem.as_deref(), Some(ca.as_bytes()));
        let pending = a.pending_tls.as_ref().expect("a is pending");
        let missing = format!(
            "tls_config.key_file: cannot read {}: No such file or directory (os error 2)",
            base.join("client.key").display()
        );
        assert_eq!(pending.problems(), std::slice::from_ref(&missing));
        // Nothing of the target's TLS is used while one file is unread:
        // not the CA that was read (no half-pinned client).
        assert_eq!(a.client.tls.ca_pem, None);
        assert_eq!(a.client.tls.client_pem, None);
        // Credentials are not pending: only TLS is.
        assert_eq!(a.pending, None);
        assert_eq!(c.unreadable, [format!("targets[0].{missing}")]);
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains(&format!(
                "pending_tls: Some(PendingTls {{ at: \"targets[0]\", problems: [{missing:?}], .. }})"
            )),
            "{dbg}"
        );
        assert_eq!(pending.read(), Err(missing));
        // Empty, as a credentials file: still pending.
        std::fs::write(base.join("client.key"), "").unwrap();
        assert_eq!(
            pending.read(),
            Err(format!(
                "tls_config.key_file: {} is empty",
                base.join("client.key").display()
            ))
        );
        // Readable now but not a key: the target fails with what is wrong.
        std::fs::write(base.join("client.key"), "not a key\n").unwrap();
        let e = pending.read().unwrap_err();
        assert!(e.starts_with("tls_config.cert_file: "), "{e}");
        std::fs::write(base.join("client.key"), &key).unwrap();
        let settings = pending.read().expect("readable");
        assert_eq!(settings.tls.ca_pem.as_deref(), Some(ca.as_bytes()));
        let (got_cert, got_key) = settings.tls.client_pem.as_ref().expect("identity");
        assert_eq!(got_cert, cert.as_bytes());
        assert_eq!(got_key.expose(), key.trim_end());
        assert_eq!(settings.url, a.client.url);
        assert!(!format!("{settings:?}").contains(&key));
        // A reload now resolves it: a different target, restarted; b kept.
        let again = Config::from_yaml(TWO, base).unwrap();
        assert_ne!(again.target("a"), c.target("a"));
        assert_eq!(again.target("a").unwrap().client, settings);
        assert_eq!(again.target("b"), c.target("b"));
        assert!(again.unreadable.is_empty());
    }

    /// An unreadable `ca_file` in the defaults fails every target using it,
    /// reported once at the defaults' key; a CA file that is read and is
    /// not PEM stays a problem of the configuration.
    #[test]
    fn an_unreadable_ca_file_fails_its_targets_and_a_bad_one_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let yaml = "defaults:\n  api_key: k\n  tls_config: { ca_file: ca.pem }\ntargets:\n  - { name: a, url: \"https://vpn-a.example.net\" }\n  - { name: b, url: \"https://vpn-b.example.net\" }\n";
        let c = Config::from_yaml(yaml, base).expect("loads");
        let missing = format!(
            "tls_config.ca_file: cannot read {}: No such file or directory (os error 2)",
            base.join("ca.pem").display()
        );
        for t in &c.targets {
            let p = t.pending_tls.as_ref().expect("pending");
            assert_eq!(p.problems(), std::slice::from_ref(&missing));
        }
        assert_eq!(c.unreadable, [format!("defaults.{missing}")]);
        std::fs::write(base.join("ca.pem"), "not PEM\n").unwrap();
        let e = Config::from_yaml(yaml, base).unwrap_err();
        assert_eq!(
            e.problems,
            ["defaults.tls_config.ca_file: no certificate found in the file"]
        );
    }

    /// With a problem of the configuration (a CA file that is not PEM),
    /// the load fails with every problem, the unreadable key file last.
    #[test]
    fn an_unreadable_key_file_is_listed_with_the_configurations_problems() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not PEM\n").unwrap();
        std::fs::write(dir.path().join("c.crt"), identity().0).unwrap();
        let yaml = "targets:\n  - { name: a, url: \"https://vpn-a.example.net\", api_key: k, tls_config: { ca_file: ca.pem, cert_file: c.crt, key_file: c.key } }\n";
        let e = Config::from_yaml(yaml, dir.path()).unwrap_err();
        assert_eq!(
            e.problems,
            [
                "targets[0].tls_config.ca_file: no certificate found in the file".to_owned(),
                format!(
                    "targets[0].tls_config.key_file: cannot read {}: No such file or directory (os error 2)",
                    dir.path().join("c.key").display()
                ),
            ]
        );
    }
}

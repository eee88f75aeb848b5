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

    fn tls(&mut self, path: &str, t: TlsFileConfig) -> Option<TlsSettings> {
        let before = self.problems.len();
        let ca_pem = t
            .ca_file
            .as_ref()
            .and_then(|f| self.read_file(&format!("{path}.ca_file"), f));
        if let Some(pem) = &ca_pem {
            if let Err(e) = tls::parse_ca_pem(pem) {
                self.problem(&format!("{path}.ca_file"), &e);
            }
        }
        let client_pem = match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => {
                let cert = self.read_file(&format!("{path}.cert_file"), c);
                let key = self.read_secret(&format!("{path}.key_file"), k);
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
        (self.problems.len() == before).then_some(TlsSettings {
            ca_pem,
            client_pem,
            server_name: t.server_name,
            insecure_skip_verify: t.insecure_skip_verify,
        })
    }
}

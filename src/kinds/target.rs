//! What a kind receives of a target: its name, its credentials and its own
//! options, typed and parsed once by the kind when the config is loaded.
//! The kinds never see the rest of the configuration.

use super::{epmm, ics, sps};
use crate::secret::Secret;
use std::collections::BTreeMap;

/// How the exporter authenticates to an appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials: only unauthenticated endpoints work (the healthcheck).
    None,
    /// A static API key (HTTP basic auth, key as user, empty password).
    ApiKey(Secret),
    /// A user name and password (`basic_auth`).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// Log in with an admin account (`POST /api/v1/realm_auth`) to get a key.
    RealmAuth {
        /// Admin realm.
        realm: String,
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// A Kerberos principal (`kerberos`), for `Negotiate`.
    Kerberos(std::sync::Arc<super::isec::kerberos::KerberosCredentials>),
}

impl Credentials {
    /// The config block these credentials came from (for "kind X
    /// authenticates with ..." errors).
    pub fn block(&self, from_file: bool) -> Option<&'static str> {
        match self {
            Credentials::None => None,
            Credentials::ApiKey(_) if from_file => Some("api_key_file"),
            Credentials::ApiKey(_) => Some("api_key"),
            Credentials::Basic { .. } => Some("basic_auth"),
            Credentials::RealmAuth { .. } => Some("realm_auth"),
            Credentials::Kerberos(_) => Some("kerberos"),
        }
    }
}

/// A kind's own settings for one target, typed. One variant per kind that
/// has settings; kinds without any use [`Options::None`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Options {
    /// The kind has no settings.
    #[default]
    None,
    /// Connect Secure: paging of active sessions.
    Ics(ics::Options),
    /// One Identity SPS: the session cookie's lifetime.
    Sps(sps::Options),
    /// EPMM: the admin device space.
    Epmm(epmm::Options),
}

/// What the config file says that only the target's kind interprets: the
/// `kind_options` map and the `active_users` block (Connect Secure's
/// paging, kept at the target level so the config format stays as it is).
#[derive(Debug, Clone, Copy)]
pub struct RawOptions<'a> {
    /// `kind_options`; keys were checked against [`super::Kind::option_keys`].
    pub kind_options: &'a BTreeMap<String, String>,
    /// `active_users`.
    pub active_users: Option<&'a ics::ActiveUsersConfig>,
    /// The advisory data (top-level `advisories_file:`, else the built-in).
    pub advisories: &'a std::sync::Arc<crate::advisories::Advisories>,
}

impl RawOptions<'_> {
    /// One `kind_options` value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.kind_options.get(key).map(String::as_str)
    }
}

/// A problem with a kind's option: the path below the target (e.g.
/// `kind_options.session_max_age`) and the message.
pub type OptionProblem = (String, String);

/// One target as its kind sees it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The `target` label (for log lines).
    pub name: String,
    /// How to authenticate.
    pub credentials: Credentials,
    /// The kind's own settings.
    pub options: Options,
}

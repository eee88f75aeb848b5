//! What a kind receives of a target: its name, its credentials and its own
//! options, typed and parsed once by the kind when the config is loaded.
//! The kinds never see the rest of the configuration.

use super::ics;
use crate::secret::Secret;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

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

/// A kind's own settings for one target, typed by the kind
/// ([`super::Kind::parse_options`]) and read back by it with
/// [`Options::get`]; the generic code carries them without knowing their
/// type. Empty for kinds without settings.
#[derive(Clone, Default)]
pub struct Options(Option<Arc<dyn KindOptions>>);

/// What a kind's options type must be: comparable (a changed target is
/// restarted on reload, an unchanged one kept) and printable.
pub trait KindOptions: Any + Send + Sync + std::fmt::Debug {
    /// Equal to `other` (same type and value).
    fn same_as(&self, other: &dyn KindOptions) -> bool;
    /// As `Any`, to read it back.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any + Send + Sync + std::fmt::Debug + PartialEq> KindOptions for T {
    fn same_as(&self, other: &dyn KindOptions) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Options {
    /// A kind's settings.
    pub fn new<T: KindOptions>(options: T) -> Self {
        Options(Some(Arc::new(options)))
    }

    /// The settings, when they are of type `T`.
    pub fn get<T: KindOptions>(&self) -> Option<&T> {
        self.0
            .as_deref()
            .and_then(|o| o.as_any().downcast_ref::<T>())
    }
}

impl PartialEq for Options {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_as(b.as_ref()),
            _ => false,
        }
    }
}

impl Eq for Options {}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Options(none)"),
            Some(o) => o.fmt(f),
        }
    }
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

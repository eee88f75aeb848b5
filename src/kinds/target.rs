//! What a kind receives of a target: its name, its credentials and its own
//! options, typed and parsed once by the kind when the config is loaded.
//! The kinds never see the rest of the configuration.

use crate::secret::Secret;
use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// Credentials only one kind understands, read by it from its own
    /// block ([`super::Kind::parse_credentials`]), e.g. a Kerberos
    /// principal (`kerberos`) for Security Controls.
    Kind {
        /// The block they came from.
        block: &'static str,
        /// Typed by the kind; read back with [`Options::get`].
        value: Options,
    },
}

impl Credentials {
    /// A kind's own credentials ([`Credentials::Kind`]) of type `T`.
    pub fn kind_value<T: KindOptions>(&self) -> Option<&T> {
        match self {
            Credentials::Kind { value, .. } => value.get::<T>(),
            _ => None,
        }
    }

    /// The config block these credentials came from (for "kind X
    /// authenticates with ..." errors).
    pub fn block(&self, from_file: bool) -> Option<&'static str> {
        match self {
            Credentials::None => None,
            Credentials::ApiKey(_) if from_file => Some("api_key_file"),
            Credentials::ApiKey(_) => Some("api_key"),
            Credentials::Basic { .. } => Some("basic_auth"),
            Credentials::RealmAuth { .. } => Some("realm_auth"),
            Credentials::Kind { block, .. } => Some(block),
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
/// `kind_options` map and the target-level blocks the kind declares
/// ([`super::Kind::blocks`], e.g. Connect Secure's `active_users`), as
/// written.
#[derive(Debug, Clone, Copy)]
pub struct RawOptions<'a> {
    /// Where the target is in the file (`targets[3]`), for problems.
    pub at: &'a str,
    /// `kind_options`; keys were checked against [`super::Kind::option_keys`].
    pub kind_options: &'a BTreeMap<String, String>,
    /// The kind's own blocks that the target sets.
    pub blocks: &'a BTreeMap<&'static str, serde_json::Value>,
    /// The advisory data (top-level `advisories_file:`, else the built-in).
    pub advisories: &'a std::sync::Arc<crate::advisories::Advisories>,
}

impl RawOptions<'_> {
    /// One `kind_options` value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.kind_options.get(key).map(String::as_str)
    }

    /// One of the kind's blocks, decoded strictly ([`decode_block`]).
    pub fn block<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        known: &[&str],
        cx: &mut dyn ConfigContext,
    ) -> Option<Option<T>> {
        match self.blocks.get(name) {
            None => Some(None),
            Some(v) => decode_block(&format!("{}.{name}", self.at), v, known, cx).map(Some),
        }
    }
}

/// What a kind may ask of the configuration while it reads its own
/// settings: problems reported at their path, files resolved against the
/// config's directory, secrets read. The config implements it; the kind
/// never sees the config itself.
pub trait ConfigContext {
    /// Record a problem at `path` (e.g. `targets[0].kerberos.principal`).
    fn problem(&mut self, path: &str, message: &str);
    /// A key a block does not know, reported as the config's own unknown
    /// keys are (with the closest known one suggested).
    fn unknown_key(&mut self, path: &str, key: &str, known: &[&str]);
    /// A file named in the config (relative to its directory).
    fn read_file(&mut self, path: &str, file: &Path) -> Option<Vec<u8>>;
    /// A credentials file (a keytab): one that cannot be read, or is
    /// empty, fails only the target, which reads it again at every poll.
    fn read_credential_file(&mut self, path: &str, file: &Path) -> Option<Vec<u8>>;
    /// Where a file named in the config is (for messages).
    fn full_path(&self, file: &Path) -> PathBuf;
    /// A password, inline (`password`) or from a file (`password_file`);
    /// exactly one of them.
    fn password(
        &mut self,
        path: &str,
        inline: &Option<Secret>,
        file: &Option<PathBuf>,
    ) -> Option<Secret>;
}

/// A block as written, decoded into the kind's type: unknown keys are
/// problems (as everywhere in the config), then serde's own checks.
pub fn decode_block<T: serde::de::DeserializeOwned>(
    at: &str,
    value: &serde_json::Value,
    known: &[&str],
    cx: &mut dyn ConfigContext,
) -> Option<T> {
    if let Some(map) = value.as_object() {
        let unknown: Vec<&String> = map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        for key in &unknown {
            cx.unknown_key(&format!("{at}.{key}"), key, known);
        }
        if !unknown.is_empty() {
            return None;
        }
    }
    serde_json::from_value(value.clone())
        .map_err(|e| cx.problem(at, &e.to_string()))
        .ok()
}

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

//! The file as written: what `serde` decodes, strictly (unknown keys are
//! errors). Nothing here is validated yet; see `validate`.

use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `tls_config`, with Prometheus' names.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    /// CA certificates (PEM) to trust instead of the system trust store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for appliances that require one.
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM).
    pub key_file: Option<PathBuf>,
    /// Name to verify the appliance's certificate against, instead of the URL's host.
    pub server_name: Option<String>,
    /// Accept any certificate. Logs a warning once per target.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl TlsFileConfig {
    /// Keys this one does not set come from `base`.
    fn inherit(&mut self, base: &TlsFileConfig) {
        if self.ca_file.is_none() {
            self.ca_file.clone_from(&base.ca_file);
        }
        if self.cert_file.is_none() && self.key_file.is_none() {
            self.cert_file.clone_from(&base.cert_file);
            self.key_file.clone_from(&base.key_file);
        }
        if self.server_name.is_none() {
            self.server_name.clone_from(&base.server_name);
        }
        // insecure_skip_verify is not inherited: a target with its own
        // tls_config is verified unless it says otherwise.
    }
}

/// `realm_auth`: an admin login that yields an API key.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RealmAuthFileConfig {
    /// The admin realm, e.g. "Admin Users".
    pub realm: Option<String>,
    /// Admin user name.
    pub username: Option<String>,
    /// Password, inline.
    pub password: Option<Secret>,
    /// Password, read from a file.
    pub password_file: Option<PathBuf>,
}

/// `basic_auth`: a user name and password (SPS, EPMM logins; NTLM for
/// Security Controls with `DOMAIN\\user` as the user name).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthFileConfig {
    /// User name.
    pub username: Option<String>,
    /// Password, inline.
    pub password: Option<Secret>,
    /// Password, read from a file.
    pub password_file: Option<PathBuf>,
}

/// A size in bytes: an integer or a string with a unit (`512KiB`, `8MiB`, `8MB`; base 2 like Prometheus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n as usize)),
            Raw::S(s) => parse_byte_size(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn parse_byte_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected e.g. 8MiB"))?;
    let mult: usize = match unit.trim() {
        "" | "B" => 1,
        "KB" | "KiB" | "K" => 1 << 10,
        "MB" | "MiB" | "M" => 1 << 20,
        "GB" | "GiB" | "G" => 1 << 30,
        u => {
            return Err(format!(
                "invalid size unit {u:?} in {s:?}: use B, KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} too large"))
}

// The keys allowed both in `defaults:` and in each target, declared once.
macro_rules! target_options {
    ($($(#[$meta:meta])* $field:ident : $ty:ty),* $(,)?) => {
        /// `defaults:` — merged into every target.
        #[derive(Debug, Clone, Default, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct Defaults {
            $($(#[$meta])* #[serde(default)] pub $field: Option<$ty>,)*
        }

        /// One entry of `targets:`.
        #[derive(Debug, Clone, Default, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct TargetEntry {
            /// Unique name: the `target` label and the `/probe?target=` value.
            pub name: String,
            /// Base URL of the appliance, e.g. `https://vpn-fra-1.example.net`.
            pub url: String,
            /// Appliance kind; `ics` (Connect Secure and Policy Secure) by default.
            #[serde(default)]
            pub kind: Option<String>,
            $($(#[$meta])* #[serde(default)] pub $field: Option<$ty>,)*
        }

        impl TargetEntry {
            pub(super) fn merge_defaults(mut self, d: &Defaults) -> Self {
                // A target's own tls_config refines the defaults' key by
                // key (a server_name per box keeps the fleet's ca_file).
                if let (Some(own), Some(base)) = (&mut self.tls_config, &d.tls_config) {
                    own.inherit(base);
                }
                $(if self.$field.is_none() { self.$field = d.$field.clone(); })*
                self
            }

            /// The keys this target takes from `d` (it sets none of them itself).
            pub(super) fn inherited(&self, d: &Defaults) -> Vec<&'static str> {
                let mut keys = Vec::new();
                $(if self.$field.is_none() && d.$field.is_some() { keys.push(stringify!($field)); })*
                keys
            }
        }
    };
}

target_options! {
    /// Default poll interval for every collector.
    #[serde(with = "humantime_serde")]
    interval: Duration,
    /// Timeout of one request, body included.
    #[serde(with = "humantime_serde")]
    timeout: Duration,
    /// Collectors to run.
    collectors: Vec<String>,
    /// Per-collector intervals, e.g. `{license: 10m}`.
    collector_intervals: BTreeMap<String, humantime_serde::Serde<Duration>>,
    /// TLS settings.
    tls_config: TlsFileConfig,
    /// API key, inline.
    api_key: Secret,
    /// API key, read from a file.
    api_key_file: PathBuf,
    /// Log in with an admin account to obtain a key.
    realm_auth: RealmAuthFileConfig,
    /// User name and password, for kinds that log in with them.
    basic_auth: BasicAuthFileConfig,
    /// A Kerberos principal (kind `isec`): read by the kind.
    kerberos: serde_json::Value,
    /// Settings only one kind understands, e.g. `{admin_device_space_id: "1"}`.
    kind_options: BTreeMap<String, String>,
    /// Explicit HTTP(S) proxy; environment proxies are never used.
    proxy_url: String,
    /// Requests in flight at once to this appliance.
    max_concurrent_requests: usize,
    /// Largest response body accepted.
    body_size_limit: ByteSize,
    /// Paging of active sessions (kind `ics`): read by the kind.
    active_users: serde_json::Value,
    /// Static labels added to every series of the target.
    labels: BTreeMap<String, String>,
}

impl TargetEntry {
    /// The target-level blocks that only a kind reads
    /// ([`crate::kinds::Kind::blocks`]), by name, as written.
    pub(super) fn kind_blocks(&self) -> Vec<(&'static str, &serde_json::Value)> {
        [
            ("active_users", &self.active_users),
            ("kerberos", &self.kerberos),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| (name, v)))
        .collect()
    }
}

/// `global:` — settings of the daemon itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalFileConfig {
    /// Polls in flight at once, over all targets.
    pub max_concurrent_polls: Option<usize>,
    /// After this many failed polls in a row, a collector's series are dropped.
    pub stale_after: Option<u32>,
}

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Daemon settings.
    #[serde(default)]
    pub global: GlobalFileConfig,
    /// Merged into every target.
    #[serde(default)]
    pub defaults: Defaults,
    /// The appliances.
    #[serde(default)]
    pub targets: Vec<TargetEntry>,
    /// More targets from files (globs, relative to this file): YAML or JSON
    /// lists of target entries, re-read when they change and on reload.
    #[serde(default)]
    pub target_files: Vec<String>,
    /// A replacement for the built-in advisory data (firmware security
    /// posture), relative to this file; validated at load.
    #[serde(default)]
    pub advisories_file: Option<PathBuf>,
    /// The syslog receiver (issue 24); off when absent.
    #[serde(default)]
    pub syslog: Option<crate::syslog::config::SyslogFileConfig>,
}

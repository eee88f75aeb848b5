//! The configuration file: YAML (or TOML, by extension), environment
//! overrides `IVANTI_EXPORTER_<SECTION>__<KEY>`, defaults merged into every
//! target (the target's own keys win; `labels` are merged key by key), then
//! validated into [`Config`], whose targets carry everything resolved: files
//! read, URLs parsed, collectors looked up in their [`Kind`].
//!
//! Decoding is strict: an unknown key is an error. Every problem is reported
//! with its path in the file (`targets[3].url: relative URL without a base`),
//! all of them at once, decoding errors included (`decode`). A credentials
//! file that cannot be read fails its target only
//! ([`TargetConfig::pending`]), and so does a `tls_config` file
//! ([`TargetConfig::pending_tls`]); a file that is read and is not what it
//! should be (not PEM, a key that does not fit) is a problem of the
//! configuration.
//!
//! Files: this one (the resolved model), `file` (the schema as written),
//! `decode` (every decoding problem, not serde's first), `load` (reading,
//! environment, `target_files`, sharding), `validate` (one target at a
//! time), `auth` (credentials), `connection` (URL, TLS, proxy: the client's
//! [`client::Settings`]), `service` (what a `DynamicUser` service could not
//! read).

use crate::client;
use crate::kinds::{CollectorSpec, Kind, Options, Target};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod auth;
mod connection;
mod decode;
mod file;
mod load;
mod service;
mod suggest;
mod validate;

pub use crate::kinds::Credentials;
pub use auth::PendingCredentials;
pub use connection::PendingTls;
pub use file::{
    BasicAuthFileConfig, ByteSize, Defaults, FileConfig, GlobalFileConfig, RealmAuthFileConfig,
    TargetEntry, TlsFileConfig,
};
pub use load::{shard_of, target_files_fingerprint, Checked};

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default `timeout` (whole request, body included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `body_size_limit`: 8 MiB (a 10,000-session page is about 5 MiB).
pub const DEFAULT_BODY_SIZE_LIMIT: usize = 8 << 20;
/// Default `global.max_concurrent_polls`.
pub const DEFAULT_MAX_CONCURRENT_POLLS: usize = 128;
/// Default `global.stale_after`.
pub const DEFAULT_STALE_AFTER: u32 = 3;

/// Problems found in a configuration, each with its path in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(p)?;
        }
        Ok(())
    }
}

/// One collector of a target and its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    /// What the kind says about it.
    pub spec: &'static CollectorSpec,
    /// How often it runs.
    pub interval: Duration,
}

/// A fully resolved target. The scheduler compares targets with `==` to
/// decide whether a reload restarts one, so every field takes part.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetConfig {
    /// Unique name (`target` label).
    pub name: String,
    /// Its kind.
    pub kind: &'static dyn Kind,
    /// Static labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Collectors with their intervals.
    pub collectors: Vec<CollectorConfig>,
    /// The target's `interval`: first polls fall within it, failed polls
    /// are retried at it, whatever the collectors' own intervals.
    pub interval: Duration,
    /// What the HTTP client needs: URL, timeout, body cap, TLS, proxy.
    pub client: client::Settings,
    /// Credentials (`None` while `pending`).
    pub credentials: Credentials,
    /// Set when a credentials file could not be read at load: the target
    /// fails with reason `credentials` and reads it again at every poll.
    pub pending: Option<Arc<PendingCredentials>>,
    /// Set when a `tls_config` file could not be read at load: `client`
    /// then holds no TLS file, no HTTP client is built from it, and every
    /// collector of the target fails with reason `credentials` until the
    /// files can be read ([`PendingTls`]).
    pub pending_tls: Option<Arc<PendingTls>>,
    /// The kind's own settings (`kind_options`, `active_users`), parsed by the kind.
    pub options: Options,
}

impl TargetConfig {
    /// What the target's kind receives of it.
    pub fn kind_target(&self) -> Target {
        Target {
            name: self.name.clone(),
            credentials: self.credentials.clone(),
            options: self.options.clone(),
        }
    }

    /// Settings that work but that an operator should know about, logged
    /// when the target starts.
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut w = Vec::new();
        if self.client.tls.insecure_skip_verify {
            w.push("tls_config.insecure_skip_verify is set: the appliance's certificate is not verified");
        }
        if self.client.url.scheme() == "http"
            && (self.credentials != Credentials::None || self.pending.is_some())
        {
            w.push("credentials are sent over plain HTTP");
        }
        w
    }

    /// The shortest interval among its collectors.
    pub fn min_interval(&self) -> Duration {
        self.collectors
            .iter()
            .map(|c| c.interval)
            .min()
            .unwrap_or(DEFAULT_INTERVAL)
            .min(self.interval)
    }
}

/// Daemon-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    /// Polls in flight at once over all targets.
    pub max_concurrent_polls: usize,
    /// Failed polls in a row after which a collector's series are dropped.
    pub stale_after: u32,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            max_concurrent_polls: DEFAULT_MAX_CONCURRENT_POLLS,
            stale_after: DEFAULT_STALE_AFTER,
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Daemon settings.
    pub global: GlobalConfig,
    /// Targets in file order.
    pub targets: Vec<Arc<TargetConfig>>,
    /// `target_files` patterns, absolute.
    pub target_file_patterns: Vec<PathBuf>,
    /// The advisory data: `advisories_file`, else the built-in.
    pub advisories: Arc<crate::advisories::Advisories>,
    /// The syslog receiver's settings, when the file has a `syslog:` block.
    pub syslog: Option<crate::syslog::config::SyslogConfig>,
    /// Credentials and TLS files that cannot be read, with their path in the file
    /// (`targets[1].api_key_file: cannot read ...`): their targets are
    /// [`TargetConfig::pending`] or [`TargetConfig::pending_tls`];
    /// `check-config` reports them as problems.
    pub unreadable: Vec<String>,
}

/// How files named in the configuration are found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// What `${CREDENTIALS_DIRECTORY}` at the start of a path stands for:
    /// the daemon takes it from the environment (systemd sets it for a
    /// service with `LoadCredential=`), `check-config` from
    /// `--credentials-directory`.
    pub credentials_directory: Option<PathBuf>,
    /// Checking as the service will (`check-config`): with a credentials
    /// directory, `/run/credentials/<unit>/NAME` is looked for there, and a
    /// file that only root can read is reported (a `DynamicUser` service
    /// could not).
    pub as_service: bool,
}

impl LoadOptions {
    /// The daemon's: `$CREDENTIALS_DIRECTORY` from the environment.
    pub fn from_env() -> LoadOptions {
        LoadOptions {
            credentials_directory: std::env::var_os("CREDENTIALS_DIRECTORY")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            as_service: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            global: GlobalConfig::default(),
            targets: Vec::new(),
            target_file_patterns: Vec::new(),
            advisories: crate::advisories::Advisories::builtin(),
            syslog: None,
            unreadable: Vec::new(),
        }
    }
}

impl Config {
    /// A target by name.
    pub fn target(&self, name: &str) -> Option<&Arc<TargetConfig>> {
        self.targets.iter().find(|t| t.name == name)
    }
}

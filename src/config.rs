//! The configuration file: YAML (or TOML, by extension), environment
//! overrides `IVANTI_EXPORTER_<SECTION>__<KEY>`, defaults merged into every
//! target (the target's own keys win; `labels` are merged key by key), then
//! validated into [`Config`], whose targets carry everything resolved: files
//! read, URLs parsed, collectors looked up in their [`Kind`].
//!
//! Decoding is strict: an unknown key is an error. Every problem is reported
//! with its path in the file (`targets[3].url: relative URL without a base`),
//! all of them at once.

use crate::exposition::Desc;
use crate::kinds::{self, CollectorSpec, Kind};
use crate::secret::Secret;
use crate::tls::{self, TlsSettings};
use figment::providers::{Env, Format as _, Toml, Yaml};
use figment::Figment;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Default `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default `timeout` (whole request, body included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `body_size_limit`: 8 MiB (a 10,000-session page is about 5 MiB).
pub const DEFAULT_BODY_SIZE_LIMIT: usize = 8 << 20;
/// Default `active_users.page_size` (the firmware's own default and cap).
pub const DEFAULT_PAGE_SIZE: usize = 200;
/// Default `active_users.max_records`.
pub const DEFAULT_MAX_RECORDS: usize = 10_000;
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

/// `tls_config`, with Prometheus' names.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    /// CA certificates (PEM) to trust instead of the built-in web PKI roots.
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

/// `active_users`: how sessions are paged for the breakdowns.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ActiveUsersFileConfig {
    /// Records per request (`number=`); some firmware caps it at 200.
    pub page_size: Option<usize>,
    /// At most this many records are read per poll for the breakdowns; 0 reads only the total.
    pub max_records: Option<usize>,
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
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Defaults {
            $($(#[$meta])* #[serde(default)] pub $field: Option<$ty>,)*
        }

        /// One entry of `targets:`.
        #[derive(Debug, Clone, Default, Deserialize)]
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
            fn merge_defaults(mut self, d: &Defaults) -> Self {
                $(if self.$field.is_none() { self.$field = d.$field.clone(); })*
                self
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
    /// Settings only one kind understands, e.g. `{admin_device_space_id: "1"}`.
    kind_options: BTreeMap<String, String>,
    /// Explicit HTTP(S) proxy; environment proxies are never used.
    proxy_url: String,
    /// Requests in flight at once to this appliance.
    max_concurrent_requests: usize,
    /// Largest response body accepted.
    body_size_limit: ByteSize,
    /// Paging of active sessions.
    active_users: ActiveUsersFileConfig,
    /// Static labels added to every series of the target.
    labels: BTreeMap<String, String>,
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
}

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
}

/// One collector of a target and its interval.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// What the kind says about it.
    pub spec: &'static CollectorSpec,
    /// How often it runs.
    pub interval: Duration,
}

impl PartialEq for CollectorConfig {
    fn eq(&self, other: &Self) -> bool {
        self.spec.name == other.spec.name && self.interval == other.interval
    }
}

/// A fully resolved target.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Unique name (`target` label).
    pub name: String,
    /// Base URL, without a trailing slash.
    pub url: Url,
    /// Its kind.
    pub kind: &'static dyn Kind,
    /// Static labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Collectors with their intervals.
    pub collectors: Vec<CollectorConfig>,
    /// The target's `interval`: first polls fall within it, failed polls
    /// are retried at it, whatever the collectors' own intervals.
    pub interval: Duration,
    /// Request timeout.
    pub timeout: Duration,
    /// Credentials.
    pub credentials: Credentials,
    /// TLS.
    pub tls: TlsSettings,
    /// Explicit proxy.
    pub proxy_url: Option<Url>,
    /// Requests in flight at once to this appliance.
    pub max_concurrent_requests: usize,
    /// Largest body accepted, bytes.
    pub body_size_limit: usize,
    /// Active sessions page size.
    pub page_size: usize,
    /// Active sessions read at most per poll.
    pub max_records: usize,
    /// `kind_options`, checked against what the kind accepts.
    pub options: BTreeMap<String, String>,
}

impl PartialEq for TargetConfig {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.url == o.url
            && self.kind.name() == o.kind.name()
            && self.labels == o.labels
            && self.collectors == o.collectors
            && self.interval == o.interval
            && self.timeout == o.timeout
            && self.credentials == o.credentials
            && self.tls == o.tls
            && self.proxy_url == o.proxy_url
            && self.max_concurrent_requests == o.max_concurrent_requests
            && self.body_size_limit == o.body_size_limit
            && self.page_size == o.page_size
            && self.max_records == o.max_records
            && self.options == o.options
    }
}

impl TargetConfig {
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
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Daemon settings.
    pub global: GlobalConfig,
    /// Targets in file order.
    pub targets: Vec<Arc<TargetConfig>>,
    /// `target_files` patterns, absolute.
    pub target_file_patterns: Vec<PathBuf>,
}

impl Config {
    /// Read, merge with the environment, and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError {
                problems: vec![format!("{}: no such file", path.display())],
            });
        }
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let figment = if is_toml {
            Figment::from(Toml::file_exact(path))
        } else {
            Figment::from(Yaml::file_exact(path))
        };
        // Only `SECTION__KEY` variables are config overrides; any other
        // IVANTI_EXPORTER_* variable in the environment is not ours to reject.
        let figment = figment.merge(
            Env::prefixed("IVANTI_EXPORTER_")
                .split("__")
                .filter(|k| k.as_str().contains('.')),
        );
        let mut file: FileConfig = figment.extract().map_err(figment_problems)?;
        let base = path.parent().unwrap_or(Path::new("."));
        // Targets from target_files follow the inline ones; problems in them
        // are reported with their file and index.
        let mut origins: Vec<String> = (0..file.targets.len())
            .map(|i| format!("targets[{i}]"))
            .collect();
        let mut problems = Vec::new();
        let patterns: Vec<PathBuf> = file.target_files.iter().map(|p| base.join(p)).collect();
        for file_path in target_files(&patterns, &mut problems) {
            let text = match std::fs::read_to_string(&file_path) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("{}: {e}", file_path.display()));
                    continue;
                }
            };
            match serde_yaml::from_str::<Option<Vec<TargetEntry>>>(&text) {
                Ok(entries) => {
                    for (j, e) in entries.unwrap_or_default().into_iter().enumerate() {
                        origins.push(format!("{}[{j}]", file_path.display()));
                        file.targets.push(e);
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", file_path.display())),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let mut config = Config::from_file(file, base).map_err(|mut e| {
            for p in &mut e.problems {
                if let Some(rest) = p.strip_prefix("targets[") {
                    if let Some((idx, tail)) = rest.split_once(']') {
                        if let Some(origin) = idx.parse::<usize>().ok().and_then(|k| origins.get(k))
                        {
                            *p = format!("{origin}{tail}");
                        }
                    }
                }
            }
            e
        })?;
        config.target_file_patterns = patterns;
        Ok(config)
    }

    /// Parse YAML text (no environment), resolving relative paths against `base`.
    pub fn from_yaml(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let file: FileConfig = Figment::from(Yaml::string(text))
            .extract()
            .map_err(figment_problems)?;
        Config::from_file(file, base)
    }

    /// Validate a decoded file.
    pub fn from_file(file: FileConfig, base: &Path) -> Result<Config, ConfigError> {
        let mut v = Validator {
            problems: Vec::new(),
            base,
        };
        let global = GlobalConfig {
            max_concurrent_polls: file
                .global
                .max_concurrent_polls
                .unwrap_or(DEFAULT_MAX_CONCURRENT_POLLS),
            stale_after: file.global.stale_after.unwrap_or(DEFAULT_STALE_AFTER),
        };
        if global.max_concurrent_polls == 0 {
            v.problem("global.max_concurrent_polls", "must be at least 1");
        }
        if global.stale_after == 0 {
            v.problem("global.stale_after", "must be at least 1");
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut targets = Vec::with_capacity(file.targets.len());
        for (i, entry) in file.targets.into_iter().enumerate() {
            let at = format!("targets[{i}]");
            if let Some(first) = seen.get(&entry.name) {
                v.problem(
                    &format!("{at}.name"),
                    &format!("duplicate name {:?} (also targets[{first}])", entry.name),
                );
            } else {
                seen.insert(entry.name.clone(), i);
            }
            let defaults_labels = file.defaults.labels.clone().unwrap_or_default();
            // Credentials are one group: a target that sets any of them
            // takes none from the defaults (its realm_auth replaces a default api_key_file).
            let own_credentials = entry.api_key.is_some()
                || entry.api_key_file.is_some()
                || entry.realm_auth.is_some()
                || entry.basic_auth.is_some();
            let mut d = file.defaults.clone();
            if own_credentials {
                d.api_key = None;
                d.api_key_file = None;
                d.realm_auth = None;
                d.basic_auth = None;
            }
            // A default collector list written for other kinds (a mixed
            // fleet) leaves this target with its own kind's defaults.
            let kind = kinds::kind(entry.kind.as_deref().unwrap_or("ics"));
            if let (Some(k), Some(list)) = (kind, &d.collectors) {
                if !list
                    .iter()
                    .any(|n| k.collectors().iter().any(|c| c.name == n))
                {
                    d.collectors = None;
                }
            }
            let mut entry = entry.merge_defaults(&d);
            let mut labels = defaults_labels;
            labels.extend(entry.labels.take().unwrap_or_default());
            entry.labels = Some(labels);
            if let Some(t) = v.target(&at, entry) {
                targets.push(Arc::new(t));
            }
        }
        if v.problems.is_empty() {
            Ok(Config {
                global,
                targets,
                target_file_patterns: Vec::new(),
            })
        } else {
            Err(ConfigError {
                problems: v.problems,
            })
        }
    }

    /// A target by name.
    pub fn target(&self, name: &str) -> Option<&Arc<TargetConfig>> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// A fingerprint of the files the `target_files` patterns match now (paths,
/// sizes, modification times): when it changes, the configuration is reloaded.
pub fn target_files_fingerprint(patterns: &[PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    for p in target_files(patterns, &mut Vec::new()) {
        p.hash(&mut h);
        if let Ok(m) = std::fs::metadata(&p) {
            m.len().hash(&mut h);
            m.modified().ok().hash(&mut h);
        }
    }
    h.finish()
}

/// The files the patterns match, sorted, without duplicates.
fn target_files(patterns: &[PathBuf], problems: &mut Vec<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        match glob::glob(&p.to_string_lossy()) {
            Ok(paths) => out.extend(paths.flatten().filter(|p| p.is_file())),
            Err(e) => problems.push(format!("target_files: {}: {e}", p.display())),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The shard (0..count) a target belongs to: FNV-1a of its name, stable
/// across versions and machines, so N replicas split one inventory with no
/// overlap and no gap.
pub fn shard_of(name: &str, count: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(count.max(1))) as u32
}

fn figment_problems(err: figment::Error) -> ConfigError {
    let problems = err
        .into_iter()
        .map(|e| {
            let mut path = String::new();
            for part in &e.path {
                if part.parse::<usize>().is_ok() {
                    path.push_str(&format!("[{part}]"));
                } else {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(part);
                }
            }
            let source = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .map(|s| format!(" (in {s})"))
                .unwrap_or_default();
            if path.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("{path}: {}{source}", e.kind)
            }
        })
        .collect();
    ConfigError { problems }
}

/// Label names the exporter itself uses (a static label must not collide),
/// plus Prometheus' own target labels, which Prometheus would rename.
fn reserved_label_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = vec!["target", "collector", "reason", "job", "instance"];
    let descs: Vec<&'static Desc> = kinds::all_collector_metrics();
    for d in descs {
        names.extend(d.labels.iter().copied());
    }
    names.sort_unstable();
    names.dedup();
    names
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

struct Validator<'a> {
    problems: Vec<String>,
    base: &'a Path,
}

impl Validator<'_> {
    fn problem(&mut self, path: &str, msg: &str) {
        self.problems.push(format!("{path}: {msg}"));
    }

    fn read_file(&mut self, path: &str, file: &Path) -> Option<Vec<u8>> {
        let full = self.base.join(file);
        match std::fs::read(&full) {
            Ok(b) => Some(b),
            Err(e) => {
                self.problem(path, &format!("cannot read {}: {e}", full.display()));
                None
            }
        }
    }

    fn read_secret(&mut self, path: &str, file: &Path) -> Option<Secret> {
        let bytes = self.read_file(path, file)?;
        match String::from_utf8(bytes) {
            Ok(s) if !s.trim().is_empty() => Some(Secret::new(s)),
            Ok(_) => {
                self.problem(path, &format!("{} is empty", file.display()));
                None
            }
            Err(_) => {
                self.problem(path, &format!("{} is not UTF-8 text", file.display()));
                None
            }
        }
    }

    fn target(&mut self, at: &str, e: TargetEntry) -> Option<TargetConfig> {
        let before = self.problems.len();
        if e.name.trim().is_empty() {
            self.problem(&format!("{at}.name"), "must not be empty");
        } else if e.name.chars().any(|c| c.is_control()) {
            self.problem(&format!("{at}.name"), "must not contain control characters");
        }
        let url = self.url(&format!("{at}.url"), &e.url);
        let kind_name = e.kind.as_deref().unwrap_or("ics");
        let kind = kinds::kind(kind_name);
        if kind.is_none() {
            let known: Vec<_> = kinds::KINDS.iter().map(|k| k.name()).collect();
            self.problem(
                &format!("{at}.kind"),
                &format!("unknown kind {kind_name:?} (known: {})", known.join(", ")),
            );
        }
        let interval = e.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_secs(1) {
            self.problem(&format!("{at}.interval"), "must be at least 1s");
        }
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
        let collectors = kind.map(|k| self.collectors(at, k, &e, interval));
        let credentials = self.credentials(at, &e);
        if let (Some(k), Some(c)) = (kind, &credentials) {
            let given = match c {
                Credentials::None => None,
                Credentials::ApiKey(_) if e.api_key_file.is_some() => Some("api_key_file"),
                Credentials::ApiKey(_) => Some("api_key"),
                Credentials::Basic { .. } => Some("basic_auth"),
                Credentials::RealmAuth { .. } => Some("realm_auth"),
            };
            if let Some(given) = given {
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
        let options = e.kind_options.clone().unwrap_or_default();
        if let Some(k) = kind {
            for (key, value) in &options {
                if k.options().contains(&key.as_str()) {
                    if let Err(e) = k.check_option(key, value) {
                        self.problem(&format!("{at}.kind_options.{key}"), &e);
                    }
                } else {
                    let known = if k.options().is_empty() {
                        "none".to_owned()
                    } else {
                        k.options().join(", ")
                    };
                    self.problem(
                        &format!("{at}.kind_options.{key}"),
                        &format!("unknown option for kind {} (known: {known})", k.name()),
                    );
                }
            }
        }
        let tls = self.tls(
            &format!("{at}.tls_config"),
            e.tls_config.unwrap_or_default(),
        );
        let proxy_url = e.proxy_url.as_deref().and_then(|p| {
            let path = format!("{at}.proxy_url");
            match Url::parse(p) {
                Ok(u) if u.scheme() == "http" && u.host().is_some() => Some(u),
                Ok(u) if u.scheme() == "http" => {
                    self.problem(&path, "has no host");
                    None
                }
                Ok(u) => {
                    self.problem(
                        &path,
                        &format!(
                            "unsupported scheme {:?}: an http:// proxy (HTTPS targets are tunnelled with CONNECT)",
                            u.scheme()
                        ),
                    );
                    None
                }
                Err(err) => {
                    self.problem(&path, &err.to_string());
                    None
                }
            }
        });
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
        let au = e.active_users.unwrap_or_default();
        let page_size = au.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=10_000).contains(&page_size) {
            self.problem(
                &format!("{at}.active_users.page_size"),
                "must be between 1 and 10000",
            );
        }
        let max_records = au.max_records.unwrap_or(DEFAULT_MAX_RECORDS);
        let reserved = reserved_label_names();
        let mut labels = Vec::new();
        for (k, val) in e.labels.unwrap_or_default() {
            let path = format!("{at}.labels.{k}");
            if !valid_label_name(&k) {
                self.problem(
                    &path,
                    "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)",
                );
            } else if reserved.contains(&k.as_str()) {
                self.problem(
                    &path,
                    "label name is used by the exporter or by Prometheus itself; choose another",
                );
            } else {
                labels.push((k, val));
            }
        }
        if self.problems.len() > before {
            return None;
        }
        Some(TargetConfig {
            name: e.name,
            url: url?,
            kind: kind?,
            labels,
            collectors: collectors??,
            interval,
            timeout,
            credentials: credentials?,
            tls: tls?,
            proxy_url,
            max_concurrent_requests,
            body_size_limit,
            page_size,
            max_records,
            options,
        })
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

    fn collectors(
        &mut self,
        at: &str,
        kind: &'static dyn Kind,
        e: &TargetEntry,
        interval: Duration,
    ) -> Option<Vec<CollectorConfig>> {
        let specs = kind.collectors();
        let names: Vec<String> = match &e.collectors {
            Some(list) => list.clone(),
            None => specs
                .iter()
                .filter(|s| s.default_enabled)
                .map(|s| s.name.to_owned())
                .collect(),
        };
        let known = || specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
        // In a fleet mixing kinds, shared settings name the collectors of
        // every kind: another kind's collector is not for this target.
        let other_kind = |name: &str| {
            kinds::KINDS
                .iter()
                .any(|k| k.name() != kind.name() && k.collectors().iter().any(|c| c.name == name))
        };
        let mut out: Vec<CollectorConfig> = Vec::new();
        let mut ok = true;
        for (i, name) in names.iter().enumerate() {
            let path = format!("{at}.collectors[{i}]");
            match specs.iter().find(|s| s.name == name) {
                None if other_kind(name) => {}
                None => {
                    self.problem(
                        &path,
                        &format!(
                            "unknown collector {name:?} for kind {} (known: {})",
                            kind.name(),
                            known()
                        ),
                    );
                    ok = false;
                }
                Some(_) if out.iter().any(|c| c.spec.name == name) => {
                    self.problem(&path, &format!("{name:?} listed twice"));
                    ok = false;
                }
                Some(spec) => out.push(CollectorConfig {
                    spec,
                    interval: spec.default_interval.map_or(interval, |d| d.max(interval)),
                }),
            }
        }
        if ok && out.is_empty() && !names.is_empty() {
            self.problem(
                &format!("{at}.collectors"),
                &format!(
                    "none of these collectors is one of kind {} (known: {})",
                    kind.name(),
                    known()
                ),
            );
            ok = false;
        }
        for (name, d) in e.collector_intervals.iter().flatten() {
            let path = format!("{at}.collector_intervals.{name}");
            let d = d.into_inner();
            if !specs.iter().any(|s| s.name == name) {
                if !other_kind(name) {
                    self.problem(&path, &format!("unknown collector (known: {})", known()));
                    ok = false;
                }
            } else if d < Duration::from_secs(1) {
                self.problem(&path, "must be at least 1s");
                ok = false;
            } else if let Some(c) = out.iter_mut().find(|c| c.spec.name == name) {
                c.interval = d;
            }
        }
        ok.then_some(out)
    }

    fn credentials(&mut self, at: &str, e: &TargetEntry) -> Option<Credentials> {
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

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn shards_are_balanced_and_stable() {
        // 3,000 appliances over 3 replicas: each within ±10 % of a third.
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            counts[shard_of(&format!("vpn-{i:04}.example.net"), 3) as usize] += 1;
        }
        for c in counts {
            assert!((900..=1100).contains(&c), "{counts:?}");
        }
        // FNV-1a is fixed: the same name lands on the same shard in every build.
        assert_eq!(shard_of("vpn-fra-1", 3), shard_of("vpn-fra-1", 3));
        assert_eq!(shard_of("a", 1), 0);
    }
}

//! Reading a configuration: the file (YAML, or TOML by extension), the
//! environment's overrides, `target_files`, defaults merged into targets;
//! then every target validated. Also the shard a target belongs to.

use super::decode;
use super::file::FileConfig;
use super::validate::Validator;
use super::{
    Config, ConfigError, GlobalConfig, LoadOptions, DEFAULT_MAX_CONCURRENT_POLLS,
    DEFAULT_STALE_AFTER,
};
use crate::kinds;
use figment::providers::{Env, Format as _, Toml, Yaml};
use figment::Figment;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `check-config` found: the configuration and what it says about
/// files the service could not read.
#[derive(Debug)]
pub struct Checked {
    /// The configuration.
    pub config: Config,
    /// Files read here that the service could not read.
    pub warnings: Vec<String>,
}

impl Config {
    /// Read, merge with the environment, and validate a config file, as
    /// the daemon does: a credentials file that cannot be read fails its
    /// target only ([`Config::unreadable`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, &LoadOptions::from_env()).map(|(c, _)| c)
    }

    /// `check-config`: every problem, unreadable credentials files
    /// included, looked for as the service will ([`LoadOptions`]).
    pub fn check(path: &Path, options: &LoadOptions) -> Result<Checked, ConfigError> {
        let (config, warnings) = Config::load_with(path, options)?;
        if config.unreadable.is_empty() {
            return Ok(Checked { config, warnings });
        }
        // The only problems: say what the service does with them.
        let problems = config
            .unreadable
            .iter()
            .map(|p| {
                format!("{p} (the exporter starts; the targets using it fail with reason credentials until it can be read)")
            })
            .collect();
        Err(ConfigError { problems })
    }

    fn load_with(path: &Path, options: &LoadOptions) -> Result<(Config, Vec<String>), ConfigError> {
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
        let mut decoded = decode::file(&figment).map_err(|problems| ConfigError { problems })?;
        // Relative paths in the file are relative to its directory, and
        // are shown resolved in messages (`certs/ca.pem` missing names
        // /etc/ivanti-exporter/certs/ca.pem).
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let base = absolute.as_path();
        // Targets from target_files follow the inline ones; problems in them
        // are reported with their file and index.
        let mut origins: Vec<String> = (0..decoded.file.targets.len())
            .map(|i| format!("targets[{i}]"))
            .collect();
        let patterns: Vec<PathBuf> = decoded
            .file
            .target_files
            .iter()
            .map(|p| base.join(p))
            .collect();
        for file_path in target_files(&patterns, &mut decoded.problems) {
            let text = match std::fs::read_to_string(&file_path) {
                Ok(t) => t,
                Err(e) => {
                    decoded
                        .problems
                        .push(format!("{}: {e}", file_path.display()));
                    continue;
                }
            };
            // Every entry's every problem, as in the main file.
            match serde_yaml::from_str::<Option<Vec<figment::value::Value>>>(&text) {
                Ok(entries) => {
                    for (j, value) in entries.unwrap_or_default().into_iter().enumerate() {
                        let origin = format!("{}[{j}]", file_path.display());
                        let index = decoded.file.targets.len();
                        let entry = decode::target_file_entry(value, &origin, index, &mut decoded);
                        origins.push(origin);
                        decoded.file.targets.push(entry);
                    }
                }
                Err(e) => decoded
                    .problems
                    .push(format!("{}: {e}", file_path.display())),
            }
        }
        let name_origins = |problems: &mut Vec<String>| {
            for p in problems {
                if let Some(rest) = p.strip_prefix("targets[") {
                    if let Some((idx, tail)) = rest.split_once(']') {
                        if let Some(origin) = idx.parse::<usize>().ok().and_then(|k| origins.get(k))
                        {
                            *p = format!("{origin}{tail}");
                        }
                    }
                }
            }
        };
        let (mut config, mut warnings) =
            Config::validate_decoded(decoded, base, options).map_err(|mut e| {
                name_origins(&mut e.problems);
                e
            })?;
        name_origins(&mut config.unreadable);
        name_origins(&mut warnings);
        config.target_file_patterns = patterns;
        Ok((config, warnings))
    }

    /// Parse YAML text (no environment), resolving relative paths against `base`.
    pub fn from_yaml(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let decoded = decode::file(&Figment::from(Yaml::string(text)))
            .map_err(|problems| ConfigError { problems })?;
        Config::validate_decoded(decoded, base, &LoadOptions::from_env()).map(|(c, _)| c)
    }

    /// Validate what decoded; every problem, the decoding's first, then
    /// validation's, less those that follow from the keys left out
    /// ([`decode::Decoded::follows_from_left_out`]).
    fn validate_decoded(
        mut decoded: decode::Decoded,
        base: &Path,
        options: &LoadOptions,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let file = std::mem::take(&mut decoded.file);
        let mut problems = std::mem::take(&mut decoded.problems);
        match Config::validate(file, base, options) {
            Ok(ok) if problems.is_empty() => Ok(ok),
            // Keys left out, and files that cannot be read (which alone
            // would not stop the daemon): every problem of the file.
            Ok((config, _)) => {
                problems.extend(
                    config
                        .unreadable
                        .into_iter()
                        .filter(|p| !decoded.follows_from_left_out(p)),
                );
                Err(ConfigError { problems })
            }
            Err(e) => {
                problems.extend(
                    e.problems
                        .into_iter()
                        .filter(|p| !decoded.follows_from_left_out(p)),
                );
                Err(ConfigError { problems })
            }
        }
    }

    /// Validate a decoded file.
    pub fn from_file(file: FileConfig, base: &Path) -> Result<Config, ConfigError> {
        Config::validate(file, base, &LoadOptions::from_env()).map(|(c, _)| c)
    }

    /// Validate a decoded file; also what `check-config` warns about.
    fn validate(
        file: FileConfig,
        base: &Path,
        options: &LoadOptions,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut v = Validator::new(base, options);
        if let Some(path) = &file.advisories_file {
            match crate::advisories::Advisories::load(&base.join(path)) {
                Ok(a) => v.advisories = std::sync::Arc::new(a),
                Err(e) => {
                    for p in e.0 {
                        v.problem("advisories_file", &p);
                    }
                }
            }
        }
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
        let syslog = match file.syslog.as_ref().map(|s| s.resolve(base)) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(problems)) => {
                v.problems.extend(problems);
                None
            }
        };
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
                || entry.basic_auth.is_some()
                || entry.kerberos.is_some();
            let mut d = file.defaults.clone();
            if own_credentials {
                d.api_key = None;
                d.api_key_file = None;
                d.realm_auth = None;
                d.basic_auth = None;
                d.kerberos = None;
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
            let inherited = entry.inherited(&d);
            let before = (v.problems.len(), v.secret_problems.len());
            let mut entry = entry.merge_defaults(&d);
            let mut labels = defaults_labels;
            labels.extend(entry.labels.take().unwrap_or_default());
            entry.labels = Some(labels);
            if let Some(t) = v.target(&at, entry) {
                targets.push(Arc::new(t));
            }
            v.blame_defaults(before, &at, &inherited);
        }
        if v.problems.is_empty() {
            let config = Config {
                global,
                targets,
                target_file_patterns: Vec::new(),
                advisories: v.advisories,
                syslog,
                unreadable: v.secret_problems,
            };
            Ok((config, v.warnings))
        } else {
            // Every problem at once, unreadable files included.
            v.problems.append(&mut v.secret_problems);
            Err(ConfigError {
                problems: v.problems,
            })
        }
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

//! Appliance kinds: the seam between the generic daemon (config, scheduler,
//! store, HTTP) and what is specific to one product (authentication flow,
//! collectors, parsers).
//!
//! A kind is a [`Kind`] registered in [`KINDS`]. Adding a product means a new
//! module here and one line in that list; nothing else changes.

use crate::client::ApiResponse;
use crate::error::looks_like_html;
use crate::error::CollectError;
use crate::exposition::{Desc, Samples};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub mod epmm;
pub mod ics;
pub mod isec;
pub mod lenient;
pub mod session;
pub mod sps;
mod target;
pub mod transport;

pub use target::{Credentials, OptionProblem, Options, RawOptions, Target};
pub use transport::Transport;

/// A boxed, sendable future (what trait objects can return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A collector a kind offers: one API area, polled on its own interval.
#[derive(Debug)]
pub struct CollectorSpec {
    /// Name used in the config (`collectors:`) and in the `collector` label.
    pub name: &'static str,
    /// Enabled when the config does not list collectors.
    pub default_enabled: bool,
    /// Default interval when the config sets none for this collector;
    /// `None` means the target's `interval`. Never shorter than `interval`.
    pub default_interval: Option<Duration>,
    /// The API endpoints it reads (documentation and the README table).
    pub endpoints: &'static [&'static str],
    /// Every metric family it may publish.
    pub metrics: &'static [&'static Desc],
    /// Its endpoints need the target's credentials (`check-config` refuses
    /// a target that enables it without any); `false` only for endpoints
    /// the vendor documents as unauthenticated.
    pub needs_credentials: bool,
}

/// How a collector polls one appliance of kind `A`, writing its series
/// into the samples. `Ok` with no series means "not applicable here".
pub type Poll<A> = for<'a> fn(&'a A, &'a mut Samples) -> BoxFuture<'a, Result<(), CollectError>>;

/// A collector as its API area file declares it: the spec and the poll.
/// A kind's registry is a list of these, one line per area.
pub struct Collector<A: 'static> {
    /// What the config, the docs and the scheduler see.
    pub spec: CollectorSpec,
    /// The requests and the parse.
    pub poll: Poll<A>,
}

impl<A> std::fmt::Debug for Collector<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Collector").field(&self.spec.name).finish()
    }
}

/// Run the collector `name` of `registry` against `appliance`.
pub fn dispatch<'a, A>(
    registry: &'static [Collector<A>],
    appliance: &'a A,
    name: &str,
    out: &'a mut Samples,
) -> BoxFuture<'a, Result<(), CollectError>> {
    match registry.iter().find(|c| c.spec.name == name) {
        Some(c) => (c.poll)(appliance, out),
        None => {
            let e = unknown_collector(name);
            Box::pin(async move { Err(e) })
        }
    }
}

/// The specs of a registry (what [`Kind::collectors`] returns).
pub fn specs<A>(registry: &'static [Collector<A>]) -> Vec<&'static CollectorSpec> {
    registry.iter().map(|c| &c.spec).collect()
}

/// One product family.
pub trait Kind: Send + Sync + std::fmt::Debug + 'static {
    /// The `kind:` value in the config.
    fn name(&self) -> &'static str;
    /// Everything it can collect (its registry's specs, in order).
    fn collectors(&self) -> Vec<&'static CollectorSpec>;
    /// The credential blocks it accepts (`api_key`, `api_key_file`,
    /// `realm_auth`, `basic_auth`).
    fn credentials(&self) -> &'static [&'static str];
    /// The `kind_options` keys it understands.
    fn option_keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// Its typed options, parsed once when the config is loaded.
    fn parse_options(&self, _raw: &RawOptions<'_>) -> Result<Options, Vec<OptionProblem>> {
        Ok(Options::None)
    }
    /// The only paths its client may `POST` to (a documented login).
    fn login_post_paths(&self) -> &'static [&'static str] {
        &[]
    }
    /// Per-target state (credentials, a cached session key) over an HTTP client.
    fn appliance(&self, target: Target, api: Arc<dyn Transport>) -> Arc<dyn Appliance>;
}

/// Kinds are registry entries: one is another when their names are equal.
impl PartialEq for dyn Kind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// Collector specs are registry entries too: equal when named alike.
impl PartialEq for CollectorSpec {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other) || self.name == other.name
    }
}

/// A connected appliance: runs one collector, writing its series into `out`.
/// Returning `Ok` with no series means "not applicable on this appliance".
pub trait Appliance: Send + Sync {
    /// Poll one collector once.
    fn collect<'a>(
        &'a self,
        collector: &'static str,
        out: &'a mut Samples,
    ) -> BoxFuture<'a, Result<(), CollectError>>;
}

/// A non-2xx answer as an error, for kinds whose error bodies carry a
/// `message` (top level or under `error`) or nothing useful.
pub fn http_error(resp: &ApiResponse) -> CollectError {
    let message = serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| {
            let m = v.get("error").unwrap_or(&v);
            m.get("message")
                .or_else(|| m.get("Message"))
                .and_then(|m| m.as_str())
                .map(|m| m.chars().take(200).collect::<String>())
        });
    status_error(resp, message, "does the account's role allow this call?")
}

/// The error class of a non-2xx answer: 401/403 `auth` (with `forbidden`
/// as the hint on 403), 3xx a redirect not followed, others `http` with
/// the appliance's `message` (else "HTML page" or the status reason).
pub fn status_error(resp: &ApiResponse, message: Option<String>, forbidden: &str) -> CollectError {
    let message = message.unwrap_or_else(|| {
        if looks_like_html(&resp.body) {
            "HTML page".to_owned()
        } else {
            hyper::StatusCode::from_u16(resp.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
                .to_owned()
        }
    });
    match resp.status {
        401 => CollectError::Auth(format!("401 Unauthorized: {message}")),
        403 => CollectError::Auth(format!("403 Forbidden ({forbidden}): {message}")),
        300..=399 => CollectError::Http {
            status: resp.status,
            message: "redirect not followed (a login page or a proxy?)".to_owned(),
            retry_after: None,
        },
        status => CollectError::Http {
            status,
            message,
            retry_after: resp.retry_after,
        },
    }
}

/// The error for a collector name a kind does not have (a config bug).
pub fn unknown_collector(name: &str) -> CollectError {
    CollectError::Http {
        status: 0,
        message: format!("unknown collector {name}"),
        retry_after: None,
    }
}

/// The response when 2xx, else its error.
pub fn expect_ok(resp: ApiResponse) -> Result<ApiResponse, CollectError> {
    if resp.is_success() {
        Ok(resp)
    } else {
        Err(http_error(&resp))
    }
}

/// Every kind the exporter knows.
pub static KINDS: &[&dyn Kind] = &[&ics::Ics, &sps::Sps, &epmm::Epmm, &isec::Isec];

/// Look a kind up by its config name.
pub fn kind(name: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// Every metric family of every kind's collectors (documentation test, `--help`).
pub fn all_collector_metrics() -> Vec<&'static Desc> {
    let mut v: Vec<&'static Desc> = KINDS
        .iter()
        .flat_map(|k| k.collectors())
        .flat_map(|c| c.metrics.iter().copied())
        .collect();
    v.sort_by_key(|d| d.name);
    v.dedup_by_key(|d| d.name);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ApiClient, ClientCache};
    use crate::config::Config;
    use crate::sim::{FleetOptions, SimKind};

    /// Collectors are dispatched by name: every collector a kind lists must
    /// be one its appliance runs. Each is polled once against every
    /// simulated appliance of its kind (the demo fleet: stand-alone and
    /// clustered Connect Secure boxes, SPS, EPMM, Security Controls); every
    /// poll must succeed, and every collector must publish series on at
    /// least one of them (an unknown name would fail as `unknown collector`).
    #[tokio::test]
    async fn every_listed_collector_of_every_kind_runs() {
        let (fleet, dir, ca) = crate::sim::fleet_of_with_ca_file(FleetOptions {
            appliances: 8,
            kinds: vec![SimKind::Sps, SimKind::Epmm, SimKind::Isec],
            ..Default::default()
        })
        .await;
        let yaml = fleet.config_yaml(Some(&ca), std::time::Duration::from_secs(30));
        let config = Config::from_yaml(&yaml, dir.path()).unwrap();
        let cache = ClientCache::new();
        let mut published: Vec<(&str, &str)> = Vec::new();
        for t in &config.targets {
            let api = ApiClient::new(&t.client, &cache).unwrap();
            let appliance = t.kind.appliance(t.kind_target(), Arc::new(api));
            for spec in t.kind.collectors() {
                let mut out = Samples::default();
                let result = appliance.collect(spec.name, &mut out).await;
                assert!(
                    result.is_ok(),
                    "{} {}: {:?}",
                    t.kind.name(),
                    spec.name,
                    result.err()
                );
                if !out.is_empty() {
                    published.push((t.kind.name(), spec.name));
                }
            }
        }
        for k in KINDS {
            for spec in k.collectors() {
                assert!(
                    published.contains(&(k.name(), spec.name)),
                    "{} {}: no series from any simulated appliance",
                    k.name(),
                    spec.name
                );
            }
        }
    }
}

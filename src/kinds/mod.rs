//! Appliance kinds: the seam between the generic daemon (config, scheduler,
//! store, HTTP) and what is specific to one product (authentication flow,
//! collectors, parsers).
//!
//! A kind is a [`Kind`] registered in [`KINDS`]; it polls through a
//! [`Transport`] (the real client, or a test transport answering from the
//! vendor fixtures). Each API area is one file declaring its
//! [`Collector`] (spec and poll), listed in one line of its kind's
//! registry. The checklists for adding an area and a kind are in README
//! "Architecture"; the config, scheduler, store and web do not change for
//! either, since options and credentials are typed by the kind
//! ([`Options`], [`Credentials::Kind`]).

use crate::client::ApiResponse;
use crate::error::looks_like_html;
use crate::error::CollectError;
use crate::exposition::{Desc, Samples};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

mod deferred;
pub mod epmm;
pub mod ics;
pub mod isec;
pub mod lenient;
pub mod session;
pub mod sps;
mod target;
pub mod transport;

pub use deferred::{deferred, deferred_transport, CredentialSource, SettingsSource};
pub use target::{
    decode_block, ConfigContext, Credentials, KindOptions, Options, RawOptions, Target,
};
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
    /// The target-level blocks only it reads (Connect Secure's
    /// `active_users`, Security Controls' `kerberos`): the config passes
    /// them through as written.
    fn blocks(&self) -> &'static [&'static str] {
        &[]
    }
    /// Its typed options, parsed once when the config is loaded; problems
    /// go to `cx` (then `None`).
    fn parse_options(&self, _raw: &RawOptions<'_>, _cx: &mut dyn ConfigContext) -> Option<Options> {
        Some(Options::default())
    }
    /// Credentials from one of its own [`Kind::blocks`] (`path` is where
    /// the block is); `None` when it has problems (reported to `cx`).
    fn parse_credentials(
        &self,
        block: &str,
        path: &str,
        _value: &serde_json::Value,
        cx: &mut dyn ConfigContext,
    ) -> Option<Credentials> {
        cx.problem(
            path,
            &format!("{block} is not a credentials block of kind {}", self.name()),
        );
        None
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
    use super::transport::testing::{response, FixtureTransport};
    use super::{Credentials, Options, Target, Transport, KINDS};
    use crate::exposition::Samples;
    use crate::secret::Secret;
    use std::sync::Arc;

    /// The answers a kind's fixtures cannot give: credentials, the
    /// variant that has every area (a clustered box), and answers no
    /// vendor document shows a body for.
    fn fixtures_of(kind: &str) -> (Credentials, FixtureTransport) {
        let basic = || Credentials::Basic {
            username: "monitor".into(),
            password: Secret::new("pw"),
        };
        match kind {
            "ics" => (
                Credentials::ApiKey(Secret::new("key")),
                FixtureTransport::new("ics").variant("active-passive"),
            ),
            "sps" => {
                let mut login = response(200, "{}");
                login.set_cookie = vec![Secret::new("session_id=a1f71d030e65; Path=/")];
                (
                    basic(),
                    FixtureTransport::new("sps").route("/api/authentication", login),
                )
            }
            other => (basic(), FixtureTransport::new(other)),
        }
    }

    /// Adding an API area is its file, its fixture, its registry line and
    /// its docs/metrics.md row: every collector of every kind is polled
    /// once against its kind's vendor fixtures (`tests/fixtures/<kind>/`,
    /// no simulator), must succeed and must publish series. A collector
    /// that publishes nothing names the fixture files it asked for.
    #[tokio::test]
    async fn every_listed_collector_of_every_kind_runs_on_its_fixtures() {
        let mut problems = Vec::new();
        for kind in KINDS {
            for spec in kind.collectors() {
                let (credentials, transport) = fixtures_of(kind.name());
                let transport = Arc::new(transport);
                let target = Target {
                    name: format!("{}-fixtures", kind.name()),
                    credentials,
                    options: Options::default(),
                };
                let appliance = kind.appliance(target, transport.clone() as Arc<dyn Transport>);
                let mut out = Samples::default();
                let result = appliance.collect(spec.name, &mut out).await;
                let what = format!("{} {}", kind.name(), spec.name);
                match result {
                    Err(e) => problems.push(format!(
                        "{what}: {e}; fixtures asked for and missing: {:?}",
                        transport.missing()
                    )),
                    Ok(()) if out.is_empty() => problems.push(format!(
                        "{what}: no series; fixtures asked for and missing: {:?}",
                        transport.missing()
                    )),
                    Ok(()) => {}
                }
                assert!(
                    transport
                        .calls()
                        .iter()
                        .all(|c| c.method == "GET"
                            || kind.login_post_paths().contains(&c.path.as_str())),
                    "{what}: only GETs and the documented login"
                );
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// Every metric a collector declares is in docs/metrics.md (the row
    /// the checklist asks for), named in a table row.
    #[test]
    fn every_declared_metric_has_a_docs_row() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
            .expect("docs/metrics.md");
        let missing: Vec<&str> = super::all_collector_metrics()
            .iter()
            .map(|d| d.name)
            .filter(|n| !doc.contains(&format!("| `{n}")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/metrics.md has no row for {missing:?}"
        );
    }
}

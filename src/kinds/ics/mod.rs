//! Ivanti Connect Secure and Policy Secure (`kind: ics`).
//!
//! This file holds what is not a pure parser: the login flow (static API
//! key, or `realm_auth` with a cached key, re-login on 401, single-flight and
//! backoff) and the requests each collector makes (paging of active
//! sessions; "not applicable" answers of optional areas, remembered for an
//! hour by `IcsAppliance::get_optional`). One file per API area holds the
//! response model with its pure `parse` and `samples`; `clock` reads the
//! dates the appliance prints.

use super::Transport;
use super::{
    Appliance, BoxFuture, Collector, CollectorSpec, ConfigContext, Credentials, Kind, RawOptions,
    Target,
};
use crate::advisories::{Advisories, Product};
use crate::client::{ApiResponse, Auth};
use crate::error::{looks_like_html, CollectError, ParseError};
use crate::exposition::Samples;
use crate::kinds::session::Session;
use crate::secret::Secret;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub mod active_users;
pub mod clock;
pub mod cluster;
pub mod healthcheck;
pub mod host_checker;
pub mod lenient;
pub mod license;
pub mod license_capacity;
pub mod ntp;
pub mod status_overview;
pub mod system_information;
#[cfg(test)]
mod tests;

/// The `ics` kind.
#[derive(Debug)]
pub struct Ics;

/// Records per `active-users` request when the config sets none.
pub const DEFAULT_PAGE_SIZE: usize = 200;
/// Active sessions read at most per poll for the breakdowns.
pub const DEFAULT_MAX_RECORDS: usize = 10_000;
/// The documented login (`POST /api/v1/realm_auth`), the only POST.
const REALM_AUTH: &str = "/api/v1/realm_auth";
/// The REST healthcheck (9.1R4 and later; the guide's examples).
const HEALTHCHECK: &str = "/api/v1/system/healthcheck";
/// The unauthenticated page older firmware and load balancers use.
const HEALTHCHECK_CGI: &str = "/dana-na/healthcheck/healthcheck.cgi?status=all";
/// `?status=sbr` is a capability flag: read it at the slow collectors' pace.
const SBR_EVERY: Duration = Duration::from_secs(300);

/// `active_users:` in a target: how sessions are paged for the breakdowns.
#[derive(Debug, Clone, Default, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ActiveUsersConfig {
    /// Records per request (`number=`); some firmware caps it at 200.
    pub page_size: Option<usize>,
    /// At most this many records are read per poll for the breakdowns; 0 reads only the total.
    pub max_records: Option<usize>,
}

/// Connect Secure's settings of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Active sessions per page.
    pub page_size: usize,
    /// Active sessions read at most per poll.
    pub max_records: usize,
    /// `kind_options.product`: the product line (trains differ), `ics` by default.
    pub product: Product,
    /// The advisory data the firmware's posture is judged against.
    pub advisories: Arc<Advisories>,
    /// `kind_options.identifiers: hide`: `ivanti_system_info` without the
    /// serial number and machine id (they identify the hardware and its
    /// support contract; docs/security.md).
    pub hide_identifiers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page_size: DEFAULT_PAGE_SIZE,
            max_records: DEFAULT_MAX_RECORDS,
            product: Product::Ics,
            advisories: Advisories::builtin(),
            hide_identifiers: false,
        }
    }
}

/// Slow-moving areas (license, firmware) are polled every 5 minutes.
pub(crate) const SLOW: Option<Duration> = Some(Duration::from_secs(300));
/// An endpoint found "not applicable" (404/405, a redirect to the sign-in
/// page, an HTML page) is asked again only after this long.
pub const NOT_APPLICABLE_RECHECK: Duration = Duration::from_secs(3600);

/// The registry: one line per API area (each file declares its collector).
static COLLECTORS: &[Collector<IcsAppliance>] = &[
    healthcheck::COLLECTOR,
    active_users::COLLECTOR,
    cluster::COLLECTOR,
    license::COLLECTOR,
    system_information::COLLECTOR,
    license_capacity::COLLECTOR,
    ntp::COLLECTOR,
    host_checker::COLLECTOR,
    status_overview::COLLECTOR,
];

impl Kind for Ics {
    fn name(&self) -> &'static str {
        "ics"
    }

    fn collectors(&self) -> Vec<&'static CollectorSpec> {
        super::specs(COLLECTORS)
    }

    fn credentials(&self) -> &'static [&'static str] {
        &["api_key", "api_key_file", "realm_auth"]
    }

    fn blocks(&self) -> &'static [&'static str] {
        &["active_users"]
    }

    fn option_keys(&self) -> &'static [&'static str] {
        &["product", "identifiers"]
    }

    fn parse_options(
        &self,
        raw: &RawOptions<'_>,
        cx: &mut dyn ConfigContext,
    ) -> Option<super::Options> {
        let au: ActiveUsersConfig = raw
            .block("active_users", &["page_size", "max_records"], cx)?
            .unwrap_or_default();
        let page_size = au.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=10_000).contains(&page_size) {
            cx.problem(
                &format!("{}.active_users.page_size", raw.at),
                "must be between 1 and 10000",
            );
            return None;
        }
        let product = match raw.get("product") {
            None => Product::Ics,
            Some(p) => match Product::parse(p) {
                Some(p) => p,
                None => {
                    cx.problem(
                        &format!("{}.kind_options.product", raw.at),
                        &format!("{p:?} is not a product line (known: ics, ips, zta)"),
                    );
                    return None;
                }
            },
        };
        let hide_identifiers = match raw.get("identifiers") {
            None | Some("publish") => false,
            Some("hide") => true,
            Some(v) => {
                cx.problem(
                    &format!("{}.kind_options.identifiers", raw.at),
                    &format!("{v:?}: publish (the default) or hide"),
                );
                return None;
            }
        };
        Some(super::Options::new(Options {
            hide_identifiers,
            page_size,
            max_records: au.max_records.unwrap_or(DEFAULT_MAX_RECORDS),
            product,
            advisories: raw.advisories.clone(),
        }))
    }

    fn login_post_paths(&self) -> &'static [&'static str] {
        &[REALM_AUTH]
    }

    fn appliance(&self, target: Target, api: Arc<dyn Transport>) -> Arc<dyn Appliance> {
        let options = target.options.get::<Options>().cloned().unwrap_or_default();
        Arc::new(IcsAppliance {
            session: Session::new(&target.name, None),
            legacy: AtomicBool::new(false),
            legacy_healthcheck: AtomicBool::new(false),
            ignores_start: AtomicBool::new(false),
            forbidden_generation: AtomicU64::new(u64::MAX),
            sbr: std::sync::Mutex::new(None),
            not_applicable: std::sync::Mutex::new(HashMap::new()),
            boot_time: std::sync::Mutex::new(None),
            target,
            options,
            api,
        })
    }
}

struct IcsAppliance {
    target: Target,
    options: Options,
    api: Arc<dyn Transport>,
    session: Session,
    /// `realm_auth` answered 404/405 or a redirect: use the legacy `GET /api/v1/auth`.
    legacy: AtomicBool,
    /// The REST healthcheck is missing (before 9.1R4): read healthcheck.cgi.
    legacy_healthcheck: AtomicBool,
    /// The firmware answers `start=` with the first page again (9.x).
    ignores_start: AtomicBool,
    /// The login-derived key whose re-login was answered 403 again: a
    /// forbidden role, not an expired key, so no more logins for it.
    forbidden_generation: AtomicU64,
    /// `?status=sbr`, read at the slow collectors' pace.
    sbr: std::sync::Mutex<Option<(Instant, Option<f64>)>>,
    /// Endpoints found not applicable, each with when to ask again.
    not_applicable: std::sync::Mutex<HashMap<&'static str, Instant>>,
    /// The boot time last published (held while new readings jitter).
    boot_time: std::sync::Mutex<Option<f64>>,
}

impl Appliance for IcsAppliance {
    fn collect<'a>(
        &'a self,
        collector: &'static str,
        out: &'a mut Samples,
    ) -> BoxFuture<'a, Result<(), CollectError>> {
        super::dispatch(COLLECTORS, self, collector, out)
    }
}

/// Turn a non-2xx answer into its error class, with the appliance's own message.
fn status_error(resp: &ApiResponse) -> CollectError {
    super::status_error(
        resp,
        lenient::api_error_message(&resp.body),
        "does the admin role allow REST API access?",
    )
}

fn expect_ok(resp: ApiResponse) -> Result<ApiResponse, CollectError> {
    if resp.is_success() {
        Ok(resp)
    } else {
        Err(status_error(&resp))
    }
}

/// The answers of a firmware (or a box) without an endpoint: 404 or 405,
/// a redirect (to the sign-in page), or an HTML page where JSON belongs.
pub fn not_applicable(resp: &ApiResponse) -> bool {
    match resp.status {
        404 | 405 | 300..=399 => true,
        200..=299 => looks_like_html(&resp.body),
        _ => false,
    }
}

impl IcsAppliance {
    /// A GET of an endpoint only some appliances have: `Ok(None)` when it
    /// is not applicable here ([`not_applicable`], or `also`, e.g. the
    /// cluster API's 400 on a stand-alone box), and then, for
    /// [`NOT_APPLICABLE_RECHECK`], `Ok(None)` again without a request.
    /// The one mechanism for every optional area; errors are not cached.
    async fn get_optional(
        &self,
        path: &'static str,
        also: fn(&ApiResponse) -> bool,
    ) -> Result<Option<ApiResponse>, CollectError> {
        if self.still_not_applicable(path) {
            return Ok(None);
        }
        let resp = self.get_authed(path).await?;
        if not_applicable(&resp) || also(&resp) {
            tracing::debug!(target = %self.target.name, path, status = resp.status, "not applicable; asking again in an hour");
            self.mark_not_applicable(path);
            return Ok(None);
        }
        expect_ok(resp).map(Some)
    }

    /// The whole poll of an optional area with one endpoint: GET `path`
    /// ([`IcsAppliance::get_optional`]: not applicable is no series, no
    /// error), then its pure parse and samples.
    async fn poll_optional<M>(
        &self,
        path: &'static str,
        parse: impl FnOnce(&[u8]) -> Result<M, ParseError>,
        samples: impl FnOnce(&M, &mut Samples),
        out: &mut Samples,
    ) -> Result<(), CollectError> {
        if let Some(resp) = self.get_optional(path, |_| false).await? {
            samples(&parse(&resp.body)?, out);
        }
        Ok(())
    }

    /// Remember that `path` is not applicable (also for a 2xx body that
    /// says so, such as an empty cluster object).
    fn mark_not_applicable(&self, path: &'static str) {
        let mut map = self
            .not_applicable
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.insert(path, Instant::now() + NOT_APPLICABLE_RECHECK);
    }

    fn still_not_applicable(&self, path: &'static str) -> bool {
        let mut map = self
            .not_applicable
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match map.get(path) {
            Some(until) if Instant::now() < *until => true,
            Some(_) => {
                map.remove(path);
                false
            }
            None => false,
        }
    }

    /// A GET with whatever credentials the target has; on 401 with a
    /// login-obtained key, log in again once and retry.
    async fn get_authed(&self, path: &str) -> Result<ApiResponse, CollectError> {
        match &self.target.credentials {
            Credentials::None => {
                let resp = self.api.get(path, Auth::None).await?;
                if resp.status == 401 {
                    return Err(CollectError::Auth(
                        "401 Unauthorized: no api_key, api_key_file or realm_auth configured"
                            .into(),
                    ));
                }
                Ok(resp)
            }
            Credentials::ApiKey(key) => self.api.get(path, Auth::ApiKey(key)).await,
            Credentials::Basic { .. } | Credentials::Kind { .. } => Err(CollectError::Auth(
                "basic_auth and kerberos are not Connect Secure credentials".into(),
            )),
            Credentials::RealmAuth { .. } => {
                let (key, generation) = self.key().await?;
                let resp = self.api.get(path, Auth::ApiKey(&key)).await?;
                // An expired key is 401, or 403 on some firmware; a 403
                // that a fresh key gets too is the role's, not the key's.
                let relogin = match resp.status {
                    401 => true,
                    403 => self.forbidden_generation.load(Ordering::Relaxed) != generation,
                    _ => false,
                };
                if !relogin {
                    return Ok(resp);
                }
                self.invalidate(generation).await;
                let (key, generation) = self.key().await?;
                let resp = self.api.get(path, Auth::ApiKey(&key)).await?;
                if resp.status == 403 {
                    self.forbidden_generation
                        .store(generation, Ordering::Relaxed);
                }
                Ok(resp)
            }
        }
    }

    async fn invalidate(&self, generation: u64) {
        self.session.invalidate(generation).await;
    }

    /// The current key, logging in if there is none (see [`Session`]).
    async fn key(&self) -> Result<(Secret, u64), CollectError> {
        self.session.token(|| self.login_once()).await
    }

    async fn login_once(&self) -> Result<Secret, CollectError> {
        let Credentials::RealmAuth {
            realm,
            username,
            password,
        } = &self.target.credentials
        else {
            return Err(CollectError::Auth("no realm_auth configured".into()));
        };
        let auth = Auth::Basic(username, password);
        if !self.legacy.load(Ordering::Relaxed) {
            let body = serde_json::json!({ "realm": realm });
            let resp = self.api.post_login(REALM_AUTH, auth, &body).await?;
            // Firmware before realm_auth answers 404/405, or redirects to
            // its sign-in page.
            if matches!(resp.status, 404 | 405 | 300..=399) {
                tracing::info!(target = %self.target.name, status = resp.status, "realm_auth not available; using the legacy GET /api/v1/auth");
                self.legacy.store(true, Ordering::Relaxed);
            } else {
                return parse_login(resp, "realm_auth");
            }
        }
        let resp = self.api.get("/api/v1/auth", auth).await?;
        parse_login(resp, "legacy /api/v1/auth")
    }
}

fn parse_login(resp: ApiResponse, how: &str) -> Result<Secret, CollectError> {
    if !resp.is_success() {
        let err = status_error(&resp);
        return Err(match err {
            CollectError::Auth(m) => CollectError::Auth(format!("{how} login rejected: {m}")),
            other => other,
        });
    }
    #[derive(serde::Deserialize)]
    struct Login {
        api_key: Option<Secret>,
        resume_id: Option<serde_json::Value>,
    }
    let login: Login = crate::error::parse_json(&resp.body)?;
    match (login.api_key, login.resume_id) {
        (Some(k), _) if !k.is_empty() => Ok(k),
        (_, Some(_)) => Err(CollectError::Auth(format!(
            "{how} needs a second factor (the answer carries a resume_id): use an admin realm without MFA for the monitoring account, or a static api_key"
        ))),
        _ => Err(ParseError::Field("api_key").into()),
    }
}

impl std::fmt::Debug for IcsAppliance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcsAppliance")
            .field("target", &self.target.name)
            .field("logins", &self.session.logins())
            .finish_non_exhaustive()
    }
}

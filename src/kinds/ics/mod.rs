//! Ivanti Connect Secure and Policy Secure (`kind: ics`).
//!
//! This file holds what is not a pure parser: the login flow (static API
//! key, or `realm_auth` with a cached key, re-login on 401, single-flight and
//! backoff) and the requests each collector makes (paging of active
//! sessions, "not applicable" on 404). One file per API area holds the
//! response model with its pure `parse` and `samples`.

use super::{
    Appliance, BoxFuture, CollectorSpec, Credentials, Kind, OptionProblem, RawOptions, Target,
};
use crate::advisories::{Advisories, Date, Product};
use crate::client::{ApiClient, ApiResponse, Auth};
use crate::error::{looks_like_html, CollectError, ParseError};
use crate::exposition::Samples;
use crate::kinds::session::Session;
use crate::secret::Secret;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub mod active_users;
pub mod cluster;
pub mod healthcheck;
pub mod lenient;
pub mod license;
pub mod system_information;

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page_size: DEFAULT_PAGE_SIZE,
            max_records: DEFAULT_MAX_RECORDS,
            product: Product::Ics,
            advisories: Advisories::builtin(),
        }
    }
}

const SLOW: Option<Duration> = Some(Duration::from_secs(300));

static COLLECTORS: &[CollectorSpec] = &[
    CollectorSpec {
        name: "healthcheck",
        default_enabled: true,
        default_interval: None,
        endpoints: &[
            "GET /api/v1/system/healthcheck",
            "GET /api/v1/system/healthcheck?status=all",
            "GET /api/v1/system/healthcheck?status=sbr",
        ],
        metrics: healthcheck::METRICS,
        // Unauthenticated (ics-api.md, "GET /api/v1/system/healthcheck"; healthcheck.cgi too).
        needs_credentials: false,
    },
    CollectorSpec {
        name: "active_users",
        default_enabled: true,
        default_interval: None,
        endpoints: &["GET /api/v1/system/active-users?number=N&start=S"],
        metrics: active_users::METRICS,
        needs_credentials: true,
    },
    CollectorSpec {
        name: "cluster",
        default_enabled: true,
        default_interval: None,
        endpoints: &["GET /api/v1/cluster"],
        metrics: cluster::METRICS,
        needs_credentials: true,
    },
    CollectorSpec {
        name: "license",
        default_enabled: true,
        default_interval: SLOW,
        endpoints: &[
            "GET /api/v1/license/license-server-lease-information",
            "GET /api/v1/license/named-users",
        ],
        metrics: license::METRICS,
        needs_credentials: true,
    },
    CollectorSpec {
        name: "system_information",
        default_enabled: true,
        default_interval: SLOW,
        endpoints: &["GET /api/v1/system/system-information"],
        metrics: system_information::METRICS,
        needs_credentials: true,
    },
];

impl Kind for Ics {
    fn name(&self) -> &'static str {
        "ics"
    }

    fn collectors(&self) -> &'static [CollectorSpec] {
        COLLECTORS
    }

    fn credentials(&self) -> &'static [&'static str] {
        &["api_key", "api_key_file", "realm_auth"]
    }

    fn option_keys(&self) -> &'static [&'static str] {
        &["product"]
    }

    fn parse_options(&self, raw: &RawOptions<'_>) -> Result<super::Options, Vec<OptionProblem>> {
        let au = raw.active_users.cloned().unwrap_or_default();
        let page_size = au.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=10_000).contains(&page_size) {
            return Err(vec![(
                "active_users.page_size".into(),
                "must be between 1 and 10000".into(),
            )]);
        }
        let product = match raw.get("product") {
            None => Product::Ics,
            Some(p) => Product::parse(p).ok_or_else(|| {
                vec![(
                    "kind_options.product".into(),
                    format!("{p:?} is not a product line (known: ics, ips, zta)"),
                )]
            })?,
        };
        Ok(super::Options::Ics(Options {
            page_size,
            max_records: au.max_records.unwrap_or(DEFAULT_MAX_RECORDS),
            product,
            advisories: raw.advisories.clone(),
        }))
    }

    fn login_post_paths(&self) -> &'static [&'static str] {
        &[REALM_AUTH]
    }

    fn appliance(&self, target: Target, api: ApiClient) -> Arc<dyn Appliance> {
        let options = match &target.options {
            super::Options::Ics(o) => o.clone(),
            _ => Options::default(),
        };
        Arc::new(IcsAppliance {
            session: Session::new(&target.name, None),
            legacy: AtomicBool::new(false),
            legacy_healthcheck: AtomicBool::new(false),
            ignores_start: AtomicBool::new(false),
            forbidden_generation: AtomicU64::new(u64::MAX),
            sbr: std::sync::Mutex::new(None),
            target,
            options,
            api,
        })
    }
}

struct IcsAppliance {
    target: Target,
    options: Options,
    api: ApiClient,
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
}

impl Appliance for IcsAppliance {
    fn collect<'a>(
        &'a self,
        collector: &'static str,
        out: &'a mut Samples,
    ) -> BoxFuture<'a, Result<(), CollectError>> {
        Box::pin(async move {
            match collector {
                "healthcheck" => self.healthcheck(out).await,
                "active_users" => self.active_users(out).await,
                "cluster" => self.cluster(out).await,
                "license" => self.license(out).await,
                "system_information" => self.system_information(out).await,
                other => Err(super::unknown_collector(other)),
            }
        })
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

/// 404 (and 405) on an endpoint only some appliances have: not applicable.
fn optional(resp: ApiResponse) -> Result<Option<ApiResponse>, CollectError> {
    match resp.status {
        404 | 405 => Ok(None),
        _ => expect_ok(resp).map(Some),
    }
}

impl IcsAppliance {
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
            Credentials::Basic { .. } | Credentials::Kerberos(_) => Err(CollectError::Auth(
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

    /// Plain healthcheck (accessibility), `?status=all` (figures), and
    /// `?status=sbr` every [`SBR_EVERY`]: 2 requests in a steady poll.
    /// Firmware without the REST healthcheck (404, a redirect, an HTML
    /// page) is read from healthcheck.cgi instead, from then on.
    async fn healthcheck(&self, out: &mut Samples) -> Result<(), CollectError> {
        if self.legacy_healthcheck.load(Ordering::Relaxed) {
            return self.healthcheck_cgi(out).await;
        }
        let plain = self.api.get(HEALTHCHECK, Auth::None).await?;
        let accessible = match plain.status {
            200..=299 if looks_like_html(&plain.body) => {
                return self.fall_back_to_cgi(out, ParseError::Html.into()).await;
            }
            200..=299 => true,
            500..=599 => false,
            404 | 300..=399 => return self.fall_back_to_cgi(out, status_error(&plain)).await,
            _ => return Err(status_error(&plain)),
        };
        let all = self
            .api
            .get("/api/v1/system/healthcheck?status=all", Auth::None)
            .await?;
        let status = match all.status {
            200..=299 => Some(healthcheck::parse_status(&all.body)?),
            404 => None,
            _ if !accessible => None,
            _ => return Err(status_error(&all)),
        };
        let sbr = self.sbr().await?;
        healthcheck::samples(accessible, status.as_ref(), sbr, out);
        Ok(())
    }

    /// `?status=sbr`, from a cache refreshed every [`SBR_EVERY`].
    async fn sbr(&self) -> Result<Option<f64>, CollectError> {
        let cached = *self.sbr.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, v)) = cached {
            if at.elapsed() < SBR_EVERY {
                return Ok(v);
            }
        }
        let resp = self
            .api
            .get("/api/v1/system/healthcheck?status=sbr", Auth::None)
            .await?;
        let v = match resp.status {
            200..=299 => healthcheck::parse_sbr(&resp.body)?,
            _ => None,
        };
        *self.sbr.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), v));
        Ok(v)
    }

    /// The REST healthcheck is missing: try healthcheck.cgi; if that is
    /// missing too, the REST answer's error stands.
    async fn fall_back_to_cgi(
        &self,
        out: &mut Samples,
        rest_error: CollectError,
    ) -> Result<(), CollectError> {
        let resp = self.api.get(HEALTHCHECK_CGI, Auth::None).await?;
        let parsed = match resp.status {
            200..=299 => healthcheck::parse_cgi(&resp.body).ok(),
            _ => None,
        };
        let Some(status) = parsed else {
            return Err(rest_error);
        };
        tracing::info!(target = %self.target.name, "no REST healthcheck (firmware before 9.1R4?): reading /dana-na/healthcheck/healthcheck.cgi");
        self.legacy_healthcheck.store(true, Ordering::Relaxed);
        healthcheck::samples(true, Some(&status), None, out);
        Ok(())
    }

    /// healthcheck.cgi: 200 with the figures, 5xx when the gateway is not
    /// accessible (as the REST healthcheck's plain answer).
    async fn healthcheck_cgi(&self, out: &mut Samples) -> Result<(), CollectError> {
        let resp = self.api.get(HEALTHCHECK_CGI, Auth::None).await?;
        match resp.status {
            200..=299 => {
                let status = healthcheck::parse_cgi(&resp.body)?;
                healthcheck::samples(true, Some(&status), None, out);
            }
            500..=599 => healthcheck::samples(false, None, None, out),
            _ => return Err(status_error(&resp)),
        }
        Ok(())
    }

    /// Pages of `number` records from `start` until the total is covered
    /// (or `max_records`). Firmware that ignores `start` (9.x guides
    /// document only `number`) answers the first page again: then one
    /// request with `number = min(total, max_records)` covers every
    /// session, and later polls go straight to it.
    async fn active_users(&self, out: &mut Samples) -> Result<(), CollectError> {
        let t = &self.options;
        let mut breakdown = active_users::Breakdown::default();
        let mut start = 0usize;
        let mut first: Option<(u64, Option<bool>)> = None;
        // Enough pages for max_records even if every page is 1 record short.
        let max_pages = t.max_records / t.page_size.max(1) + 3;
        for _ in 0..max_pages {
            let want = t
                .max_records
                .saturating_sub(breakdown.records())
                .clamp(1, t.page_size);
            let path = format!("/api/v1/system/active-users?number={want}&start={start}");
            let resp = self.active_users_page(&path).await?;
            let page = active_users::parse(&resp.body)?;
            let total = *first.get_or_insert((page.total_matched, page.user_login_permission));
            if t.max_records == 0 {
                break;
            }
            let returned = page.records.len();
            let last = page.is_last_record == Some(true);
            let covered = |b: &active_users::Breakdown| {
                b.records() as u64 >= total.0 || b.records() >= t.max_records
            };
            let new = breakdown.add(page.records);
            if start > 0 && returned > 0 && new == 0 {
                // The first page again: `start` is ignored.
                if !self.ignores_start.swap(true, Ordering::Relaxed) {
                    tracing::info!(target = %self.target.name, "the appliance ignores start= in active-users: reading the sessions with one request from now on");
                }
            }
            if self.ignores_start.load(Ordering::Relaxed) && !covered(&breakdown) && !last {
                let number = (total.0 as usize).min(t.max_records).max(1);
                let path = format!("/api/v1/system/active-users?number={number}");
                let all = self.active_users_page(&path).await;
                match all.and_then(|r| {
                    let mut b = active_users::Breakdown::default();
                    b.add(active_users::parse(&r.body)?.records);
                    Ok(b)
                }) {
                    Ok(b) => breakdown = b,
                    // The breakdowns keep the first page;
                    // ivanti_active_sessions_breakdown_records says so.
                    Err(e) => {
                        tracing::warn!(target = %self.target.name, error = %e, "reading every session in one request failed")
                    }
                }
                break;
            }
            if returned == 0 || new == 0 || last || covered(&breakdown) {
                break;
            }
            start += returned;
        }
        let (total, permitted) = first.unwrap_or((0, None));
        active_users::samples(total, permitted, &breakdown, out);
        Ok(())
    }

    async fn active_users_page(&self, path: &str) -> Result<ApiResponse, CollectError> {
        expect_ok(self.get_authed(path).await?)
    }

    async fn cluster(&self, out: &mut Samples) -> Result<(), CollectError> {
        let resp = self.get_authed("/api/v1/cluster").await?;
        // A stand-alone box answers 404, or 400 with an error body.
        let resp = match resp.status {
            400 if lenient::api_error_message(&resp.body).is_some() => return Ok(()),
            _ => optional(resp)?,
        };
        if let Some(resp) = resp {
            if let Some(c) = cluster::parse(&resp.body)? {
                cluster::samples(&c, out);
            }
        }
        Ok(())
    }

    async fn license(&self, out: &mut Samples) -> Result<(), CollectError> {
        let leases = self
            .get_authed("/api/v1/license/license-server-lease-information")
            .await
            .and_then(optional)?
            .map(|r| license::parse_leases(&r.body))
            .transpose()?;
        let named = self
            .get_authed("/api/v1/license/named-users")
            .await
            .and_then(optional)?
            .map(|r| license::parse_named_users(&r.body))
            .transpose()?;
        license::samples(leases.as_ref(), named.as_deref(), out);
        Ok(())
    }

    async fn system_information(&self, out: &mut Samples) -> Result<(), CollectError> {
        let resp = expect_ok(self.get_authed("/api/v1/system/system-information").await?)?;
        let info = system_information::parse(&resp.body)?;
        let posture = system_information::Posture {
            advisories: &self.options.advisories,
            product: self.options.product,
            today: Date::today(),
        };
        system_information::samples(&info, &posture, out);
        Ok(())
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

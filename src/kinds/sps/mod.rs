//! One Identity Safeguard for Privileged Sessions (`kind: sps`).
//!
//! Login: `GET /api/authentication` with basic auth (`basic_auth:`); the
//! answer sets a `session_id` cookie that authenticates later calls. It is
//! reused until SPS answers 401 (it expires after about 20 minutes of use)
//! or it reaches `kind_options.session_max_age` (default 15m), whichever
//! comes first. Only GETs are sent: never `/api/active-sessions` (its only
//! verb deletes) nor `/api/transaction`.

use super::session::Session;
use super::Transport;
use super::{http_error, Appliance, BoxFuture, Collector, CollectorSpec, Kind};
use super::{ConfigContext, Credentials, RawOptions, Target};
use crate::client::{ApiResponse, Auth};
use crate::error::CollectError;
use crate::exposition::Samples;
use crate::secret::Secret;
use std::sync::Arc;
use std::time::Duration;

pub mod cluster_status;
pub mod health_status;

/// The `sps` kind.
#[derive(Debug)]
pub struct Sps;

/// SPS's settings of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `kind_options.session_max_age`: the session cookie is renewed after this.
    pub session_max_age: Duration,
}

/// The registry: one line per API area.
static COLLECTORS: &[Collector<SpsAppliance>] =
    &[health_status::COLLECTOR, cluster_status::COLLECTOR];

/// The session cookie's name.
const COOKIE: &str = "session_id";
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(15 * 60);

impl Kind for Sps {
    fn name(&self) -> &'static str {
        "sps"
    }

    fn collectors(&self) -> Vec<&'static CollectorSpec> {
        super::specs(COLLECTORS)
    }

    fn credentials(&self) -> &'static [&'static str] {
        &["basic_auth"]
    }

    fn option_keys(&self) -> &'static [&'static str] {
        &["session_max_age"]
    }

    fn parse_options(
        &self,
        raw: &RawOptions<'_>,
        cx: &mut dyn ConfigContext,
    ) -> Option<super::Options> {
        let session_max_age = match raw.get("session_max_age") {
            None => DEFAULT_MAX_AGE,
            Some(v) => humantime::parse_duration(v)
                .map_err(|e| {
                    cx.problem(
                        &format!("{}.kind_options.session_max_age", raw.at),
                        &format!("{v:?}: {e}"),
                    )
                })
                .ok()?,
        };
        Some(super::Options::new(Options { session_max_age }))
    }

    fn appliance(&self, target: Target, api: Arc<dyn Transport>) -> Arc<dyn Appliance> {
        let max_age = target
            .options
            .get::<Options>()
            .map_or(DEFAULT_MAX_AGE, |o| o.session_max_age);
        Arc::new(SpsAppliance {
            session: Session::new(&target.name, Some(max_age)),
            target,
            api,
        })
    }
}

struct SpsAppliance {
    target: Target,
    api: Arc<dyn Transport>,
    session: Session,
}

impl Appliance for SpsAppliance {
    fn collect<'a>(
        &'a self,
        collector: &'static str,
        out: &'a mut Samples,
    ) -> BoxFuture<'a, Result<(), CollectError>> {
        super::dispatch(COLLECTORS, self, collector, out)
    }
}

impl SpsAppliance {
    /// A GET with the session cookie; on 401 log in again once and retry.
    async fn get(&self, path: &str) -> Result<ApiResponse, CollectError> {
        let (cookie, generation) = self.session.token(|| self.login()).await?;
        let resp = self.api.get(path, Auth::Cookie(COOKIE, &cookie)).await?;
        if resp.status != 401 {
            return Ok(resp);
        }
        self.session.invalidate(generation).await;
        let (cookie, _) = self.session.token(|| self.login()).await?;
        self.api.get(path, Auth::Cookie(COOKIE, &cookie)).await
    }

    async fn login(&self) -> Result<Secret, CollectError> {
        let Credentials::Basic { username, password } = &self.target.credentials else {
            return Err(CollectError::Auth(
                "no basic_auth configured (SPS needs a user name and password)".into(),
            ));
        };
        let resp = self
            .api
            .get("/api/authentication", Auth::Basic(username, password))
            .await?;
        if !resp.is_success() {
            return Err(match http_error(&resp) {
                CollectError::Auth(m) => CollectError::Auth(format!("SPS login rejected: {m}")),
                other => other,
            });
        }
        session_cookie(&resp).ok_or_else(|| {
            CollectError::Auth("SPS login answered without a session_id cookie".into())
        })
    }
}

/// The `session_id` value among the `Set-Cookie` headers.
fn session_cookie(resp: &ApiResponse) -> Option<Secret> {
    resp.set_cookie.iter().find_map(|c| {
        let pair = c.expose().split(';').next()?.trim();
        let (name, value) = pair.split_once('=')?;
        (name.trim() == COOKIE && !value.trim().is_empty())
            .then(|| Secret::new(value.trim().to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie() {
        let resp = ApiResponse {
            status: 200,
            content_type: None,
            body: vec![],
            retry_after: None,
            set_cookie: vec![
                Secret::new("other=1; Path=/"),
                Secret::new("session_id=abc123; Path=/; Secure; HttpOnly"),
            ],
            www_authenticate: vec![],
        };
        assert_eq!(session_cookie(&resp).unwrap().expose(), "abc123");
        let none = ApiResponse {
            set_cookie: vec![Secret::new("session_id=; Path=/")],
            ..resp
        };
        assert!(session_cookie(&none).is_none());
    }
}

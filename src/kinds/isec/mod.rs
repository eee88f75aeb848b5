//! Ivanti Security Controls (`kind: isec`): the console's REST API at
//! `https://<console>:3121/st/console/api/v1.0/...`, Windows authentication
//! only. The exporter speaks NTLM (through the `sspi` crate) with the
//! `basic_auth` user (`DOMAIN\user`) and password, or Kerberos with a
//! `kerberos:` principal ([`kerberos`]): a request without credentials; on
//! `401 WWW-Authenticate: NTLM|Negotiate` the NTLM three-leg handshake, or
//! one `Negotiate` Kerberos token, on the same kept-alive connection; later
//! requests on an authenticated connection need no header
//! (connection-based, as IIS does). A rejected handshake backs off (5 s
//! doubling to 5 min) like a login, so a wrong password cannot lock the
//! account out. Only GETs.

use super::session::login_backoff;
use super::Transport;
use super::{decode_block, ConfigContext, Credentials, Options, Target};
use super::{expect_ok, Appliance, BoxFuture, Collector, CollectorSpec, Kind};
use crate::client::{ApiResponse, Auth};
use crate::error::{CollectError, ParseError};
use crate::exposition::Samples;
use crate::secret::Secret;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub mod console;
pub mod kerberos;
pub mod ntlm;
#[cfg(test)]
mod tests;

/// The `isec` kind.
#[derive(Debug)]
pub struct Isec;

const API: &str = "/st/console/api/v1.0";
/// Inventory moves slowly: every 5 minutes.
const SLOW: Option<Duration> = Some(Duration::from_secs(300));
/// Items per page of a list (`count`; the documented maximum).
const PAGE_SIZE: usize = 1000;
/// Pages of one list read per poll (50,000 items).
pub const MAX_PAGES: usize = 50;

/// The registry: one line per collector.
static COLLECTORS: &[Collector<IsecAppliance>] = &[
    console::CONSOLE,
    console::INVENTORY,
    console::OPERATIONS_COLLECTOR,
];

impl Kind for Isec {
    fn name(&self) -> &'static str {
        "isec"
    }

    fn collectors(&self) -> Vec<&'static CollectorSpec> {
        super::specs(COLLECTORS)
    }

    fn credentials(&self) -> &'static [&'static str] {
        &["basic_auth", "kerberos"]
    }

    fn blocks(&self) -> &'static [&'static str] {
        &["kerberos"]
    }

    fn parse_credentials(
        &self,
        block: &str,
        path: &str,
        value: &serde_json::Value,
        cx: &mut dyn ConfigContext,
    ) -> Option<Credentials> {
        debug_assert_eq!(block, "kerberos");
        let file = decode_block(path, value, kerberos::config::KEYS, cx)?;
        let k = kerberos::config::credentials(path, &file, cx)?;
        Some(Credentials::Kind {
            block: "kerberos",
            value: Options::new(Arc::new(k)),
        })
    }

    fn appliance(&self, target: Target, api: Arc<dyn Transport>) -> Arc<dyn Appliance> {
        let kerberos = match target
            .credentials
            .kind_value::<Arc<kerberos::KerberosCredentials>>()
        {
            Some(k) => {
                let host = url::Url::parse(api.base_url())
                    .ok()
                    .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()))
                    .unwrap_or_default();
                Some(kerberos::KerberosClient::new(
                    k.clone(),
                    &host,
                    api.timeout(),
                ))
            }
            _ => None,
        };
        Arc::new(IsecAppliance {
            target,
            api,
            kerberos,
            backoff: std::sync::Mutex::new(Backoff::default()),
        })
    }
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    until: Option<Instant>,
    error: Option<CollectError>,
}

struct IsecAppliance {
    target: Target,
    api: Arc<dyn Transport>,
    kerberos: Option<kerberos::KerberosClient>,
    backoff: std::sync::Mutex<Backoff>,
}

impl Appliance for IsecAppliance {
    fn collect<'a>(
        &'a self,
        collector: &'static str,
        out: &'a mut Samples,
    ) -> BoxFuture<'a, Result<(), CollectError>> {
        super::dispatch(COLLECTORS, self, collector, out)
    }
}

impl IsecAppliance {
    /// Every item of a paged list: `count=1000` per page (the documented
    /// maximum), following `links.next.href` until it is absent, at most
    /// [`MAX_PAGES`] pages; a list longer than that is an error, never a
    /// short count.
    async fn count_all(&self, resource: &str) -> Result<f64, CollectError> {
        let mut path = format!("{API}/{resource}?count={PAGE_SIZE}");
        let mut total = 0usize;
        for _ in 0..MAX_PAGES {
            let r = expect_ok(self.get(&path).await?)?;
            let page = console::parse_page(&r.body, API)?;
            total += page.items;
            match page.next {
                Some(next) => path = next,
                None => return Ok(total as f64),
            }
        }
        Err(ParseError::TooManyPages(MAX_PAGES).into())
    }

    fn backoff_error(&self) -> Option<CollectError> {
        let b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        match (b.until, &b.error) {
            (Some(t), Some(e)) if Instant::now() < t => Some(e.clone()),
            _ => None,
        }
    }

    fn note(&self, result: &Result<ApiResponse, CollectError>) {
        let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Err(
                e @ (CollectError::Auth(_)
                | CollectError::ClockSkew(_)
                | CollectError::TicketExpired(_)
                | CollectError::KdcUnreachable(_)),
            ) => {
                b.failures = b.failures.saturating_add(1);
                let wait = login_backoff(b.failures);
                b.until = Some(Instant::now() + wait);
                b.error = Some(e.clone());
                tracing::warn!(target = %self.target.name, error = %e, retry_in = %humantime::format_duration(wait), "Windows authentication failed");
            }
            Ok(_) => *b = Backoff::default(),
            Err(_) => {}
        }
    }

    /// A GET; on a 401 asking for Windows authentication, the NTLM handshake.
    async fn get(&self, path: &str) -> Result<ApiResponse, CollectError> {
        let resp = self.api.get(path, Auth::None).await?;
        if resp.status != 401 {
            return Ok(resp);
        }
        if let Some(e) = self.backoff_error() {
            return Err(e);
        }
        let result = self.handshake(path, &resp).await;
        self.note(&result);
        result
    }

    async fn handshake(
        &self,
        path: &str,
        first: &ApiResponse,
    ) -> Result<ApiResponse, CollectError> {
        if let Some(k) = &self.kerberos {
            return self.kerberos_handshake(k, path, first).await;
        }
        let Credentials::Basic { username, password } = &self.target.credentials else {
            return Err(CollectError::Auth(
                "401: Security Controls needs Windows credentials (basic_auth with DOMAIN\\user)"
                    .into(),
            ));
        };
        let scheme = ntlm::scheme(&first.www_authenticate).ok_or_else(|| {
            CollectError::Auth("401 without an NTLM or Negotiate challenge".into())
        })?;
        let header = |token: String| Secret::new(format!("{scheme} {token}"));
        let negotiate = {
            let mut hs = ntlm::Handshake::new(username, password)?;
            let t1 = hs.negotiate()?;
            (hs, t1)
        };
        let (mut hs, t1) = negotiate;
        let second = self.api.get(path, Auth::Authorization(&header(t1))).await?;
        if second.status != 401 {
            return Ok(second);
        }
        let challenge = ntlm::challenge(&second.www_authenticate, scheme)
            .ok_or_else(|| CollectError::Auth("NTLM: 401 without a challenge".into()))?
            .to_owned();
        let t3 = hs.authenticate(&challenge)?;
        let third = self.api.get(path, Auth::Authorization(&header(t3))).await?;
        if third.status == 401 {
            return Err(CollectError::Auth(
                "NTLM authentication rejected (user name, domain or password)".into(),
            ));
        }
        Ok(third)
    }

    /// `Negotiate` with a Kerberos token. A console that refuses it sends
    /// 401, with its KRB-ERROR as the `Negotiate` token when it says why
    /// (Windows does for `KRB_AP_ERR_SKEW`); an expired ticket is dropped
    /// and the request tried once more with a new one.
    async fn kerberos_handshake(
        &self,
        k: &kerberos::KerberosClient,
        path: &str,
        first: &ApiResponse,
    ) -> Result<ApiResponse, CollectError> {
        if !ntlm::offers(&first.www_authenticate, "Negotiate") {
            return Err(CollectError::Auth(
                "401 without a Negotiate offer: the console does not accept Kerberos".into(),
            ));
        }
        for attempt in 0..2 {
            let token = k.token().await?;
            let header = Secret::new(format!("Negotiate {}", token.expose()));
            let r = self.api.get(path, Auth::Authorization(&header)).await?;
            if r.status != 401 {
                return Ok(r);
            }
            let refusal = ntlm::challenge(&r.www_authenticate, "Negotiate")
                .and_then(kerberos::console_error)
                .map(|e| kerberos::krb_error(&e, "console"));
            k.forget().await;
            match refusal {
                Some(CollectError::TicketExpired(_)) if attempt == 0 => continue,
                Some(CollectError::TicketExpired(m)) => {
                    return Err(CollectError::TicketExpired(format!(
                        "{m}; a new ticket was refused as expired too: is the KDC's clock behind the console's?"
                    )))
                }
                Some(e) => return Err(e),
                None => {
                    return Err(CollectError::Auth(format!(
                        "the console refused the Kerberos ticket for {} (is that its service principal, and is its keytab current?)",
                        k.service_principal()
                    )))
                }
            }
        }
        // Not reached: the second attempt always returns.
        Err(CollectError::TicketExpired(
            "console: the ticket was refused as expired twice".into(),
        ))
    }
}

//! Ivanti EPMM, formerly MobileIron Core (`kind: epmm`).
//!
//! Every call is a GET with basic auth (`basic_auth:`, an admin with the
//! "View dashboard, device page, device details" role, and "Manage
//! administrators and device spaces" for `device_spaces`) and the admin's
//! device space as `adminDeviceSpaceId` (`kind_options.admin_device_space_id`,
//! default 1). The JSESSIONID/CSRF_NONCE dance of the guide is for multipart
//! calls on releases up to 11.1 and is not needed for these GETs.
//! The V2 API documents no health endpoint: a successful count is the health
//! signal (`ivanti_up`, `ivanti_collector_success`).

use super::{expect_ok, Appliance, BoxFuture, CollectorSpec, Kind};
use super::{Credentials, OptionProblem, RawOptions, Target};
use crate::client::{ApiClient, Auth};
use crate::error::CollectError;
use crate::exposition::Samples;
use std::sync::Arc;
use std::time::Duration;

pub mod devices;

/// The device space when `kind_options.admin_device_space_id` is not set.
const DEFAULT_SPACE: u32 = 1;

/// EPMM's settings of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `kind_options.admin_device_space_id`, sent as `adminDeviceSpaceId`.
    pub admin_device_space_id: u32,
}

/// The `epmm` kind.
#[derive(Debug)]
pub struct Epmm;

static COLLECTORS: &[CollectorSpec] = &[
    CollectorSpec {
        name: "devices",
        default_enabled: true,
        default_interval: Some(Duration::from_secs(300)),
        endpoints: &["GET /api/v2/devices?adminDeviceSpaceId=N&query=Q&fields=common.uuid&limit=1"],
        metrics: devices::METRICS,
        needs_credentials: true,
    },
    CollectorSpec {
        name: "device_spaces",
        default_enabled: true,
        default_interval: Some(Duration::from_secs(300)),
        endpoints: &["GET /api/v2/device_spaces?adminDeviceSpaceId=N"],
        metrics: devices::SPACE_METRICS,
        needs_credentials: true,
    },
];

impl Kind for Epmm {
    fn name(&self) -> &'static str {
        "epmm"
    }

    fn collectors(&self) -> &'static [CollectorSpec] {
        COLLECTORS
    }

    fn credentials(&self) -> &'static [&'static str] {
        &["basic_auth"]
    }

    fn option_keys(&self) -> &'static [&'static str] {
        &["admin_device_space_id"]
    }

    fn parse_options(&self, raw: &RawOptions<'_>) -> Result<super::Options, Vec<OptionProblem>> {
        let admin_device_space_id = match raw.get("admin_device_space_id") {
            None => DEFAULT_SPACE,
            Some(v) => v.parse::<u32>().map_err(|_| {
                vec![(
                    "kind_options.admin_device_space_id".to_owned(),
                    format!("{v:?} is not a device space id (a number)"),
                )]
            })?,
        };
        Ok(super::Options::Epmm(Options {
            admin_device_space_id,
        }))
    }

    fn appliance(&self, target: Target, api: ApiClient) -> Arc<dyn Appliance> {
        let space = match &target.options {
            super::Options::Epmm(o) => o.admin_device_space_id,
            _ => DEFAULT_SPACE,
        };
        Arc::new(EpmmAppliance { target, api, space })
    }
}

struct EpmmAppliance {
    target: Target,
    api: ApiClient,
    space: u32,
}

/// Percent-encode a query parameter value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Appliance for EpmmAppliance {
    fn collect<'a>(
        &'a self,
        collector: &'static str,
        out: &'a mut Samples,
    ) -> BoxFuture<'a, Result<(), CollectError>> {
        Box::pin(async move {
            let Credentials::Basic { username, password } = &self.target.credentials else {
                return Err(CollectError::Auth(
                    "no basic_auth configured (EPMM needs a user name and password)".into(),
                ));
            };
            let auth = || Auth::Basic(username, password);
            match collector {
                "devices" => {
                    for q in devices::count_queries() {
                        let path = format!(
                            "/api/v2/devices?adminDeviceSpaceId={}&query={}&fields=common.uuid&limit=1&offset=0",
                            self.space,
                            encode(&q.query)
                        );
                        let resp = expect_ok(self.api.get(&path, auth()).await?)?;
                        devices::count_sample(&q, devices::parse_total(&resp.body)?, out);
                    }
                    Ok(())
                }
                "device_spaces" => {
                    let path = format!(
                        "/api/v2/device_spaces?adminDeviceSpaceId={}&limit=10000&offset=0",
                        self.space
                    );
                    let resp = self.api.get(&path, auth()).await?;
                    if resp.status == 403 {
                        // The role to list device spaces is optional.
                        return Ok(());
                    }
                    let resp = expect_ok(resp)?;
                    devices::space_samples(&devices::parse_spaces(&resp.body)?, out);
                    Ok(())
                }
                other => Err(super::unknown_collector(other)),
            }
        })
    }
}

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

use super::Transport;
use super::{Appliance, BoxFuture, Collector, CollectorSpec, Kind};
use super::{ConfigContext, Credentials, RawOptions, Target};
use crate::client::{ApiResponse, Auth};
use crate::error::CollectError;
use crate::exposition::Samples;
use std::sync::Arc;

pub mod devices;
#[cfg(test)]
mod tests;

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

/// The registry: one line per collector.
static COLLECTORS: &[Collector<EpmmAppliance>] = &[devices::DEVICES_COLLECTOR, devices::SPACES];

impl Kind for Epmm {
    fn name(&self) -> &'static str {
        "epmm"
    }

    fn collectors(&self) -> Vec<&'static CollectorSpec> {
        super::specs(COLLECTORS)
    }

    fn credentials(&self) -> &'static [&'static str] {
        &["basic_auth"]
    }

    fn option_keys(&self) -> &'static [&'static str] {
        &["admin_device_space_id"]
    }

    fn parse_options(
        &self,
        raw: &RawOptions<'_>,
        cx: &mut dyn ConfigContext,
    ) -> Option<super::Options> {
        let admin_device_space_id = match raw.get("admin_device_space_id") {
            None => DEFAULT_SPACE,
            Some(v) => v
                .parse::<u32>()
                .map_err(|_| {
                    cx.problem(
                        &format!("{}.kind_options.admin_device_space_id", raw.at),
                        &format!("{v:?} is not a device space id (a number)"),
                    )
                })
                .ok()?,
        };
        Some(super::Options::new(Options {
            admin_device_space_id,
        }))
    }

    fn appliance(&self, target: Target, api: Arc<dyn Transport>) -> Arc<dyn Appliance> {
        let space = target
            .options
            .get::<Options>()
            .map_or(DEFAULT_SPACE, |o| o.admin_device_space_id);
        Arc::new(EpmmAppliance { target, api, space })
    }
}

struct EpmmAppliance {
    target: Target,
    api: Arc<dyn Transport>,
    space: u32,
}

impl Appliance for EpmmAppliance {
    fn collect<'a>(
        &'a self,
        collector: &'static str,
        out: &'a mut Samples,
    ) -> BoxFuture<'a, Result<(), CollectError>> {
        super::dispatch(COLLECTORS, self, collector, out)
    }
}

impl EpmmAppliance {
    /// A GET with the target's basic credentials.
    async fn get(&self, path: &str) -> Result<ApiResponse, CollectError> {
        let Credentials::Basic { username, password } = &self.target.credentials else {
            return Err(CollectError::Auth(
                "no basic_auth configured (EPMM needs a user name and password)".into(),
            ));
        };
        self.api.get(path, Auth::Basic(username, password)).await
    }
}

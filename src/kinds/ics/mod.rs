//! Ivanti Connect Secure / Policy Secure.
use super::{Appliance, CollectorSpec, Kind};
use crate::client::ApiClient;
use crate::config::TargetConfig;
use std::sync::Arc;

pub mod active_users;
pub mod cluster;
pub mod healthcheck;
pub mod lenient;
pub mod license;
pub mod system_information;

/// The `ics` kind.
#[derive(Debug)]
pub struct Ics;

impl Kind for Ics {
    fn name(&self) -> &'static str {
        "ics"
    }
    fn collectors(&self) -> &'static [CollectorSpec] {
        &[]
    }
    fn appliance(&self, _target: Arc<TargetConfig>, _api: ApiClient) -> Arc<dyn Appliance> {
        unimplemented!()
    }
}

//! A target whose credentials file could not be read when the
//! configuration was loaded (issue 25): it starts anyway. Its collectors
//! that need no credentials (the unauthenticated healthcheck) are polled as
//! usual, so the appliance is not reported down; the others fail with
//! reason `credentials`, sending nothing, and read the file again at every
//! poll. The first read that works builds the kind's own appliance, which
//! every later poll uses. One unreadable file fails its target, never the
//! daemon.

use super::{Appliance, BoxFuture, Credentials, Kind, Target, Transport};
use crate::error::CollectError;
use crate::exposition::Samples;
use std::sync::{Arc, OnceLock};

/// Where a target's credentials come from when they were unreadable at load.
pub trait CredentialSource: Send + Sync {
    /// Read them again: the credentials, or what is wrong (files and OS
    /// errors, never a secret).
    fn read(&self) -> Result<Credentials, String>;
}

/// An appliance waiting for its credentials.
pub fn deferred(
    kind: &'static dyn Kind,
    target: Target,
    api: Arc<dyn Transport>,
    source: Arc<dyn CredentialSource>,
) -> Arc<dyn Appliance> {
    let anonymous = kind.appliance(
        Target {
            credentials: Credentials::None,
            ..target.clone()
        },
        api.clone(),
    );
    Arc::new(Deferred {
        kind,
        target,
        api,
        source,
        anonymous,
        ready: OnceLock::new(),
    })
}

struct Deferred {
    kind: &'static dyn Kind,
    target: Target,
    api: Arc<dyn Transport>,
    source: Arc<dyn CredentialSource>,
    /// For the collectors that need no credentials.
    anonymous: Arc<dyn Appliance>,
    ready: OnceLock<Arc<dyn Appliance>>,
}

impl Deferred {
    fn appliance(&self) -> Result<&Arc<dyn Appliance>, CollectError> {
        if let Some(a) = self.ready.get() {
            return Ok(a);
        }
        let credentials = self.source.read().map_err(CollectError::Credentials)?;
        let target = Target {
            credentials,
            ..self.target.clone()
        };
        let built = self.kind.appliance(target, self.api.clone());
        if self.ready.set(built).is_ok() {
            tracing::info!(target = %self.target.name, "credentials read: polling with them");
        }
        Ok(self.ready.get().expect("set above"))
    }
}

impl Appliance for Deferred {
    fn collect<'a>(
        &'a self,
        collector: &'static str,
        out: &'a mut Samples,
    ) -> BoxFuture<'a, Result<(), CollectError>> {
        let needs_credentials = self
            .kind
            .collectors()
            .iter()
            .find(|c| c.name == collector)
            .is_none_or(|c| c.needs_credentials);
        if !needs_credentials && self.ready.get().is_none() {
            return self.anonymous.collect(collector, out);
        }
        match self.appliance() {
            Ok(a) => a.collect(collector, out),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

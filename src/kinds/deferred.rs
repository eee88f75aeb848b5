//! A target whose credentials file could not be read when the
//! configuration was loaded (issue 25): it starts anyway, fails every poll
//! with reason `credentials` (nothing is sent to the appliance), and reads
//! the file again at every poll; the first read that works builds the
//! kind's own appliance, which every later poll uses. One unreadable file
//! fails its target, never the daemon.

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
    Arc::new(Deferred {
        kind,
        target,
        api,
        source,
        ready: OnceLock::new(),
    })
}

struct Deferred {
    kind: &'static dyn Kind,
    target: Target,
    api: Arc<dyn Transport>,
    source: Arc<dyn CredentialSource>,
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
        match self.appliance() {
            Ok(a) => a.collect(collector, out),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

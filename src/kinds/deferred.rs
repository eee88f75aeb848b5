//! A target whose credentials file could not be read when the
//! configuration was loaded (issue 25): it starts anyway. Its collectors
//! that need no credentials (the unauthenticated healthcheck) are polled as
//! usual, so the appliance is not reported down; the others fail with
//! reason `credentials`, sending nothing, and read the file again at every
//! poll. The first read that works builds the kind's own appliance, which
//! every later poll uses. One unreadable file fails its target, never the
//! daemon.

//!
//! A target whose `tls_config` files could not be read has no HTTP client
//! yet: [`deferred_transport`] stands in for it, fails every request with
//! reason `credentials` (sending nothing, the healthcheck included: without
//! its CA or client certificate there is no connection to make), reads the
//! files again at every poll, and builds the client once, at the first read
//! that works.

use super::{Appliance, BoxFuture, Credentials, Kind, Target, Transport};
use crate::client::{ApiClient, ApiResponse, Auth, ClientCache, PeerCertificate, Settings};
use crate::error::CollectError;
use crate::exposition::Samples;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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

/// Where a target's HTTP client settings come from when its TLS files were
/// unreadable at load.
pub trait SettingsSource: Send + Sync {
    /// Read the files again: the settings, or what is wrong (files and OS
    /// errors, never their content).
    fn read(&self) -> Result<Settings, String>;
}

/// A transport waiting for its TLS files. `settings` is everything but
/// them (for the base URL and the timeout); `peer` is the certificate the
/// target's state shows, handed to the client once it is built.
pub fn deferred_transport(
    target: &str,
    settings: &Settings,
    source: Arc<dyn SettingsSource>,
    peer: Arc<PeerCertificate>,
) -> Arc<dyn Transport> {
    Arc::new(DeferredTransport {
        target: target.to_owned(),
        base: settings.url.as_str().trim_end_matches('/').to_owned(),
        timeout: settings.timeout,
        source,
        peer,
        cache: ClientCache::new(),
        ready: OnceLock::new(),
    })
}

struct DeferredTransport {
    target: String,
    base: String,
    timeout: Duration,
    source: Arc<dyn SettingsSource>,
    peer: Arc<PeerCertificate>,
    /// Its own: the one TLS configuration of this target.
    cache: ClientCache,
    ready: OnceLock<ApiClient>,
}

impl DeferredTransport {
    fn client(&self) -> Result<&ApiClient, CollectError> {
        if let Some(c) = self.ready.get() {
            return Ok(c);
        }
        let settings = self.source.read().map_err(CollectError::Credentials)?;
        let client = ApiClient::new(&settings, &self.cache)
            .map_err(|e| CollectError::Credentials(format!("tls_config: {e}")))?
            .sharing_peer_certificate(self.peer.clone());
        if self.ready.set(client).is_ok() {
            tracing::info!(target = %self.target, "TLS files read: connecting with them");
        }
        Ok(self.ready.get().expect("set above"))
    }
}

impl Transport for DeferredTransport {
    fn get<'a>(
        &'a self,
        path: &'a str,
        auth: Auth<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, CollectError>> {
        Box::pin(async move { self.client()?.get(path, auth).await })
    }

    fn post_login<'a>(
        &'a self,
        path: &'static str,
        auth: Auth<'a>,
        json: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<ApiResponse, CollectError>> {
        Box::pin(async move { self.client()?.post_login(path, auth, json).await })
    }

    fn base_url(&self) -> &str {
        &self.base
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }
}

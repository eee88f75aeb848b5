//! TLS configurations shared by every target with the same TLS and proxy
//! settings (a fleet with one CA file builds one).

use super::proxy::Proxy;
use super::Settings;
use crate::tls::{self, TlsSettings};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// TLS and proxy settings, shared by every target that has the same.
pub(super) struct Transport {
    pub(super) tls: tokio_rustls::TlsConnector,
    pub(super) proxy: Option<Proxy>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

/// Shared TLS configurations, keyed by TLS and proxy settings.
#[derive(Debug, Default)]
pub struct ClientCache {
    transports: Mutex<HashMap<ClientKey, Arc<Transport>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    tls: TlsSettings,
    proxy: Option<String>,
}

impl ClientCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn get(&self, target: &Settings) -> Result<Arc<Transport>, String> {
        let key = ClientKey {
            tls: target.tls.clone(),
            proxy: target.proxy_url.as_ref().map(|u| u.to_string()),
        };
        let mut map = self.transports.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let transport = Arc::new(build_transport(&key.tls, target.proxy_url.as_ref())?);
        map.insert(key, transport.clone());
        Ok(transport)
    }

    /// Drop configurations no target in `keep` uses (after a reload).
    pub fn retain<'a>(&self, keep: impl IntoIterator<Item = &'a Settings>) {
        let keep: Vec<&Settings> = keep.into_iter().collect();
        let mut map = self.transports.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| {
            keep.iter()
                .any(|t| t.tls == k.tls && t.proxy_url.as_ref().map(|u| u.to_string()) == k.proxy)
        });
    }

    /// Number of distinct configurations.
    pub fn len(&self) -> usize {
        self.transports.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn build_transport(tls: &TlsSettings, proxy: Option<&url::Url>) -> Result<Transport, String> {
    tls::install_crypto_provider();
    let mut config = tls::client_config(tls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Transport {
        tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        proxy: proxy.map(Proxy::from_url).transpose()?,
    })
}

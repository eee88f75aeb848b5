//! The server certificate and key, re-read when their files change. The
//! exporter-toolkit reads them again for every handshake
//! (`web/tls_config.go`, `GetCertificate`), so a certificate rotated by
//! cert-manager or certbot is served without a restart; this does the same,
//! looking at the files' modification time and size at most once a second.
//! A changed pair that does not load (half-written, key and certificate not
//! matching) is logged and the previous one kept.

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often the files are looked at, at most.
const CHECK_EVERY: Duration = Duration::from_secs(1);

type Stamp = Option<[(SystemTime, u64); 2]>;

/// Loads a certificate chain and key from PEM bytes.
pub(super) type Loader =
    dyn Fn(&[u8], &[u8], &CryptoProvider) -> Result<CertifiedKey, String> + Send + Sync;

pub(super) struct ReloadingCert {
    /// `cert_file`, `key_file` (absolute); `None` for inline PEM.
    files: Option<(PathBuf, PathBuf)>,
    provider: Arc<CryptoProvider>,
    load: Box<Loader>,
    state: Mutex<State>,
}

struct State {
    checked: Instant,
    stamp: Stamp,
    key: Arc<CertifiedKey>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn stamp(files: &(PathBuf, PathBuf)) -> Stamp {
    let one = |p: &PathBuf| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    Some([one(&files.0)?, one(&files.1)?])
}

impl ReloadingCert {
    /// The pair loaded now (an error stops the exporter at start, as any
    /// bad key does); `files` are watched from then on.
    pub(super) fn new(
        files: Option<(PathBuf, PathBuf)>,
        pem: (&[u8], &[u8]),
        provider: Arc<CryptoProvider>,
        load: Box<Loader>,
    ) -> Result<ReloadingCert, String> {
        let key = Arc::new(load(pem.0, pem.1, &provider)?);
        let stamp = files.as_ref().and_then(stamp);
        Ok(ReloadingCert {
            files,
            provider,
            load,
            state: Mutex::new(State {
                checked: Instant::now(),
                stamp,
                key,
            }),
        })
    }

    fn reload(&self, files: &(PathBuf, PathBuf), state: &mut State) {
        state.checked = Instant::now();
        let now = stamp(files);
        if now.is_none() || now == state.stamp {
            return;
        }
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let loaded = read(&files.0)
            .and_then(|c| read(&files.1).map(|k| (c, k)))
            .and_then(|(c, k)| (self.load)(&c, &k, &self.provider));
        match loaded {
            Ok(key) => {
                state.key = Arc::new(key);
                state.stamp = now;
                tracing::info!(cert_file = %files.0.display(), "server certificate reloaded");
            }
            // Keep serving the old pair; try again when the files change.
            Err(e) => {
                state.stamp = now;
                tracing::warn!(cert_file = %files.0.display(), error = %e, "server certificate changed but does not load; keeping the previous one");
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(files) = &self.files {
            if state.checked.elapsed() >= CHECK_EVERY {
                self.reload(files, &mut state);
            }
        }
        Some(state.key.clone())
    }
}

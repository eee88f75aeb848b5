//! The daemon, in two steps (the shape of zero-to-production's `startup.rs`):
//! [`Daemon::build`] loads the configuration, binds the listener and starts
//! polling, so a bad configuration fails before anything runs and the bound
//! address is known ([`Daemon::local_addr`], port 0 works);
//! [`Daemon::run_until`] serves HTTP (or HTTPS) until a shutdown future
//! resolves, then shuts down gracefully ([`crate::server`]). SIGHUP, `POST /-/reload`
//! (with `--web.enable-lifecycle`) and a changed configuration file or
//! `target_files` reload the configuration.
//!
//! The command line ([`crate::cli`]) and the integration tests (in-process)
//! are its two callers; it knows nothing of the simulator (`--demo` hands
//! it a configuration as text, [`SourceKind::Yaml`]).

use crate::config::Config;
use crate::scheduler::Scheduler;
use crate::server::{self, Limits};
use crate::store::Store;
use crate::web::{self, AppState, ReloadRequest};
use crate::webconfig::WebConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long the graceful shutdown may take before the daemon gives up on
/// open connections.
const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(10);

/// How often the configuration file and the files `target_files` matches
/// are checked for changes.
const TARGET_FILES_CHECK: Duration = Duration::from_secs(5);

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// A YAML or TOML file, re-read on every reload.
    File(PathBuf),
    /// A YAML text (the `--demo` fleet's); relative paths are relative to `dir`.
    Yaml {
        /// The configuration.
        yaml: String,
        /// Base of its relative paths.
        dir: PathBuf,
    },
}

/// What the daemon needs to start; the command line fills it in from its flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Addresses of the web interface and telemetry (`--web.listen-address`,
    /// once or more, parsed); `[::]:port` listens on IPv4 and IPv6 ([`server::bind`]).
    pub listen: Vec<SocketAddr>,
    /// Path of the metrics (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// Where the configuration comes from.
    pub source: SourceKind,
    /// This replica's shard: (index, count); (0, 1) is no sharding.
    pub shard: (u32, u32),
    /// TLS and basic-auth settings of the web endpoints (`--web.config.file`).
    pub web_config_file: Option<PathBuf>,
    /// `POST /-/reload` allowed (`--web.enable-lifecycle`); SIGHUP always is.
    pub enable_lifecycle: bool,
    /// Header-read timeout and connection cap of the web server.
    pub limits: Limits,
    /// `--web.external-url`: where the exporter is reached (links are built from it).
    pub external_url: Option<String>,
    /// `--web.route-prefix`: the path it serves under (default: the external URL's).
    pub route_prefix: Option<String>,
}

impl Settings {
    /// `source` served on `listen` with the defaults of the command line:
    /// `/metrics`, no sharding, no web configuration, no lifecycle API,
    /// the default limits.
    pub fn new(listen: SocketAddr, source: SourceKind) -> Settings {
        Settings {
            listen: vec![listen],
            telemetry_path: "/metrics".to_owned(),
            source,
            shard: (0, 1),
            web_config_file: None,
            enable_lifecycle: false,
            limits: Limits::default(),
            external_url: None,
            route_prefix: None,
        }
    }
}

/// Why the daemon did not start; each message is what the binary prints.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// `--web.telemetry-path` is not a path below `/`.
    #[error("--web.telemetry-path must start with / and not be /: {0:?}")]
    TelemetryPath(String),
    /// `--shard.index` is not below `--shard.count`.
    #[error("--shard.index must be below --shard.count (got {index} of {count})")]
    Shard {
        /// `--shard.index`.
        index: u32,
        /// `--shard.count`.
        count: u32,
    },
    /// The configuration has problems (one per line).
    #[error("invalid configuration:\n{0}")]
    Config(String),
    /// The web configuration file is unusable.
    #[error("invalid --web.config.file: {0}")]
    WebConfig(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why not.
        source: std::io::Error,
    },
    /// `--web.external-url` is not a usable URL.
    #[error("{0}")]
    Paths(String),
    /// No `--web.listen-address` at all.
    #[error("no --web.listen-address")]
    NoListenAddress,
    /// The bound listener has no address.
    #[error("{0}")]
    LocalAddr(std::io::Error),
    /// The scheduler refused the configuration.
    #[error("{0}")]
    Schedule(String),
    /// A syslog listener could not be bound.
    #[error("cannot start the syslog receiver: {0}")]
    Syslog(std::io::Error),
}

/// `--web.telemetry-path` must start with `/` and not be `/` itself.
pub fn check_telemetry_path(path: &str) -> Result<(), DaemonError> {
    if !path.starts_with('/') || path == "/" {
        return Err(DaemonError::TelemetryPath(path.to_owned()));
    }
    Ok(())
}

/// Where the configuration comes from, and which shard of it is ours.
#[derive(Debug)]
struct Source {
    kind: SourceKind,
    shard: (u32, u32),
}

impl Source {
    fn new(kind: SourceKind, (index, count): (u32, u32)) -> Result<Source, DaemonError> {
        if count == 0 || index >= count {
            return Err(DaemonError::Shard { index, count });
        }
        Ok(Source {
            kind,
            shard: (index, count),
        })
    }

    fn load(&self) -> Result<Config, String> {
        let mut config = match &self.kind {
            SourceKind::File(p) => Config::load(p).map_err(|e| e.to_string())?,
            SourceKind::Yaml { yaml, dir } => {
                Config::from_yaml(yaml, dir).map_err(|e| e.to_string())?
            }
        };
        let (index, count) = self.shard;
        if count > 1 {
            config
                .targets
                .retain(|t| crate::config::shard_of(&t.name, count) == index);
        }
        Ok(config)
    }
}

fn load_web_config(path: Option<&Path>) -> Result<WebConfig, DaemonError> {
    match path {
        Some(p) => WebConfig::load(p).map_err(DaemonError::WebConfig),
        None => Ok(WebConfig::default()),
    }
}

/// A started daemon: configuration applied, polling, listener bound, not
/// serving yet.
pub struct Daemon {
    listeners: Vec<TcpListener>,
    local: Vec<SocketAddr>,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    store: Arc<Store>,
    ready: Arc<AtomicBool>,
    scheduler: Arc<Scheduler>,
    targets: usize,
    /// Basic auth is asked (`basic_auth_users` of the web config).
    basic_auth: bool,
    /// The syslog receiver, when configured.
    syslog: Option<crate::syslog::receiver::Receiver>,
    /// The reloader, SIGHUP handler and target-files watch.
    tasks: Vec<JoinHandle<()>>,
    abort: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("local", &self.local)
            .field("tls", &self.tls.is_some())
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Load and apply the configuration, bind the listener, start polling
    /// and the reload tasks. A bad configuration fails here, with nothing
    /// started.
    pub async fn build(settings: Settings) -> Result<Daemon, DaemonError> {
        check_telemetry_path(&settings.telemetry_path)?;
        let source = Source::new(settings.source, settings.shard)?;
        let main_file = match &source.kind {
            SourceKind::File(p) => Some(p.clone()),
            SourceKind::Yaml { .. } => None,
        };
        // A bad config at start: clear error, exit 1, nothing started.
        let config = source.load().map_err(DaemonError::Config)?;
        let web_config = load_web_config(settings.web_config_file.as_deref())?;
        let (mut listeners, mut local) = (Vec::new(), Vec::new());
        for &addr in &settings.listen {
            let listener =
                server::bind(addr).map_err(|source| DaemonError::Listen { addr, source })?;
            local.push(listener.local_addr().map_err(DaemonError::LocalAddr)?);
            listeners.push(listener);
        }
        if listeners.is_empty() {
            return Err(DaemonError::NoListenAddress);
        }
        let paths = web::Paths::new(
            settings.external_url.as_deref(),
            settings.route_prefix.as_deref(),
            local[0].port(),
            web_config.tls.is_some(),
        )
        .map_err(DaemonError::Paths)?;

        let store = Arc::new(Store::new());
        let scheduler = Arc::new(Scheduler::new(store.clone()));
        scheduler.apply(&config).map_err(DaemonError::Schedule)?;
        store.stats.set_advisories(config.advisories.clone());
        store.stats.reloaded(true);
        let syslog = match &config.syslog {
            Some(c) => Some(
                crate::syslog::receiver::Receiver::start(
                    c,
                    crate::syslog::receiver::Routes::build(&config.targets),
                    store.clone(),
                )
                .await
                .map_err(DaemonError::Syslog)?,
            ),
            None => None,
        };
        let ready = Arc::new(AtomicBool::new(true));
        let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
        let patterns = Arc::new(Mutex::new(config.target_file_patterns.clone()));
        let tasks = vec![
            tokio::spawn(reloader(
                source,
                scheduler.clone(),
                store.clone(),
                reload_rx,
                patterns.clone(),
                syslog.as_ref().map(|r| r.shared.clone()),
                settings.web_config_file.clone(),
            )),
            spawn_sighup(reload_tx.clone()),
            spawn_config_watch(main_file, patterns, reload_tx.clone()),
        ];
        let app = web::router(
            AppState {
                store: store.clone(),
                ready: ready.clone(),
                reload: reload_tx,
                lifecycle: settings.enable_lifecycle,
                paths: Arc::new(paths),
            },
            &settings.telemetry_path,
            web_config.clone(),
        );
        Ok(Daemon {
            listeners,
            local,
            app,
            tls: web_config.tls,
            limits: settings.limits,
            store,
            ready,
            scheduler,
            targets: config.targets.len(),
            basic_auth: !web_config.users.is_empty(),
            syslog,
            tasks,
            abort: Box::pin(std::future::pending()),
        })
    }

    /// The address the first listener is bound to (the actual port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local[0]
    }

    /// The addresses of every listener, in `--web.listen-address` order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// The syslog receiver's bound UDP and TCP addresses (port 0 resolved).
    pub fn syslog_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        self.syslog
            .as_ref()
            .map_or((None, None), |r| (r.udp, r.tcp))
    }

    /// The syslog receiver's bound TLS address (port 0 resolved).
    pub fn syslog_tls_addr(&self) -> Option<SocketAddr> {
        self.syslog.as_ref().and_then(|r| r.tls)
    }

    /// Cut the graceful shutdown short when `abort` resolves (the binary
    /// passes a second SIGINT/SIGTERM). `abort` is polled only once the
    /// shutdown has begun. Without it, the graceful shutdown ends when the
    /// connections are closed or after 10 s.
    pub fn abort_on(mut self, abort: impl Future<Output = ()> + Send + 'static) -> Daemon {
        self.abort = Box::pin(abort);
        self
    }

    /// Serve until `shutdown` resolves, then shut down: not ready any more,
    /// polling stopped, open connections given 10 s to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let Daemon {
            listeners,
            local,
            app,
            tls,
            limits,
            store,
            ready,
            scheduler,
            targets,
            basic_auth,
            syslog,
            tasks,
            abort,
        } = self;
        // Say how the endpoint is protected, as exporter-toolkit's
        // "TLS is enabled/disabled" line does.
        let on = |b: bool| if b { "on" } else { "off" };
        for address in &local {
            tracing::info!(%address, version = env!("CARGO_PKG_VERSION"), targets, tls = on(tls.is_some()), basic_auth = on(basic_auth), "listening");
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let on_limit = move || {
            store
                .stats
                .http_connections_limited
                .fetch_add(1, Ordering::Relaxed);
        };
        let server = tokio::spawn(server::serve(
            listeners, app, tls, limits, on_limit, stop_rx,
        ));
        shutdown.await;
        tracing::info!("shutting down");
        ready.store(false, Ordering::Relaxed);
        scheduler.stop();
        let _ = stop_tx.send(true);
        // Bound the graceful shutdown; a second signal aborts at once.
        tokio::select! {
            _ = server => {}
            _ = tokio::time::sleep(GRACEFUL_SHUTDOWN) => tracing::warn!("graceful shutdown timed out"),
            _ = abort => tracing::warn!("second signal: aborting"),
        }
        for t in tasks {
            t.abort();
        }
        drop(syslog);
        Ok(())
    }
}

/// Re-read the configuration when the configuration file itself or the
/// files `target_files` matches change (checked every 5 s; a new, changed or
/// removed file counts). The main file is compared by content, so a
/// Kubernetes ConfigMap update (an atomic swap of the `..data` symlink, with
/// an mtime that may not move) is seen too.
fn spawn_config_watch(
    main: Option<PathBuf>,
    patterns: Arc<Mutex<Vec<PathBuf>>>,
    tx: mpsc::Sender<ReloadRequest>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let current = || config_fingerprint(main.as_deref(), &patterns);
        let mut last = current();
        loop {
            tokio::time::sleep(TARGET_FILES_CHECK).await;
            let now = current();
            if now != last && now.is_some() {
                tracing::info!("configuration files changed: reloading configuration");
                let (reply, rx) = tokio::sync::oneshot::channel();
                if tx.send(reply).await.is_err() {
                    return;
                }
                let _ = rx.await;
            }
            last = current();
        }
    })
}

/// What a change of the watched files changes: the main file's content
/// (None when it cannot be read: a half-done replace is not a change) and
/// the target files' fingerprint.
fn config_fingerprint(main: Option<&Path>, patterns: &Mutex<Vec<PathBuf>>) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    let mut watched = false;
    if let Some(main) = main {
        std::fs::read(main).ok()?.hash(&mut h);
        watched = true;
    }
    let p = patterns.lock().map(|p| p.clone()).unwrap_or_default();
    if !p.is_empty() {
        crate::config::target_files_fingerprint(&p).hash(&mut h);
        watched = true;
    }
    watched.then(|| h.finish())
}

/// Apply every reload request: load the source again, hand it to the
/// scheduler, answer with the problems when it is rejected.
async fn reloader(
    source: Source,
    scheduler: Arc<Scheduler>,
    store: Arc<Store>,
    mut rx: mpsc::Receiver<ReloadRequest>,
    patterns: Arc<Mutex<Vec<PathBuf>>>,
    syslog: Option<Arc<crate::syslog::receiver::Shared>>,
    web_config_file: Option<PathBuf>,
) {
    while let Some(reply) = rx.recv().await {
        let result = source.load().and_then(|c| {
            scheduler.apply(&c)?;
            // New targets are routed at once; listener settings take a restart.
            if let Some(s) = &syslog {
                s.set_routes(crate::syslog::receiver::Routes::build(&c.targets));
            }
            store.stats.set_advisories(c.advisories.clone());
            if let Ok(mut p) = patterns.lock() {
                *p = c.target_file_patterns.clone();
            }
            Ok(())
        });
        match &result {
            // Say what a reload does not do (issue 25): the web config's
            // users, hashes, client CA and headers are read at start only.
            Ok(()) => match &web_config_file {
                Some(f) => tracing::info!(
                    web_config_file = %f.display(),
                    web_config = "not re-read: users, password hashes, client CA, rate limit and headers take a restart (the server certificate and key are re-read when their files change)",
                    "configuration reloaded"
                ),
                None => tracing::info!("configuration reloaded"),
            },
            Err(e) => {
                tracing::error!(error = %e, "configuration reload rejected; the previous configuration stays in force")
            }
        }
        store.stats.reloaded(result.is_ok());
        let _ = reply.send(result);
    }
}

#[cfg(unix)]
fn spawn_sighup(tx: mpsc::Sender<ReloadRequest>) -> JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading configuration");
            let (reply, _rx) = tokio::sync::oneshot::channel();
            if tx.send(reply).await.is_err() {
                return;
            }
        }
    })
}

#[cfg(not(unix))]
fn spawn_sighup(_tx: mpsc::Sender<ReloadRequest>) -> JoinHandle<()> {
    tokio::spawn(async {})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> SourceKind {
        SourceKind::Yaml {
            yaml: text.to_owned(),
            dir: std::env::temp_dir(),
        }
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn telemetry_paths() {
        assert!(check_telemetry_path("/metrics").is_ok());
        for bad in ["/", "metrics", ""] {
            assert_eq!(
                check_telemetry_path(bad).unwrap_err().to_string(),
                format!("--web.telemetry-path must start with / and not be /: {bad:?}")
            );
        }
    }

    #[tokio::test]
    async fn bad_shards_and_configs_fail_before_anything_starts() {
        let mut s = Settings::new(loopback(), yaml("targets: []\n"));
        s.shard = (3, 3);
        let e = Daemon::build(s).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "--shard.index must be below --shard.count (got 3 of 3)"
        );
        let s = Settings::new(loopback(), yaml("targets:\n  - name: x\n    url: nope\n"));
        let e = Daemon::build(s).await.unwrap_err().to_string();
        assert!(e.starts_with("invalid configuration:\n"), "{e}");
    }

    /// The status line of `GET /-/ready` at `addr`.
    async fn ready_at(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /-/ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }

    /// Serve `listen` until the returned sender is dropped or fires.
    async fn serving(
        listen: Vec<SocketAddr>,
    ) -> (Vec<SocketAddr>, tokio::sync::oneshot::Sender<()>) {
        crate::tls::install_crypto_provider();
        let mut settings = Settings::new(loopback(), yaml("targets: []\n"));
        settings.listen = listen;
        let daemon = Daemon::build(settings).await.unwrap();
        let addrs = daemon.local_addrs().to_vec();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(daemon.run_until(async {
            let _ = rx.await;
        }));
        (addrs, tx)
    }

    /// `--web.listen-address :<port>`, as Go exporters: IPv4 and IPv6 on one port.
    #[tokio::test]
    async fn a_port_alone_listens_on_ipv4_and_ipv6() {
        let any = crate::cli::parse_listen_address(":0").unwrap();
        let (addrs, _stop) = serving(vec![any]).await;
        let port = addrs[0].port();
        assert_ne!(port, 0);
        for ip in ["127.0.0.1", "::1"] {
            let addr = SocketAddr::new(ip.parse().unwrap(), port);
            assert_eq!(ready_at(addr).await, "HTTP/1.1 200 OK", "{addr}");
        }
    }

    /// `--web.listen-address` given twice: both answer.
    #[tokio::test]
    async fn every_listen_address_is_served() {
        let listen = vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        let (addrs, _stop) = serving(listen).await;
        assert_eq!(addrs.len(), 2);
        assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6(), "{addrs:?}");
        for addr in addrs {
            assert_eq!(ready_at(addr).await, "HTTP/1.1 200 OK", "{addr}");
        }
        let mut settings = Settings::new(loopback(), yaml("targets: []\n"));
        settings.listen.clear();
        let e = Daemon::build(settings).await.unwrap_err();
        assert_eq!(e.to_string(), "no --web.listen-address");
    }

    #[tokio::test]
    async fn port_zero_is_known_after_build_and_shutdown_ends_the_run() {
        crate::tls::install_crypto_provider();
        let daemon = Daemon::build(Settings::new(loopback(), yaml("targets: []\n")))
            .await
            .unwrap();
        let addr = daemon.local_addr();
        assert_ne!(addr.port(), 0);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(daemon.run_until(async {
            let _ = rx.await;
        }));
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        conn.write_all(b"GET /-/ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

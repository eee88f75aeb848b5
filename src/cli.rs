//! Command line (Prometheus conventions) and the three ways to run:
//! the daemon, `check-config`, and `simulate`.

use crate::config::Config;
use crate::logging::{self, LogFormat, LogLevel};
use crate::scheduler::Scheduler;
use crate::sim;
use crate::store::Store;
use crate::web::{self, AppState, ReloadRequest};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Default port of the exporter's web server.
pub const DEFAULT_PORT: u16 = 9959;

/// Prometheus exporter for Ivanti Connect Secure and Policy Secure appliances.
#[derive(Debug, Parser)]
#[command(name = "ivanti-exporter", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (YAML, or TOML when it ends in .toml).
    #[arg(
        long = "config.file",
        default_value = "ivanti-exporter.yml",
        global = true
    )]
    pub config_file: PathBuf,
    /// Address to listen on for the web interface and telemetry.
    #[arg(long = "web.listen-address", default_value = ":9959")]
    pub listen_address: String,
    /// TLS and basic-auth settings for the web endpoints (exporter-toolkit format).
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    pub telemetry_path: String,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info", global = true)]
    pub log_level: LogLevel,
    /// Output format of log messages.
    #[arg(
        long = "log.format",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    pub log_format: LogFormat,
    /// Start a simulated fleet in-process and poll it (no appliance or config needed).
    #[arg(long)]
    pub demo: bool,
    /// Number of simulated appliances for --demo.
    #[arg(long = "demo.appliances", default_value_t = 8)]
    pub demo_appliances: usize,
    /// This replica's shard (0-based); targets are split by a stable hash of their name.
    #[arg(long = "shard.index", env = "IVANTI_SHARD_INDEX", default_value_t = 0)]
    pub shard_index: u32,
    /// Number of shards (replicas) splitting the targets; 1 = no sharding.
    #[arg(long = "shard.count", env = "IVANTI_SHARD_COUNT", default_value_t = 1)]
    pub shard_count: u32,
    /// What to do (default: run the exporter).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration file and exit: 0 when valid, 1 with every problem listed.
    CheckConfig,
    /// Serve a simulated fleet of appliances on loopback.
    Simulate(sim::SimulateArgs),
    /// Exit 0 when the URL answers 200 (container health checks without curl).
    Healthcheck {
        /// URL to check.
        #[arg(long, default_value = "http://127.0.0.1:9959/-/healthy")]
        url: String,
    },
}

/// Parse `:9959`, `0.0.0.0:9959`, `[::1]:9959` or `localhost:9959`.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    if let Ok(a) = full.parse() {
        return Ok(a);
    }
    use std::net::ToSocketAddrs;
    full.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("invalid --web.listen-address {s:?}"))
}

/// Run the program; the exit code is 1 on any start-up failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_level, cli.log_format);
    crate::tls::install_crypto_provider();
    // One connection per appliance: a large fleet needs more than the usual 1024 descriptors.
    crate::system::raise_fd_limit();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::CheckConfig) => return check_config(&cli.config_file),
        Some(Command::Healthcheck { ref url }) => rt.block_on(healthcheck(url)),
        Some(Command::Simulate(ref args)) => rt
            .block_on(sim::run(args.clone(), shutdown_signal()))
            .map_err(|e| format!("simulator: {e}")),
        None => rt.block_on(run(cli)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            eprintln!("ivanti-exporter: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", resp.status()))
    }
}

fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(c) => {
            println!(
                "{}: OK ({} targets, {} collector schedules)",
                path.display(),
                c.targets.len(),
                c.targets.iter().map(|t| t.collectors.len()).sum::<usize>()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: invalid configuration", path.display());
            for p in &e.problems {
                eprintln!("  {p}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Where the configuration comes from, and which shard of it is ours.
struct Source {
    kind: SourceKind,
    shard: (u32, u32),
}

enum SourceKind {
    File(PathBuf),
    Demo { yaml: String, dir: PathBuf },
}

impl Source {
    fn load(&self) -> Result<Config, String> {
        let mut config = match &self.kind {
            SourceKind::File(p) => Config::load(p).map_err(|e| e.to_string())?,
            SourceKind::Demo { yaml, dir } => {
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

/// The daemon: load config, start polling, serve HTTP until SIGTERM/SIGINT;
/// SIGHUP and `POST /-/reload` reload the config.
pub async fn run(cli: Cli) -> Result<(), String> {
    let addr = parse_listen_address(&cli.listen_address)?;
    if !cli.telemetry_path.starts_with('/') || cli.telemetry_path == "/" {
        return Err(format!(
            "--web.telemetry-path must start with / and not be /: {:?}",
            cli.telemetry_path
        ));
    }
    let mut _fleet = None;
    let source = if cli.demo {
        let fleet = sim::Fleet::start(sim::FleetOptions {
            appliances: cli.demo_appliances.max(1),
            // One of each neighbouring product at the end of the fleet.
            kinds: if cli.demo_appliances >= 4 {
                vec![sim::SimKind::Sps, sim::SimKind::Epmm, sim::SimKind::Isec]
            } else {
                Vec::new()
            },
            ..sim::FleetOptions::default()
        })
        .await
        .map_err(|e| format!("starting the simulated fleet: {e}"))?;
        let dir = std::env::temp_dir().join(format!("ivanti-exporter-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ca = dir.join("fleet-ca.pem");
        if let Some(pem) = fleet.ca_pem() {
            std::fs::write(&ca, pem).map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        let yaml = fleet.config_yaml(fleet.ca_pem().map(|_| ca.as_path()), Duration::from_secs(5));
        tracing::info!(appliances = fleet.len(), "demo: simulated fleet started");
        _fleet = Some(fleet);
        SourceKind::Demo { yaml, dir }
    } else {
        SourceKind::File(cli.config_file.clone())
    };
    if cli.shard_count == 0 || cli.shard_index >= cli.shard_count {
        return Err(format!(
            "--shard.index must be below --shard.count (got {} of {})",
            cli.shard_index, cli.shard_count
        ));
    }
    let source = Source {
        kind: source,
        shard: (cli.shard_index, cli.shard_count),
    };
    // A bad config at start: clear error, exit 1, nothing started.
    let config = source
        .load()
        .map_err(|e| format!("invalid configuration:\n{e}"))?;
    let web_config = match &cli.web_config_file {
        Some(p) => crate::webconfig::WebConfig::load(p)
            .map_err(|e| format!("invalid --web.config.file: {e}"))?,
        None => crate::webconfig::WebConfig::default(),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;

    let store = Arc::new(Store::new());
    let scheduler = Arc::new(Scheduler::new(store.clone()));
    scheduler.apply(&config)?;
    store.stats.reloaded(true);
    let ready = Arc::new(AtomicBool::new(true));
    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let patterns = Arc::new(std::sync::Mutex::new(config.target_file_patterns.clone()));
    tokio::spawn(reloader(
        source,
        scheduler.clone(),
        store.clone(),
        reload_rx,
        patterns.clone(),
    ));
    spawn_sighup(reload_tx.clone());
    spawn_target_files_watch(patterns, reload_tx.clone());

    let app = web::router(
        AppState {
            store: store.clone(),
            ready: ready.clone(),
            reload: reload_tx,
        },
        &cli.telemetry_path,
        web_config.clone(),
    );
    tracing::info!(address = %local, version = env!("CARGO_PKG_VERSION"), targets = config.targets.len(), "listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = match web_config.tls.clone() {
        Some(tls) => tokio::spawn(serve_tls(listener, app, tls, stop_rx.clone())),
        None => {
            let server = axum::serve(listener, app).with_graceful_shutdown({
                let mut rx = stop_rx.clone();
                async move {
                    let _ = rx.wait_for(|v| *v).await;
                }
            });
            tokio::spawn(async move {
                let _ = server.await;
            })
        }
    };
    shutdown_signal().await;
    tracing::info!("shutting down");
    ready.store(false, Ordering::Relaxed);
    scheduler.stop();
    let _ = stop_tx.send(true);
    // Bound the graceful shutdown; a second signal aborts at once.
    tokio::select! {
        _ = server => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("graceful shutdown timed out"),
        _ = shutdown_signal() => tracing::warn!("second signal: aborting"),
    }
    if let Some(fleet) = _fleet {
        fleet.shutdown().await;
    }
    Ok(())
}

/// Serve `app` over TLS until `stop` turns true.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Arc<rustls::ServerConfig>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

/// Re-read the configuration when the files `target_files` matches change
/// (checked every 5 s; a new, changed or removed file counts).
fn spawn_target_files_watch(
    patterns: Arc<std::sync::Mutex<Vec<PathBuf>>>,
    tx: mpsc::Sender<ReloadRequest>,
) {
    tokio::spawn(async move {
        let current = || {
            let p = patterns.lock().map(|p| p.clone()).unwrap_or_default();
            (!p.is_empty()).then(|| crate::config::target_files_fingerprint(&p))
        };
        let mut last = current();
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let now = current();
            if now != last && now.is_some() {
                tracing::info!("target files changed: reloading configuration");
                let (reply, rx) = tokio::sync::oneshot::channel();
                if tx.send(reply).await.is_err() {
                    return;
                }
                let _ = rx.await;
            }
            last = current();
        }
    });
}

async fn reloader(
    source: Source,
    scheduler: Arc<Scheduler>,
    store: Arc<Store>,
    mut rx: mpsc::Receiver<ReloadRequest>,
    patterns: Arc<std::sync::Mutex<Vec<PathBuf>>>,
) {
    while let Some(reply) = rx.recv().await {
        let result = source.load().and_then(|c| {
            scheduler.apply(&c)?;
            if let Ok(mut p) = patterns.lock() {
                *p = c.target_file_patterns.clone();
            }
            Ok(())
        });
        match &result {
            Ok(()) => tracing::info!("configuration reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "configuration reload rejected; the previous configuration stays in force")
            }
        }
        store.stats.reloaded(result.is_ok());
        let _ = reply.send(result);
    }
}

#[cfg(unix)]
fn spawn_sighup(tx: mpsc::Sender<ReloadRequest>) {
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
    });
}

#[cfg(not(unix))]
fn spawn_sighup(_tx: mpsc::Sender<ReloadRequest>) {}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen_address(":9959").unwrap(),
            "0.0.0.0:9959".parse().unwrap()
        );
        assert_eq!(
            parse_listen_address("[::1]:1").unwrap(),
            "[::1]:1".parse().unwrap()
        );
        assert!(parse_listen_address("nope").is_err());
    }
}

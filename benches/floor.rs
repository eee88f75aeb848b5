//! The bare-client floor of the load benchmark (`cargo build --release
//! --example floor`, driven by `benches/load.py` as
//! `target/release/examples/floor --config.file FILE`): the same requests as the exporter, on the
//! same schedule (each collector's endpoints once per interval, at the same
//! phase) and over the same kept-alive connections ([`ApiClient`]), but
//! nothing else: no parsing, no store, no rendering, no scrapes. The CPU it
//! uses is the cost of the HTTP traffic itself, so the exporter's CPU per
//! poll divided by the floor's is its overhead (docs/performance.md).
//!
//! Supports what the harness polls: `ics` targets with an API key (or no
//! credentials).

use ivanti_exporter::client::{ApiClient, Auth, ClientCache};
use ivanti_exporter::config::{Config, Credentials};
use ivanti_exporter::kinds::ics;
use ivanti_exporter::scheduler::phase;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};

/// Counters of a floor run.
#[derive(Debug, Default)]
pub struct FloorStats {
    /// Collector "polls" done (one pass over a collector's endpoints).
    pub polls: AtomicU64,
    /// Requests answered (any status: a stand-alone box answers 404 to
    /// `/api/v1/cluster`, which the exporter accepts too).
    pub ok: AtomicU64,
    /// Requests that got no answer (transport errors, timeouts).
    pub failed: AtomicU64,
}

/// The request paths a collector's poll makes on a healthy appliance.
pub fn paths(endpoints: &[&str], page_size: usize) -> Vec<String> {
    endpoints
        .iter()
        .filter_map(|e| e.strip_prefix("GET "))
        .map(|p| {
            p.replace("number=N", &format!("number={page_size}"))
                .replace("start=S", "start=0")
        })
        .collect()
}

/// Start the loops; they run until the runtime stops. Fails on targets it
/// cannot drive.
pub fn start(config: &Config, stats: Arc<FloorStats>) -> Result<(), String> {
    let cache = ClientCache::new();
    for t in &config.targets {
        if t.kind.name() != "ics" {
            return Err(format!("{}: the floor drives ics targets only", t.name));
        }
        let key = match &t.credentials {
            Credentials::ApiKey(k) => Some(k.clone()),
            Credentials::None => None,
            _ => {
                return Err(format!(
                    "{}: the floor supports api_key or no credentials",
                    t.name
                ))
            }
        };
        let api = ApiClient::new(&t.client, &cache).map_err(|e| format!("{}: {e}", t.name))?;
        // As many polls in flight per appliance as the exporter allows.
        let per_target = Arc::new(Semaphore::new(t.client.max_concurrent_requests));
        let page_size = t
            .options
            .get::<ics::Options>()
            .map_or(ics::DEFAULT_PAGE_SIZE, |o| o.page_size);
        let retry = t.min_interval();
        for c in &t.collectors {
            let paths = paths(c.spec.endpoints, page_size);
            let (api, key, stats) = (api.clone(), key.clone(), stats.clone());
            let per_target = per_target.clone();
            let start = Instant::now() + phase(&t.name, c.spec.name, retry);
            let mut tick = tokio::time::interval_at(start, c.interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tokio::spawn(async move {
                loop {
                    tick.tick().await;
                    let Ok(_permit) = per_target.acquire().await else {
                        return;
                    };
                    for p in &paths {
                        let auth = match (&key, p.contains("healthcheck")) {
                            (Some(k), false) => Auth::ApiKey(k),
                            _ => Auth::None,
                        };
                        match api.get(p, auth).await {
                            Ok(_) => stats.ok.fetch_add(1, Ordering::Relaxed),
                            Err(_) => stats.failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                    stats.polls.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
    Ok(())
}

/// Run until `shutdown`, printing the counters
/// every `report` to stdout as one JSON object per line.
pub async fn run(
    config: Config,
    report: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let stats = Arc::new(FloorStats::default());
    start(&config, stats.clone())?;
    let print = async {
        let mut tick = tokio::time::interval(report);
        loop {
            tick.tick().await;
            println!(
                "{{\"polls\":{},\"ok\":{},\"failed\":{}}}",
                stats.polls.load(Ordering::Relaxed),
                stats.ok.load(Ordering::Relaxed),
                stats.failed.load(Ordering::Relaxed)
            );
        }
    };
    tokio::select! {
        _ = print => {}
        _ = shutdown => {}
    }
    Ok(())
}

/// `floor --config.file FILE`: run until SIGINT or SIGTERM.
fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config_file = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config.file" => config_file = args.next(),
            // Accepted for the harness's command line; the floor logs nothing.
            "--log.level" => {
                args.next();
            }
            other => {
                eprintln!("floor: unknown argument {other:?}; usage: floor --config.file FILE");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let Some(config_file) = config_file else {
        eprintln!("floor: usage: floor --config.file FILE");
        return std::process::ExitCode::FAILURE;
    };
    ivanti_exporter::tls::install_crypto_provider();
    ivanti_exporter::system::raise_fd_limit();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("floor: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let config = Config::load(std::path::Path::new(&config_file)).map_err(|e| e.to_string())?;
        run(config, Duration::from_secs(1), shutdown()).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_in_the_first_page() {
        assert_eq!(
            paths(
                &[
                    "GET /api/v1/system/healthcheck",
                    "GET /api/v1/system/active-users?number=N&start=S"
                ],
                200
            ),
            [
                "/api/v1/system/healthcheck",
                "/api/v1/system/active-users?number=200&start=0"
            ]
        );
    }

    #[tokio::test]
    async fn the_floor_makes_the_exporters_requests_and_they_succeed() {
        ivanti_exporter::tls::install_crypto_provider();
        let fleet = ivanti_exporter::sim::Fleet::start(ivanti_exporter::sim::FleetOptions {
            appliances: 2,
            ..Default::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, fleet.ca_pem().unwrap()).unwrap();
        let yaml = fleet.config_yaml(Some(&ca), Duration::from_secs(1));
        let config = Config::from_yaml(&yaml, dir.path()).unwrap();
        let stats = Arc::new(FloorStats::default());
        start(&config, stats.clone()).unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        // 2 appliances x 5 collectors, every second, first polls within 1 s.
        let polls = stats.polls.load(Ordering::Relaxed);
        assert!(polls >= 20, "{polls} polls");
        assert!(stats.ok.load(Ordering::Relaxed) >= polls);
        assert_eq!(stats.failed.load(Ordering::Relaxed), 0);
        for a in fleet.appliances() {
            assert_eq!(a.stats().tls_handshakes, 1, "one kept-alive connection");
        }
    }
}

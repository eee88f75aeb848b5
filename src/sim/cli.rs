//! `ivanti-exporter simulate`: flags, kind mix, fault plan, and the run loop.

use super::faults::Fault;
use super::firmware::parse_firmware;
use super::fleet::{fleet_totals, Appliance, Fleet, FleetOptions};
use super::products::SimKind;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// `ivanti-exporter simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Number of simulated appliances.
    #[arg(long, default_value_t = 10)]
    pub appliances: usize,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    pub http: bool,
    /// Loopback address to listen on (127.0.0.0/8 or ::1 only).
    #[arg(long = "listen-address", default_value = "127.0.0.1")]
    pub listen_address: IpAddr,
    /// First port (appliance i listens on base-port + i); 0 for ephemeral ports.
    #[arg(long = "base-port", default_value_t = 0)]
    pub base_port: u16,
    /// Seed of the simulated data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mean active sessions per appliance.
    #[arg(long, default_value_t = 100)]
    pub sessions: usize,
    /// Faults: `3=hang,5=unauthorized` (appliance numbers as in sim-003), or
    /// `ratio=0.2` to cycle faults over a fifth of the fleet every 30 s.
    #[arg(long, default_value = "")]
    pub faults: String,
    /// Write an exporter config polling this fleet (and the CA beside it).
    #[arg(long = "write-config")]
    pub write_config: Option<PathBuf>,
    /// Serve fleet-wide counters as JSON on this loopback address
    /// (`GET /stats`: requests, TLS handshakes, connections, logins), for load tests.
    #[arg(long = "stats-address")]
    pub stats_address: Option<SocketAddr>,
    /// Other products at the end of the fleet, e.g. `sps=1,epmm=1` (the
    /// rest are Connect Secure).
    #[arg(long, default_value = "", value_parser = parse_kinds)]
    pub kinds: KindMix,
    /// Firmware behaviours by appliance number, e.g.
    /// `2=pre-9.1r4,3=ignores-start,4=403-on-expiry,5=realm-auth-redirect`.
    #[arg(long, default_value = "")]
    pub firmware: String,
    /// Every appliance presents one self-signed CA:TRUE certificate (as
    /// `openssl req -x509` makes it), written beside --write-config to pin.
    #[arg(long = "self-signed")]
    pub self_signed: bool,
    /// Send each Connect Secure appliance's event-log stream (status lines,
    /// failed sign-ins, integrity scans) by syslog to this loopback address:
    /// `IP:PORT` or `udp://IP:PORT` (UDP), `tcp://IP:PORT` (octet counting).
    #[arg(long = "syslog.forward-to", value_parser = super::syslog::parse_forward_to)]
    pub syslog_forward_to: Option<super::syslog::ForwardTo>,
    /// Syslog stream faults by appliance number: `2=files-found,3=silent`
    /// (files-found, manifest-bad, spray, silent, garbage).
    #[arg(long = "syslog.faults", default_value = "")]
    pub syslog_faults: String,
    /// One round of the syslog stream over the fleet (each appliance sends
    /// a status line and a few failed sign-ins).
    #[arg(long = "syslog.interval", default_value = "10s", value_parser = humantime::parse_duration)]
    pub syslog_interval: Duration,
    /// Time between two integrity scans of an appliance (rounded to whole
    /// rounds; the first scan is in the first round).
    #[arg(long = "syslog.scan-interval", default_value = "5m", value_parser = humantime::parse_duration)]
    pub syslog_scan_interval: Duration,
}

/// Parsed `--kinds`: the kinds of the last appliances, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindMix(pub Vec<SimKind>);

/// Parse `--kinds sps=1,epmm=2`.
pub fn parse_kinds(spec: &str) -> Result<KindMix, String> {
    let mut v = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, n) = part.split_once('=').unwrap_or((part, "1"));
        let kind = SimKind::parse(k.trim())
            .ok_or_else(|| format!("unknown kind {k:?} (known: ics, sps, epmm, isec)"))?;
        let n: usize = n.trim().parse().map_err(|_| format!("bad count {n:?}"))?;
        v.extend(std::iter::repeat_n(kind, n));
    }
    Ok(KindMix(v))
}

/// Parsed `--faults`.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultPlan {
    /// Fixed faults by 0-based index.
    Fixed(Vec<(usize, Fault)>),
    /// Cycle faults over this fraction of the fleet.
    Ratio(f64),
}

/// Parse `--faults`.
pub fn parse_faults(spec: &str) -> Result<FaultPlan, String> {
    let spec = spec.trim();
    if let Some(r) = spec.strip_prefix("ratio=") {
        let r: f64 = r.parse().map_err(|_| format!("bad ratio {r:?}"))?;
        if !(0.0..=1.0).contains(&r) {
            return Err("ratio must be between 0 and 1".into());
        }
        return Ok(FaultPlan::Ratio(r));
    }
    let mut v = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (n, f) = part
            .split_once('=')
            .ok_or_else(|| format!("bad fault {part:?}: expected N=name"))?;
        let n: usize = n
            .parse()
            .map_err(|_| format!("bad appliance number {n:?}"))?;
        if n == 0 {
            return Err("appliance numbers start at 1".into());
        }
        let fault = Fault::parse(f).ok_or_else(|| {
            format!(
                "unknown fault {f:?} (known: {}, latency:<duration>, forbidden, redirect, second_factor, none)",
                Fault::CYCLE.join(", ")
            )
        })?;
        v.push((n - 1, fault));
    }
    Ok(FaultPlan::Fixed(v))
}

/// Serve a fleet until `shutdown` resolves.
pub async fn run(
    args: SimulateArgs,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let plan = parse_faults(&args.faults).map_err(invalid)?;
    let syslog_faults = super::syslog::parse_stream_faults(&args.syslog_faults).map_err(invalid)?;
    if args.syslog_interval.is_zero() {
        return Err(invalid("--syslog.interval must be above 0".into()));
    }
    let firmware = parse_firmware(&args.firmware).map_err(invalid)?;
    // Bound before the fleet takes its thousands of ephemeral ports.
    let stats_listener = match args.stats_address {
        Some(addr) if !addr.ip().is_loopback() => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "--stats-address must be a loopback address",
            ))
        }
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    let fleet = Fleet::start(FleetOptions {
        appliances: args.appliances,
        tls: !args.http,
        seed: args.seed,
        sessions: args.sessions,
        listen: args.listen_address,
        base_port: args.base_port,
        kinds: args.kinds.0.clone(),
        self_signed: args.self_signed,
        ..FleetOptions::default()
    })
    .await?;
    for (n, f) in firmware {
        if let Some(a) = n.checked_sub(1).and_then(|i| fleet.appliances.get(i)) {
            a.set_firmware(f);
        }
    }
    if let Some(path) = &args.write_config {
        write_config(&fleet, path)?;
    }
    let stats_server = stats_listener.map(|l| serve_stats(&fleet, l));
    let cycler = apply_faults(&fleet, plan);
    let syslog = args.syslog_forward_to.map(|to| {
        super::syslog::Stream {
            to,
            interval: args.syslog_interval,
            scan_every: (args.syslog_scan_interval.as_secs_f64()
                / args.syslog_interval.as_secs_f64())
            .round()
            .max(1.0) as u64,
            faults: syslog_faults,
        }
        .spawn(fleet.gateway_names())
    });
    tracing::info!(
        appliances = fleet.len(),
        first = fleet.appliances.first().map(|a| a.url()).unwrap_or(""),
        "simulated fleet ready"
    );
    shutdown.await;
    if let Some(s) = stats_server {
        s.abort();
    }
    if let Some(c) = cycler {
        c.abort();
    }
    if let Some(s) = syslog {
        s.abort();
    }
    fleet.shutdown().await;
    Ok(())
}

/// The exporter config polling `fleet`, and its CA (or pinned certificate) beside it.
fn write_config(fleet: &Fleet, path: &Path) -> std::io::Result<()> {
    let ca = match fleet.ca_pem() {
        Some(pem) => {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("fleet");
            let ca = path.with_file_name(format!("{stem}-ca.pem"));
            std::fs::write(&ca, pem)?;
            Some(std::path::absolute(&ca)?)
        }
        None => None,
    };
    std::fs::write(
        path,
        fleet.config_yaml(ca.as_deref(), Duration::from_secs(15)),
    )?;
    tracing::info!(path = %path.display(), "exporter configuration written");
    Ok(())
}

/// `GET /stats` on `listener`: the fleet's summed counters.
fn serve_stats(fleet: &Fleet, listener: TcpListener) -> JoinHandle<()> {
    let appliances: Vec<Appliance> = fleet.appliances().to_vec();
    let app = axum::Router::new().route(
        "/stats",
        axum::routing::get(move || {
            let appliances = appliances.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    fleet_totals(&appliances).to_string(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// Fixed faults, or a task cycling faults over a share of the fleet.
fn apply_faults(fleet: &Fleet, plan: FaultPlan) -> Option<JoinHandle<()>> {
    match plan {
        FaultPlan::Fixed(list) => {
            for (i, f) in list {
                if let Some(a) = fleet.appliances.get(i) {
                    a.set_fault(f);
                }
            }
            None
        }
        FaultPlan::Ratio(r) => {
            let every = if r > 0.0 {
                (1.0 / r).round().max(1.0) as usize
            } else {
                usize::MAX
            };
            let faulty: Vec<Appliance> = fleet
                .appliances
                .iter()
                .enumerate()
                .filter(|(i, _)| every != usize::MAX && i % every == every - 1)
                .map(|(_, a)| a.clone())
                .collect();
            Some(tokio::spawn(async move {
                let mut epoch = 0usize;
                loop {
                    for (k, a) in faulty.iter().enumerate() {
                        let name = Fault::CYCLE[(k + epoch) % Fault::CYCLE.len()];
                        a.set_fault(Fault::parse(name).unwrap_or(Fault::None));
                    }
                    epoch += 1;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }))
        }
    }
}

//! The fleet and its appliances: options, per-appliance state and
//! counters, the handles tests and the CLI use.

use super::faults::Fault;
use super::firmware::{Firmware, FirmwareVersion};
use super::isec::isec_user;
use super::products::SimKind;
use super::server::{accept_loop, tls_acceptor};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Firmware and topology variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// 22.x, not clustered.
    Standalone,
    /// Two members, VIPs.
    ClusterActivePassive,
    /// Two members, no VIPs.
    ClusterActiveActive,
    /// Serves lease information and per-product named users.
    LicenseServer,
    /// 9.x: `CPU-UTILIZATION4`, numbers as strings, no machine-id, legacy login only.
    OldFirmware,
}

impl Profile {
    pub(super) fn for_index(i: usize) -> Profile {
        match i % 6 {
            2 => Profile::ClusterActivePassive,
            3 => Profile::ClusterActiveActive,
            4 => Profile::LicenseServer,
            5 => Profile::OldFirmware,
            _ => Profile::Standalone,
        }
    }
}

/// Mutable state of one appliance.
#[derive(Debug, Clone)]
pub struct State {
    pub(super) fault: Fault,
    pub(super) profile: Profile,
    pub(super) sessions: Option<usize>,
    pub(super) keys: HashSet<String>,
    /// Keys revoked by [`Appliance::revoke_keys`] (expired, to the appliance).
    pub(super) revoked: HashSet<String>,
    /// SPS session cookies and when they were issued.
    pub(super) cookies: HashMap<String, Instant>,
    pub(super) failovers: u64,
    pub(super) member_unreachable: bool,
    pub(super) licenses_exhausted: bool,
    pub(super) logins_disabled: bool,
    pub(super) zero_based_paging: bool,
    pub(super) no_operations_list: bool,
    pub(super) isec_machines: Option<u64>,
    pub(super) kerberos: Option<std::sync::Arc<super::SimKerberos>>,
    pub(super) firmware: Firmware,
    pub(super) firmware_version: Option<FirmwareVersion>,
    /// Unix time of the latest simulated reboot ([`Appliance::reboot`]).
    pub(super) rebooted_at: Option<f64>,
}

impl State {
    pub(super) fn new(profile: Profile) -> State {
        State {
            fault: Fault::None,
            profile,
            sessions: None,
            keys: HashSet::new(),
            revoked: HashSet::new(),
            cookies: HashMap::new(),
            failovers: 0,
            member_unreachable: false,
            licenses_exhausted: false,
            logins_disabled: false,
            zero_based_paging: false,
            no_operations_list: false,
            isec_machines: None,
            kerberos: None,
            firmware: Firmware::Current,
            firmware_version: None,
            rebooted_at: None,
        }
    }
}

/// What an appliance has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received.
    pub requests: u64,
    /// Requests by (method, path without query).
    pub by_method_path: BTreeMap<(String, String), u64>,
    /// Successful and failed logins (`realm_auth` and legacy).
    pub logins: u64,
    /// Most requests in flight at once.
    pub max_in_flight: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TCP connections accepted.
    pub connections: u64,
}

pub(super) struct Shared {
    pub(super) index: usize,
    pub(super) kind: SimKind,
    pub(super) name: String,
    pub(super) seed: u64,
    pub(super) addr: SocketAddr,
    pub(super) state: Mutex<State>,
    pub(super) stats: Mutex<Stats>,
    pub(super) in_flight: AtomicU64,
    pub(super) tls_handshakes: AtomicU64,
    pub(super) connections: AtomicU64,
    pub(super) changed: Notify,
    pub(super) fleet: Arc<FleetShared>,
}

pub(super) struct FleetShared {
    pub(super) started: Instant,
    pub(super) started_unix: f64,
    pub(super) api_key: String,
    pub(super) admin: (String, String, String),
    pub(super) mean_sessions: usize,
    pub(super) sps_session_ttl: Duration,
}

impl Shared {
    pub(super) fn count_login(&self) {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).logins += 1;
    }
    pub(super) fn update_state(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// A handle on one simulated appliance.
#[derive(Clone)]
pub struct Appliance {
    pub(super) shared: Arc<Shared>,
    pub(super) url: String,
}

impl std::fmt::Debug for Appliance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appliance")
            .field("name", &self.shared.name)
            .field("url", &self.url)
            .finish()
    }
}

impl Appliance {
    pub(super) fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.shared.state.lock().unwrap_or_else(|p| p.into_inner()));
        self.shared.changed.notify_waiters();
    }
    /// Its name (`sim-001`, …).
    pub fn name(&self) -> &str {
        &self.shared.name
    }
    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// Inject a fault (or `Fault::None` to heal).
    pub fn set_fault(&self, f: Fault) {
        self.update(|s| s.fault = f);
    }
    /// Switch firmware/topology variant.
    pub fn set_profile(&self, p: Profile) {
        self.update(|s| s.profile = p);
    }
    /// Give the appliance one firmware generation's behaviour.
    pub fn set_firmware(&self, f: Firmware) {
        self.update(|s| s.firmware = f);
    }
    /// Report this firmware (running image, build, rollback partition) in
    /// `system-information` instead of the fleet's default mix.
    pub fn set_firmware_version(&self, f: FirmwareVersion) {
        self.update(|s| s.firmware_version = Some(f));
    }
    /// Fix the number of active sessions (stable session ids).
    pub fn set_sessions(&self, n: usize) {
        self.update(|s| s.sessions = Some(n));
    }
    /// Invalidate every key issued by a login.
    pub fn revoke_keys(&self) {
        self.update(|s| {
            let keys = std::mem::take(&mut s.keys);
            s.revoked.extend(keys);
            s.cookies.clear();
        });
    }
    /// Move the VIPs to the other member now.
    pub fn failover(&self) {
        self.update(|s| s.failovers += 1);
    }
    /// Make the cluster peer unreachable (status-code 0x18), or reachable again.
    pub fn set_member_unreachable(&self, v: bool) {
        self.update(|s| s.member_unreachable = v);
    }
    /// Lease every license and report MAX-LICENSED-USERS-REACHED, or stop.
    pub fn set_licenses_exhausted(&self, v: bool) {
        self.update(|s| s.licenses_exhausted = v);
    }
    /// Reboot now: the status overview's uptime starts again from 0.
    pub fn reboot(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as f64)
            .unwrap_or(0.0);
        self.update(|s| s.rebooted_at = Some(now));
    }
    /// Report user logins as disabled.
    pub fn set_logins_disabled(&self, v: bool) {
        self.update(|s| s.logins_disabled = v);
    }
    /// Read `start=` as 0-based instead of 1-based.
    pub fn set_zero_based_paging(&self, v: bool) {
        self.update(|s| s.zero_based_paging = v);
    }
    /// Security Controls: answer 404 on `GET /operations`, the list the
    /// REST API help does not document (only `/operations/{id}`).
    pub fn set_no_operations_list(&self, v: bool) {
        self.update(|s| s.no_operations_list = v);
    }
    /// Security Controls: how many machines the console lists (default 2,345).
    pub fn set_isec_machines(&self, n: u64) {
        self.update(|s| s.isec_machines = Some(n));
    }
    /// Security Controls: accept Kerberos (`Negotiate`) with this acceptor
    /// too, or instead of NTLM ([`super::SimKerberos::without_ntlm`]).
    pub fn set_kerberos(&self, k: Option<super::SimKerberos>) {
        self.update(|s| s.kerberos = k.map(std::sync::Arc::new));
    }
    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self
            .shared
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        s.tls_handshakes = self.shared.tls_handshakes.load(Ordering::Relaxed);
        s.connections = self.shared.connections.load(Ordering::Relaxed);
        s
    }
}

/// How to build a fleet.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Number of appliances.
    pub appliances: usize,
    /// HTTPS (default) or plain HTTP.
    pub tls: bool,
    /// Seed of the simulated data.
    pub seed: u64,
    /// Mean active sessions per appliance.
    pub sessions: usize,
    /// The static API key every appliance accepts.
    pub api_key: String,
    /// Admin (realm, user, password) accepted by `realm_auth`.
    pub admin: (String, String, String),
    /// Loopback address to listen on.
    pub listen: IpAddr,
    /// First port (appliance i on base_port + i), or 0 for ephemeral ports.
    pub base_port: u16,
    /// Kinds of the last appliances of the fleet, in order (the others are `ics`).
    pub kinds: Vec<SimKind>,
    /// Lifetime of an SPS session cookie.
    pub sps_session_ttl: Duration,
    /// Every appliance presents one self-signed `CA:TRUE` certificate (as
    /// `openssl req -x509` makes it) instead of a leaf signed by the
    /// fleet's CA; [`Fleet::ca_pem`] is then that certificate, to pin.
    pub self_signed: bool,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            appliances: 10,
            tls: true,
            seed: 1,
            sessions: 100,
            api_key: "sim-api-key".into(),
            admin: (
                "Admin Users".into(),
                "monitor".into(),
                "sim-Passw0rd!".into(),
            ),
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 0,
            kinds: Vec::new(),
            sps_session_ttl: Duration::from_secs(20 * 60),
            self_signed: false,
        }
    }
}

/// A running fleet.
pub struct Fleet {
    pub(super) appliances: Vec<Appliance>,
    pub(super) ca_pem: Option<String>,
    pub(super) tasks: Vec<JoinHandle<()>>,
    pub(super) stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("appliances", &self.appliances.len())
            .finish()
    }
}

pub(super) fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// `https://127.0.0.1:port` (brackets around IPv6).
fn url_of(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    match addr {
        SocketAddr::V4(a) => format!("{scheme}://{a}"),
        SocketAddr::V6(a) => format!("{scheme}://[{}]:{}", a.ip(), a.port()),
    }
}

impl Shared {
    /// Appliance `i` of the fleet, of kind `kind`, listening on `addr`.
    fn new(
        i: usize,
        kind: SimKind,
        opts: &FleetOptions,
        addr: SocketAddr,
        fleet: Arc<FleetShared>,
    ) -> Shared {
        let name = match kind {
            SimKind::Ics => format!("sim-{:03}", i + 1),
            other => format!("{}-{:03}", other.name(), i + 1),
        };
        Shared {
            index: i,
            kind,
            seed: opts.seed.wrapping_mul(1_000_003).wrapping_add(i as u64),
            addr,
            state: Mutex::new(State::new(Profile::for_index(i))),
            stats: Mutex::new(Stats::default()),
            in_flight: AtomicU64::new(0),
            tls_handshakes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            changed: Notify::new(),
            fleet,
            name,
        }
    }
}

impl Fleet {
    /// Start listening; every appliance is ready when this returns.
    pub async fn start(opts: FleetOptions) -> std::io::Result<Fleet> {
        if !is_loopback(opts.listen) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the simulator only listens on loopback (127.0.0.0/8 or ::1)",
            ));
        }
        crate::tls::install_crypto_provider();
        crate::system::raise_fd_limit();
        let (acceptor, ca_pem) = if opts.tls {
            let (a, pem) = tls_acceptor(opts.listen, opts.self_signed)?;
            (Some(a), Some(pem))
        } else {
            (None, None)
        };
        let fleet = Arc::new(FleetShared {
            started: Instant::now(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            api_key: opts.api_key.clone(),
            admin: opts.admin.clone(),
            mean_sessions: opts.sessions,
            sps_session_ttl: opts.sps_session_ttl,
        });
        let first_other = opts.appliances.saturating_sub(opts.kinds.len());
        let (stop, stop_rx) = watch::channel(false);
        let mut appliances = Vec::with_capacity(opts.appliances);
        let mut tasks = Vec::with_capacity(opts.appliances);
        for i in 0..opts.appliances {
            let port = if opts.base_port == 0 {
                0
            } else {
                opts.base_port.saturating_add(i as u16)
            };
            let listener = TcpListener::bind(SocketAddr::new(opts.listen, port)).await?;
            let addr = listener.local_addr()?;
            let kind = if i >= first_other {
                opts.kinds[i - first_other]
            } else {
                SimKind::Ics
            };
            let shared = Arc::new(Shared::new(i, kind, &opts, addr, fleet.clone()));
            let url = url_of(addr, opts.tls);
            appliances.push(Appliance {
                shared: shared.clone(),
                url,
            });
            tasks.push(tokio::spawn(accept_loop(
                shared,
                listener,
                acceptor.clone(),
                stop_rx.clone(),
            )));
        }
        Ok(Fleet {
            appliances,
            ca_pem,
            tasks,
            stop,
        })
    }

    /// Number of appliances.
    pub fn len(&self) -> usize {
        self.appliances.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.appliances.is_empty()
    }

    /// Appliance `i` (0-based).
    pub fn appliance(&self, i: usize) -> &Appliance {
        &self.appliances[i]
    }

    /// All appliances.
    pub fn appliances(&self) -> &[Appliance] {
        &self.appliances
    }

    /// The names of the Connect Secure appliances (the ones with an event
    /// log to forward by syslog), in fleet order; a name's index is not the
    /// appliance's when other kinds come first (they never do: they end the fleet).
    pub fn gateway_names(&self) -> Vec<String> {
        self.appliances
            .iter()
            .filter(|a| a.shared.kind == SimKind::Ics)
            .map(|a| a.name().to_owned())
            .collect()
    }

    /// PEM of the fleet's CA (None for plain HTTP).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// An exporter configuration polling the whole fleet every `interval`.
    pub fn config_yaml(&self, ca_file: Option<&Path>, interval: Duration) -> String {
        let mut s = format!(
            "# generated by `ivanti-exporter simulate`\ndefaults:\n  interval: {}\n  timeout: {}\n",
            humantime::format_duration(interval),
            humantime::format_duration(interval.min(Duration::from_secs(5)))
        );
        s.push_str(&format!(
            "  api_key: {}\n",
            serde_json::to_string(
                &self
                    .appliances
                    .first()
                    .map(|a| a.shared.fleet.api_key.clone())
                    .unwrap_or_default()
            )
            .unwrap_or_default()
        ));
        if let Some(ca) = ca_file {
            s.push_str(&format!(
                "  tls_config:\n    ca_file: {}\n",
                serde_json::to_string(&ca.display().to_string()).unwrap_or_default()
            ));
        }
        s.push_str("targets:\n");
        for (i, a) in self.appliances.iter().enumerate() {
            let site = ["sim-a", "sim-b", "sim-c"][i % 3];
            s.push_str(&format!(
                "  - name: {}\n    url: {}\n    labels: {{ site: {site} }}\n",
                a.name(),
                a.url()
            ));
            if a.shared.kind != SimKind::Ics {
                let (_, user, pass) = &a.shared.fleet.admin;
                let user = if a.shared.kind == SimKind::Isec {
                    isec_user(user)
                } else {
                    user.clone()
                };
                s.push_str(&format!(
                    "    kind: {}\n    basic_auth: {{ username: {}, password: {} }}\n",
                    a.shared.kind.name(),
                    serde_json::to_string(&user).unwrap_or_default(),
                    serde_json::to_string(pass).unwrap_or_default()
                ));
            }
        }
        s
    }

    /// Stop every listener and connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Sums of every appliance's counters.
pub fn fleet_totals(appliances: &[Appliance]) -> serde_json::Value {
    let (mut requests, mut handshakes, mut connections, mut logins) = (0u64, 0u64, 0u64, 0u64);
    for a in appliances {
        let s = a.stats();
        requests += s.requests;
        handshakes += s.tls_handshakes;
        connections += s.connections;
        logins += s.logins;
    }
    json!({
        "appliances": appliances.len(),
        "requests": requests,
        "tls_handshakes": handshakes,
        "connections": connections,
        "logins": logins,
    })
}

/// For tests elsewhere in the crate: a started HTTPS fleet of `appliances`
/// and its CA written to a file in a temporary directory (kept alive by
/// the returned guard).
#[cfg(test)]
pub(crate) async fn fleet_with_ca_file(
    appliances: usize,
) -> (Fleet, tempfile::TempDir, std::path::PathBuf) {
    fleet_of_with_ca_file(FleetOptions {
        appliances,
        ..Default::default()
    })
    .await
}

/// [`fleet_with_ca_file`] with any options.
#[cfg(test)]
pub(crate) async fn fleet_of_with_ca_file(
    opts: FleetOptions,
) -> (Fleet, tempfile::TempDir, std::path::PathBuf) {
    crate::tls::install_crypto_provider();
    let fleet = Fleet::start(opts).await.expect("simulated fleet");
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, fleet.ca_pem().expect("an HTTPS fleet has a CA")).expect("CA file");
    (fleet, dir, ca)
}

//! A simulated fleet of Connect Secure appliances on loopback, for the
//! README's demo (`ivanti-exporter --demo`), load tests
//! (`ivanti-exporter simulate`) and the integration tests (in-process).
//!
//! Every appliance has its own TCP listener on a loopback address (HTTPS
//! with one server certificate for `127.0.0.1`, `::1` and `localhost`,
//! signed by a CA generated at start, or plain HTTP with `--http`) and
//! answers the endpoints a monitor reads, in the vendor guide's shapes
//! (`/work/shared/ics-api.md`):
//!
//! | endpoint | auth | notes |
//! |---|---|---|
//! | `GET /api/v1/system/healthcheck` | none | `?status=all`, `?status=sbr` |
//! | `GET /api/v1/system/active-users` | key | `number` (default and hard cap 200), `start` 1-based (`0` reads as `1`; 0-based per appliance with [`Appliance::set_zero_based_paging`]), `name` filter, list-level `is-last-record` |
//! | `GET /api/v1/cluster` | key | 404 with the ICS error body on a stand-alone box |
//! | `GET /api/v1/license/license-server-lease-information` | key | 404 unless a license server |
//! | `GET /api/v1/license/named-users` | key | two lists (`pcs`, `pps`) on a license server |
//! | `GET /api/v1/system/system-information` | key | no `machine-id` on old firmware |
//! | `POST /api/v1/realm_auth` | admin `user:password`, body `{"realm": ...}` | issues a random key; 404 on old firmware |
//! | `GET /api/v1/auth` | admin `user:password` | legacy login, issues a random key |
//!
//! "key" means HTTP basic auth with the fleet's static API key
//! ([`FleetOptions::api_key`], `sim-api-key`) or a key issued by a login as
//! the user name and an empty password; anything else is a 401 with
//! `{"result": {"errors": [{"message": ...}]}}`. Every other path is a 404,
//! every other method a 405, and every request is counted in
//! [`Appliance::stats`] by method and path, so tests can prove the exporter
//! sends only GETs and the login POST. Connections are kept alive;
//! connections and TLS handshakes are counted too.
//!
//! The data is derived cheaply from the time and a per-appliance seed, with
//! no background loop over the fleet: sessions end and start (session ids
//! change), the session count drifts around `--sessions`, CPU, swap and disk
//! move, the SSL-connection and VPN-tunnel counts are those of the session
//! records, every fifth appliance reports `DISK-UTILIZATION: -1`. For exact
//! figures, [`Appliance::set_sessions`] fixes the count and the session ids.
//!
//! # Profiles
//!
//! [`Profile`] picks a firmware/topology variant, by default cycled over
//! the fleet by index (`sim-001`, `sim-002` stand-alone, `sim-003`
//! Active/Passive, `sim-004` Active/Active, `sim-005` license server,
//! `sim-006` old firmware, then again), changeable with
//! [`Appliance::set_profile`]:
//!
//! | profile | what differs |
//! |---|---|
//! | [`Profile::Standalone`] | 22.x, not clustered: `/api/v1/cluster` and lease information are 404 |
//! | [`Profile::ClusterActivePassive`] | two members `<name>-a`/`-b`, VIPs, `external-netmask`; the VIP owner fails over every 20 minutes and on [`Appliance::failover`] |
//! | [`Profile::ClusterActiveActive`] | two members, no VIPs, `external-network` (the guide's Active/Active sample) |
//! | [`Profile::LicenseServer`] | lease information (features, clients); named users per product |
//! | [`Profile::OldFirmware`] | 9.1: `CPU-UTILIZATION4`, every healthcheck number a string, no `machine-id` nor `cluster-node`, no 22.x session fields, only the legacy `GET /api/v1/auth` login (`realm_auth` is a 404) |
//!
//! Conditions that combine with any profile: [`Appliance::set_member_unreachable`]
//! (the cluster peer reports `status-code` `0x18`, "Enabled, Unreachable"),
//! [`Appliance::set_licenses_exhausted`] (leased == total, and
//! `MAX-LICENSED-USERS-REACHED: YES`), [`Appliance::set_logins_disabled`]
//! (`user-login-permission: false`), [`Appliance::revoke_keys`] (every
//! issued key is a 401 until the next login).
//!
//! # Faults
//!
//! [`Fault`]s are set per appliance ([`Appliance::set_fault`], or
//! `--faults 3=timeout,5=unauthorized` by appliance number, or
//! `--faults ratio=0.2` to cycle faults over a fifth of the fleet every
//! 30 s) and take effect on the next request:
//!
//! | fault (`--faults` name) | the appliance… |
//! |---|---|
//! | `Latency(d)` (`latency`, 2 s, or `latency:250ms`) | answers correctly after `d` |
//! | `Hang` (`hang`, `timeout`) | accepts, reads the request, never answers |
//! | `Refuse` (`refuse`) | stops listening (connection refused) and drops open connections; `Fault::None` listens again on the same port |
//! | `Flap` (`flap`, `flap:500ms`) | refuses and answers by turns, 3 s each by default: a host dropping off the network and coming back |
//! | `Unauthorized` (`unauthorized`) | 401 on every authenticated call |
//! | `Forbidden` (`forbidden`) | 403 on every authenticated call |
//! | `ServerError` (`server_error`) | 500 with an ICS error body |
//! | `ServiceUnavailable` (`unavailable`) | 503 |
//! | `HtmlLogin` (`html_login`) | 200 `text/html`, the sign-in page |
//! | `Redirect` (`redirect`) | 302 to `/dana-na/auth/url_default/welcome.cgi` |
//! | `BrokenJson` (`broken_json`) | 200 with the JSON cut in half |
//! | `HugeBody` (`huge_body`) | 200, streams 64 MiB of session records (never held in memory) |
//! | `TruncatedBody` (`truncated_body`) | sends a `Content-Length` larger than the body, then closes |
//! | `SecondFactor` (`second_factor`) | `realm_auth` answers `{"resume_id": ...}` |
//!
//! # Use
//!
//! ```text
//! ivanti-exporter simulate --appliances 50 --faults 3=timeout --write-config sim.yml
//! ivanti-exporter --config.file sim.yml
//! ```
//!
//! In-process: [`Fleet::start`] with [`FleetOptions`], then
//! [`Fleet::config_yaml`] for an exporter configuration polling it,
//! [`Fleet::appliance`] for the handles, [`Fleet::shutdown`] at the end.
//! `simulate --appliances 10000` runs on two cores: the open-file limit is
//! raised to its hard limit at start.

mod data;

mod kinds;
pub use kinds::{isec_user, SimKind};

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// A fault injected into one appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Healthy.
    None,
    /// Answer correctly, after a delay.
    Latency(Duration),
    /// Read the request, never answer.
    Hang,
    /// Stop listening (connection refused) and drop open connections.
    Refuse,
    /// Alternate between `Refuse` and healthy every period: a host that
    /// keeps dropping off the network and coming back.
    Flap(Duration),
    /// 401 on every authenticated call.
    Unauthorized,
    /// 403 on every authenticated call.
    Forbidden,
    /// 500 with an ICS error body.
    ServerError,
    /// 503.
    ServiceUnavailable,
    /// 200 with the appliance's HTML sign-in page.
    HtmlLogin,
    /// 302 to the sign-in page.
    Redirect,
    /// 200 with truncated JSON.
    BrokenJson,
    /// 200 with a 64 MiB JSON array, streamed.
    HugeBody,
    /// A Content-Length larger than the body, then the connection closes.
    TruncatedBody,
    /// `realm_auth` answers with a `resume_id` (second factor required).
    SecondFactor,
}

impl Fault {
    /// Parse a fault name as used by `--faults`.
    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s {
            "none" => Fault::None,
            "latency" => Fault::Latency(Duration::from_secs(2)),
            "hang" | "timeout" => Fault::Hang,
            "refuse" | "refused" => Fault::Refuse,
            "flap" => Fault::Flap(Duration::from_secs(3)),
            "unauthorized" | "401" => Fault::Unauthorized,
            "forbidden" | "403" => Fault::Forbidden,
            "server_error" | "500" => Fault::ServerError,
            "unavailable" | "503" => Fault::ServiceUnavailable,
            "html_login" | "html" => Fault::HtmlLogin,
            "redirect" => Fault::Redirect,
            "broken_json" => Fault::BrokenJson,
            "huge_body" => Fault::HugeBody,
            "truncated_body" => Fault::TruncatedBody,
            "second_factor" => Fault::SecondFactor,
            _ => {
                if let Some(d) = s.strip_prefix("latency:") {
                    Fault::Latency(humantime::parse_duration(d).ok()?)
                } else if let Some(d) = s.strip_prefix("flap:") {
                    Fault::Flap(
                        humantime::parse_duration(d)
                            .ok()?
                            .max(Duration::from_millis(100)),
                    )
                } else {
                    return None;
                }
            }
        })
    }

    /// The faults `--faults ratio=` cycles through.
    pub const CYCLE: &'static [&'static str] = &[
        "hang",
        "refuse",
        "flap",
        "unauthorized",
        "server_error",
        "unavailable",
        "html_login",
        "broken_json",
        "huge_body",
        "truncated_body",
        "latency",
    ];
}

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
    fn for_index(i: usize) -> Profile {
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
    fault: Fault,
    profile: Profile,
    sessions: Option<usize>,
    keys: HashSet<String>,
    /// SPS session cookies and when they were issued.
    cookies: HashMap<String, Instant>,
    failovers: u64,
    member_unreachable: bool,
    licenses_exhausted: bool,
    logins_disabled: bool,
    zero_based_paging: bool,
}

impl State {
    fn new(profile: Profile) -> State {
        State {
            fault: Fault::None,
            profile,
            sessions: None,
            keys: HashSet::new(),
            cookies: HashMap::new(),
            failovers: 0,
            member_unreachable: false,
            licenses_exhausted: false,
            logins_disabled: false,
            zero_based_paging: false,
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

struct Shared {
    index: usize,
    kind: SimKind,
    name: String,
    seed: u64,
    addr: SocketAddr,
    state: Mutex<State>,
    stats: Mutex<Stats>,
    in_flight: AtomicU64,
    tls_handshakes: AtomicU64,
    connections: AtomicU64,
    changed: Notify,
    fleet: Arc<FleetShared>,
}

struct FleetShared {
    started: Instant,
    started_unix: f64,
    api_key: String,
    admin: (String, String, String),
    mean_sessions: usize,
    sps_session_ttl: Duration,
}

impl Shared {
    fn count_login(&self) {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).logins += 1;
    }
    fn update_state(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// A handle on one simulated appliance.
#[derive(Clone)]
pub struct Appliance {
    shared: Arc<Shared>,
    url: String,
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
    fn update(&self, f: impl FnOnce(&mut State)) {
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
    /// Fix the number of active sessions (stable session ids).
    pub fn set_sessions(&self, n: usize) {
        self.update(|s| s.sessions = Some(n));
    }
    /// Invalidate every key issued by a login.
    pub fn revoke_keys(&self) {
        self.update(|s| {
            s.keys.clear();
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
    /// Report user logins as disabled.
    pub fn set_logins_disabled(&self, v: bool) {
        self.update(|s| s.logins_disabled = v);
    }
    /// Read `start=` as 0-based instead of 1-based.
    pub fn set_zero_based_paging(&self, v: bool) {
        self.update(|s| s.zero_based_paging = v);
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
        }
    }
}

/// A running fleet.
pub struct Fleet {
    appliances: Vec<Appliance>,
    ca_pem: Option<String>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("appliances", &self.appliances.len())
            .finish()
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
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
            let (a, pem) = tls_acceptor(opts.listen)?;
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
            let name = match kind {
                SimKind::Ics => format!("sim-{:03}", i + 1),
                other => format!("{}-{:03}", other.name(), i + 1),
            };
            let shared = Arc::new(Shared {
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
                fleet: fleet.clone(),
                name,
            });
            let scheme = if opts.tls { "https" } else { "http" };
            let url = match addr {
                SocketAddr::V4(a) => format!("{scheme}://{a}"),
                SocketAddr::V6(a) => format!("{scheme}://[{}]:{}", a.ip(), a.port()),
            };
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
                    kinds::isec_user(user)
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

fn tls_acceptor(listen: IpAddr) -> std::io::Result<(tokio_rustls::TlsAcceptor, String)> {
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "ivanti-exporter simulated fleet CA",
    );
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
    let mut sans = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !sans.contains(&listen.to_string()) {
        sans.push(listen.to_string());
    }
    let mut leaf_params = rcgen::CertificateParams::new(sans).map_err(err)?;
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "simulated appliance");
    let leaf_key = rcgen::KeyPair::generate().map_err(err)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(err)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
    .map_err(std::io::Error::other)?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem()))
}

fn fault_of(shared: &Shared) -> Fault {
    shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .fault
        .clone()
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    loop {
        if *stop.borrow() {
            return;
        }
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let (refusing, flips_in) = refusing(&shared);
        if refusing {
            listener = None;
            tokio::select! {
                _ = changed => continue,
                _ = tokio::time::sleep(flips_in.unwrap_or(Duration::MAX)) => continue,
                _ = stop.changed() => return,
            }
        }
        let Some(l) = listener.as_ref() else {
            // Listen again on the same port after a Refuse fault.
            match TcpListener::bind(shared.addr).await {
                Ok(l) => listener = Some(l),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(shared.clone(), stream, tls.clone(), stop.clone()));
            }
            _ = changed => {}
            _ = tokio::time::sleep(flips_in.unwrap_or(Duration::MAX)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Whether the appliance refuses connections now, and when a flapping one
/// changes its mind.
fn refusing(shared: &Shared) -> (bool, Option<Duration>) {
    match fault_of(shared) {
        Fault::Refuse => (true, None),
        Fault::Flap(period) => {
            let t = shared.fleet.started.elapsed().as_nanos();
            let p = period.as_nanos().max(1);
            let down = (t / p) % 2 == 1;
            let left = Duration::from_nanos((p - t % p) as u64);
            (down, Some(left))
        }
        _ => (false, None),
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let service = {
        let shared = shared.clone();
        // Per-connection state: Windows authentication is connection-based.
        let conn: Arc<Mutex<kinds::ConnAuth>> = Arc::default();
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let shared = shared.clone();
            let conn = conn.clone();
            async move { handle(shared, req, conn).await }
        })
    };
    let builder = hyper::server::conn::http1::Builder::new();
    match tls {
        Some(acceptor) => {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            shared.tls_handshakes.fetch_add(1, Ordering::Relaxed);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
        }
        None => {
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
        }
    }
}

struct InFlight<'a>(&'a Shared);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap_or_default()
}

fn ics_error(status: StatusCode, msg: &str) -> Response<Body> {
    json_response(
        status,
        &json!({ "result": { "errors": [ { "message": msg } ] } }),
    )
}

const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Ivanti Connect Secure</title></head>\
<body><form name=\"frmLogin\" action=\"login.cgi\" method=\"POST\"><input type=\"text\" name=\"username\">\
<input type=\"password\" name=\"password\"><input type=\"submit\" value=\"Sign In\"></form></body></html>\n";

fn basic_auth(req: &Request<hyper::body::Incoming>) -> Option<(String, String)> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let b64 = h.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

fn query_param(q: Option<&str>, key: &str) -> Option<usize> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
    conn: Arc<Mutex<kinds::ConnAuth>>,
) -> Result<Response<Body>, std::io::Error> {
    let n = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = InFlight(&shared);
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    {
        let mut st = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
        st.requests += 1;
        st.max_in_flight = st.max_in_flight.max(n);
        *st.by_method_path
            .entry((method.clone(), path.clone()))
            .or_default() += 1;
    }
    let state = shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if refusing(&shared).0 {
        return Err(std::io::Error::other("refusing"));
    }
    match &state.fault {
        Fault::Hang => std::future::pending::<()>().await,
        Fault::Latency(d) => tokio::time::sleep(*d).await,
        _ => {}
    }
    let fleet = &shared.fleet;
    let query = req.uri().query().map(str::to_owned);
    let q = query.as_deref();
    let is_login = path == "/api/v1/realm_auth" || path == "/api/v1/auth";
    let public = path == "/api/v1/system/healthcheck";
    // Faults that replace any answer.
    match state.fault {
        Fault::ServerError => {
            return Ok(ics_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
            ))
        }
        Fault::ServiceUnavailable => {
            let mut resp = ics_error(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable");
            resp.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("30"),
            );
            return Ok(resp);
        }
        Fault::HtmlLogin => {
            return Ok(Response::builder()
                .header("content-type", "text/html; charset=utf-8")
                .body(Body::from(LOGIN_PAGE))
                .unwrap_or_default())
        }
        Fault::Redirect => {
            return Ok(Response::builder()
                .status(StatusCode::FOUND)
                .header("location", "/dana-na/auth/url_default/welcome.cgi")
                .body(Body::empty())
                .unwrap_or_default())
        }
        _ => {}
    }
    let creds = basic_auth(&req);
    let answer = match shared.kind {
        SimKind::Ics => None,
        kind => {
            let cookie = req
                .headers()
                .get_all(hyper::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .find_map(|c| c.trim().strip_prefix("session_id=").map(str::to_owned));
            let r = kinds::Req {
                method: &method,
                path: &path,
                query: q,
                basic: creds.clone(),
                cookie,
                authorization: req
                    .headers()
                    .get(hyper::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            let t = fleet.started.elapsed().as_secs_f64();
            Some(match kind {
                SimKind::Sps => kinds::sps(&shared, &state, t, &r),
                SimKind::Isec => kinds::isec(&shared, &state, t, &r, &conn),
                _ => kinds::epmm(&shared, &state, &r),
            })
        }
    };
    let answer = match answer {
        Some(Ok(v)) => Some(v),
        Some(Err(resp)) => return Ok(resp),
        None => None,
    };
    // Authentication (Connect Secure).
    let answer: Option<Value> = match answer {
        Some(v) => Some(v),
        None => {
            if is_login {
                let legacy = path == "/api/v1/auth";
                let allowed = if legacy {
                    method == "GET"
                } else {
                    method == "POST" && state.profile != Profile::OldFirmware
                };
                if !allowed {
                    return Ok(ics_error(StatusCode::NOT_FOUND, "Not found"));
                }
                shared.count_login();
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let realm_ok = legacy
                    || serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v.get("realm").and_then(Value::as_str).map(str::to_owned))
                        .is_some_and(|r| r == fleet.admin.0);
                let (_, user, pass) = &fleet.admin;
                let ok = realm_ok && creds.as_ref().is_some_and(|(u, p)| u == user && p == pass);
                if !ok {
                    return Ok(ics_error(
                        StatusCode::UNAUTHORIZED,
                        "Invalid username or password",
                    ));
                }
                if state.fault == Fault::SecondFactor && !legacy {
                    return Ok(json_response(
                        StatusCode::OK,
                        &json!({ "resume_id": format!("{:032x}", rand::random::<u128>()) }),
                    ));
                }
                let key = format!("{:032x}", rand::random::<u128>());
                shared
                    .state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .keys
                    .insert(key.clone());
                return Ok(json_response(StatusCode::OK, &json!({ "api_key": key })));
            }
            if method != "GET" {
                return Ok(ics_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method not allowed",
                ));
            }
            if !public {
                let authed = creds.as_ref().is_some_and(|(u, p)| {
                    p.is_empty() && (*u == fleet.api_key || state.keys.contains(u))
                });
                if !authed || state.fault == Fault::Unauthorized {
                    return Ok(ics_error(StatusCode::UNAUTHORIZED, "Authentication failed"));
                }
                if state.fault == Fault::Forbidden {
                    return Ok(ics_error(
                        StatusCode::FORBIDDEN,
                        "Admin role has no access to REST APIs",
                    ));
                }
            }
            let view = data::View {
                seed: shared.seed,
                name: &shared.name,
                index: shared.index,
                t: fleet.started.elapsed().as_secs_f64(),
                started_unix: fleet.started_unix,
                mean_sessions: fleet.mean_sessions,
                state: &state,
            };
            let status_param = q.and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("status="))
                    .map(str::to_owned)
            });
            match (path.as_str(), status_param.as_deref()) {
                ("/api/v1/system/healthcheck", None) => {
                    Some(json!({ "message": "Security Gateway is accessible." }))
                }
                ("/api/v1/system/healthcheck", Some("all")) => Some(view.health_all()),
                ("/api/v1/system/healthcheck", Some("sbr")) => Some(json!({ "SBR-AVAILABLE": 1 })),
                ("/api/v1/system/active-users", _) => {
                    let name = q.and_then(|q| {
                        q.split('&')
                            .find_map(|kv| kv.strip_prefix("name="))
                            .map(data::url_decode)
                    });
                    Some(view.active_users(
                        query_param(q, "number"),
                        query_param(q, "start"),
                        name.as_deref(),
                    ))
                }
                ("/api/v1/cluster", _) => match view.cluster() {
                    Some(c) => Some(c),
                    None => {
                        return Ok(ics_error(
                            StatusCode::NOT_FOUND,
                            "Node is not part of a cluster",
                        ))
                    }
                },
                ("/api/v1/license/license-server-lease-information", _) => match view.leases() {
                    Some(l) => Some(l),
                    None => return Ok(ics_error(StatusCode::NOT_FOUND, "Not a license server")),
                },
                ("/api/v1/license/named-users", _) => Some(view.named_users()),
                ("/api/v1/system/system-information", _) => Some(view.system_information()),
                _ => None,
            }
        }
    };
    let Some(answer) = answer else {
        return Ok(ics_error(StatusCode::NOT_FOUND, "Not found"));
    };
    Ok(match state.fault {
        Fault::BrokenJson => {
            let text = answer.to_string();
            let cut = text.len() / 2;
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from(text.as_bytes()[..cut].to_vec()))
                .unwrap_or_default()
        }
        Fault::HugeBody => {
            use futures_util::StreamExt as _;
            // ~64 MiB of session records, the same 64 KiB chunk over and over.
            let (head, chunk, tail) = huge_body_parts();
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(head)])
                .chain(futures_util::stream::iter(
                    (0..HUGE_BODY_CHUNKS).map(move |_| Ok(chunk.clone())),
                ))
                .chain(futures_util::stream::iter([Ok(tail)]));
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(body))
                .unwrap_or_default()
        }
        Fault::TruncatedBody => {
            let text = answer.to_string();
            let cut = text.len() / 2;
            use futures_util::StreamExt as _;
            // Headers and half the body go out (the pause lets them be
            // flushed), then the connection is closed.
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(
                text.as_bytes()[..cut].to_vec(),
            ))])
            .chain(futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::other("connection lost"))
            }));
            Response::builder()
                .header("content-type", "application/json")
                .header("content-length", text.len().to_string())
                .body(Body::from_stream(body))
                .unwrap_or_default()
        }
        _ => json_response(StatusCode::OK, &answer),
    })
}

/// Number of 64 KiB chunks in a [`Fault::HugeBody`] answer (64 MiB).
const HUGE_BODY_CHUNKS: usize = 1024;

/// Head, 64 KiB middle chunk and tail of a [`Fault::HugeBody`] answer: a
/// valid-looking active-users document whose record list never ends.
fn huge_body_parts() -> (Bytes, Bytes, Bytes) {
    static CHUNK: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let chunk = CHUNK.get_or_init(|| {
        let rec = br#"{"active-user-name":"user00000","authentication-realm":"Users","events":0,"login-node":"node","session-id":"sid0000000000000000000000000000000000000000000000"},"#;
        let mut v = Vec::with_capacity(64 * 1024 + rec.len());
        while v.len() + rec.len() <= 64 * 1024 {
            v.extend_from_slice(rec);
        }
        // Pad with whitespace to exactly 64 KiB.
        v.resize(64 * 1024, b' ');
        Bytes::from(v)
    });
    (
        Bytes::from_static(br#"{"active-users":{"active-user-records":{"active-user-record":["#),
        chunk.clone(),
        Bytes::from_static(
            br#"{"events":0}]},"total-matched-record-number":1,"total-returned-record-number":1}}"#,
        ),
    )
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
    let plan = parse_faults(&args.faults)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
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
        ..FleetOptions::default()
    })
    .await?;
    if let Some(path) = &args.write_config {
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
    }
    let mut stats_server = None;
    if let Some(listener) = stats_listener {
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
        stats_server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }
    let mut cycler = None;
    match plan {
        FaultPlan::Fixed(list) => {
            for (i, f) in list {
                if let Some(a) = fleet.appliances.get(i) {
                    a.set_fault(f);
                }
            }
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
            cycler = Some(tokio::spawn(async move {
                let mut epoch = 0usize;
                loop {
                    for (k, a) in faulty.iter().enumerate() {
                        let name = Fault::CYCLE[(k + epoch) % Fault::CYCLE.len()];
                        a.set_fault(Fault::parse(name).unwrap_or(Fault::None));
                    }
                    epoch += 1;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }));
        }
    }
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
    fleet.shutdown().await;
    Ok(())
}

/// For tests elsewhere in the crate: a started HTTPS fleet of `appliances`
/// and its CA written to a file in a temporary directory (kept alive by
/// the returned guard).
#[cfg(test)]
pub(crate) async fn fleet_with_ca_file(
    appliances: usize,
) -> (Fleet, tempfile::TempDir, std::path::PathBuf) {
    crate::tls::install_crypto_provider();
    let fleet = Fleet::start(FleetOptions {
        appliances,
        ..Default::default()
    })
    .await
    .expect("simulated fleet");
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, fleet.ca_pem().expect("an HTTPS fleet has a CA")).expect("CA file");
    (fleet, dir, ca)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::ics::{active_users, cluster, healthcheck, license, system_information};

    /// A default HTTPS fleet of `n` appliances.
    async fn fleet_of(n: usize) -> Fleet {
        Fleet::start(FleetOptions {
            appliances: n,
            ..Default::default()
        })
        .await
        .unwrap()
    }

    async fn client(fleet: &Fleet) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        for c in crate::tls::parse_ca_pem(fleet.ca_pem().unwrap().as_bytes()).unwrap() {
            roots.add(c).unwrap();
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    async fn get(
        c: &reqwest::Client,
        a: &Appliance,
        path: &str,
        key: Option<&str>,
    ) -> (u16, Vec<u8>) {
        let mut r = c.get(format!("{}{}", a.url(), path));
        if let Some(k) = key {
            r = r.basic_auth(k, Some(""));
        }
        let resp = r.send().await.unwrap();
        (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn serves_every_endpoint_in_the_guides_shapes() {
        let fleet = fleet_of(6).await;
        let c = client(&fleet).await;
        let key = Some("sim-api-key");
        for (i, a) in fleet.appliances().iter().enumerate() {
            let (s, b) = get(&c, a, "/api/v1/system/healthcheck?status=all", None).await;
            assert_eq!(s, 200);
            let h = healthcheck::parse_status(&b).unwrap();
            assert!(h.cpu_percent.is_some());
            let (s, b) = get(&c, a, "/api/v1/system/system-information", key).await;
            assert_eq!(s, 200);
            assert_eq!(system_information::parse(&b).unwrap().host_name, a.name());
            let (s, b) = get(&c, a, "/api/v1/cluster", key).await;
            match Profile::for_index(i) {
                Profile::ClusterActivePassive | Profile::ClusterActiveActive => {
                    assert_eq!(s, 200);
                    assert!(cluster::parse(&b).unwrap().is_some());
                }
                _ => assert_eq!(s, 404),
            }
            let (s, b) = get(
                &c,
                a,
                "/api/v1/license/license-server-lease-information",
                key,
            )
            .await;
            if Profile::for_index(i) == Profile::LicenseServer {
                assert_eq!(s, 200);
                assert_eq!(license::parse_leases(&b).unwrap().features.len(), 2);
            } else {
                assert_eq!(s, 404);
            }
            let (s, b) = get(&c, a, "/api/v1/license/named-users", key).await;
            assert_eq!(s, 200);
            assert!(!license::parse_named_users(&b).unwrap().is_empty());
        }
        let stats = fleet.appliance(0).stats();
        assert_eq!(stats.tls_handshakes, 1, "one keep-alive connection");
        assert_eq!(stats.requests, 5);
    }

    #[tokio::test]
    async fn pages_of_200_without_duplicates() {
        let fleet = fleet_of(1).await;
        let a = fleet.appliance(0);
        a.set_sessions(450);
        let c = client(&fleet).await;
        let mut b = active_users::Breakdown::default();
        let mut pages = 0;
        for start in [1, 201, 401] {
            let (s, body) = get(
                &c,
                a,
                &format!("/api/v1/system/active-users?number=500&start={start}"),
                Some("sim-api-key"),
            )
            .await;
            assert_eq!(s, 200);
            let p = active_users::parse(&body).unwrap();
            assert_eq!(p.total_matched, 450);
            assert_eq!(p.is_last_record, Some(start == 401));
            assert_eq!(b.add(p.records), if start == 401 { 50 } else { 200 });
            pages += 1;
        }
        assert_eq!((pages, b.records()), (3, 450));
    }

    #[tokio::test]
    async fn auth_login_revocation_and_faults() {
        let fleet = fleet_of(1).await;
        let a = fleet.appliance(0);
        let c = client(&fleet).await;
        assert_eq!(get(&c, a, "/api/v1/cluster", None).await.0, 401);
        assert_eq!(get(&c, a, "/api/v1/cluster", Some("wrong")).await.0, 401);
        let (realm, user, pass) = FleetOptions::default().admin;
        let resp = c
            .post(format!("{}/api/v1/realm_auth", a.url()))
            .basic_auth(&user, Some(&pass))
            .header("content-type", "application/json")
            .body(json!({ "realm": realm }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let key = serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap()["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            get(&c, a, "/api/v1/system/system-information", Some(&key))
                .await
                .0,
            200
        );
        a.revoke_keys();
        assert_eq!(
            get(&c, a, "/api/v1/system/system-information", Some(&key))
                .await
                .0,
            401
        );
        assert_eq!(a.stats().logins, 1);
        a.set_fault(Fault::HtmlLogin);
        let (s, b) = get(&c, a, "/api/v1/system/healthcheck", None).await;
        assert_eq!(s, 200);
        assert!(b.starts_with(b"<!DOCTYPE html>"));
        a.set_fault(Fault::ServiceUnavailable);
        assert_eq!(get(&c, a, "/api/v1/system/healthcheck", None).await.0, 503);
        a.set_fault(Fault::None);
        let deletes = c
            .delete(format!("{}/api/v1/system/active-users?all", a.url()))
            .basic_auth("sim-api-key", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(deletes.status(), 405);
        assert_eq!(
            a.stats().by_method_path.get(&(
                "DELETE".to_owned(),
                "/api/v1/system/active-users".to_owned()
            )),
            Some(&1)
        );
    }

    #[test]
    fn fault_specs() {
        assert_eq!(
            parse_faults("3=hang, 5=unauthorized").unwrap(),
            FaultPlan::Fixed(vec![(2, Fault::Hang), (4, Fault::Unauthorized)])
        );
        assert_eq!(parse_faults("ratio=0.2").unwrap(), FaultPlan::Ratio(0.2));
        assert!(parse_faults("0=hang").is_err());
        assert!(parse_faults("1=explode").is_err());
        assert_eq!(parse_faults("").unwrap(), FaultPlan::Fixed(vec![]));
    }

    #[tokio::test]
    async fn refuses_non_loopback() {
        let r = Fleet::start(FleetOptions {
            listen: "192.0.2.1".parse().unwrap(),
            ..Default::default()
        })
        .await;
        assert!(r.is_err());
    }

    async fn start(n: usize) -> Fleet {
        fleet_of(n).await
    }

    async fn login(c: &reqwest::Client, a: &Appliance) -> (u16, Value) {
        let (realm, user, pass) = FleetOptions::default().admin;
        let resp = c
            .post(format!("{}/api/v1/realm_auth", a.url()))
            .basic_auth(&user, Some(&pass))
            .header("content-type", "application/json")
            .body(json!({ "realm": realm }).to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn get_json(c: &reqwest::Client, a: &Appliance, path: &str) -> Value {
        let (s, b) = get(c, a, path, Some("sim-api-key")).await;
        assert_eq!(s, 200, "{path}");
        serde_json::from_slice(&b).unwrap()
    }

    #[tokio::test]
    async fn wrong_credentials_and_second_factor() {
        let fleet = start(1).await;
        let a = fleet.appliance(0);
        let c = client(&fleet).await;
        let resp = c
            .post(format!("{}/api/v1/realm_auth", a.url()))
            .basic_auth("monitor", Some("wrong"))
            .body(r#"{"realm": "Admin Users"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        assert!(body["result"]["errors"][0]["message"].is_string());
        // Legacy login on 22.x still answers.
        let resp = c
            .get(format!("{}/api/v1/auth", a.url()))
            .basic_auth("monitor", Some("sim-Passw0rd!"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        a.set_fault(Fault::SecondFactor);
        let (s, v) = login(&c, a).await;
        assert_eq!(s, 200);
        assert!(
            v["resume_id"].is_string() && v.get("api_key").is_none(),
            "{v}"
        );
        assert_eq!(a.stats().logins, 3);
    }

    #[tokio::test]
    async fn faults_answer_the_documented_way() {
        let fleet = start(1).await;
        let a = fleet.appliance(0);
        let c = client(&fleet).await;
        let info = "/api/v1/system/system-information";
        let key = Some("sim-api-key");

        a.set_fault(Fault::Redirect);
        let resp = c.get(format!("{}{info}", a.url())).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(
            resp.headers()["location"],
            "/dana-na/auth/url_default/welcome.cgi"
        );

        a.set_fault(Fault::HtmlLogin);
        let resp = c.get(format!("{}{info}", a.url())).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));

        a.set_fault(Fault::Forbidden);
        assert_eq!(get(&c, a, info, key).await.0, 403);
        assert_eq!(
            get(&c, a, "/api/v1/system/healthcheck", None).await.0,
            200,
            "the healthcheck needs no auth"
        );
        a.set_fault(Fault::Unauthorized);
        assert_eq!(get(&c, a, info, key).await.0, 401);
        a.set_fault(Fault::ServerError);
        let (s, b) = get(&c, a, info, key).await;
        assert_eq!(s, 500);
        assert!(serde_json::from_slice::<Value>(&b).unwrap()["result"]["errors"].is_array());

        a.set_fault(Fault::BrokenJson);
        let (s, b) = get(&c, a, info, key).await;
        assert_eq!(s, 200);
        assert!(serde_json::from_slice::<Value>(&b).is_err());

        a.set_fault(Fault::TruncatedBody);
        let resp = c
            .get(format!("{}{info}", a.url()))
            .basic_auth("sim-api-key", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.bytes().await.is_err(), "the body is cut short");

        a.set_fault(Fault::HugeBody);
        let mut resp = c
            .get(format!("{}{info}", a.url()))
            .basic_auth("sim-api-key", Some(""))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut head = Vec::new();
        while head.len() < 1 << 20 {
            head.extend_from_slice(&resp.chunk().await.unwrap().unwrap());
        }
        assert!(head.starts_with(br#"{"active-users":{"active-user-records""#));
        drop(resp);
        let (_, chunk, _) = huge_body_parts();
        assert!(chunk.len() * HUGE_BODY_CHUNKS >= 64 << 20);

        a.set_fault(Fault::Latency(Duration::from_millis(200)));
        let t0 = Instant::now();
        assert_eq!(get(&c, a, info, key).await.0, 200);
        assert!(t0.elapsed() >= Duration::from_millis(200));

        a.set_fault(Fault::Hang);
        let r = c
            .get(format!("{}/api/v1/system/healthcheck", a.url()))
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        assert!(r.unwrap_err().is_timeout());

        a.set_fault(Fault::None);
        assert_eq!(get(&c, a, info, key).await.0, 200);
    }

    #[tokio::test]
    async fn refuse_stops_listening_and_none_listens_again_on_the_same_port() {
        let fleet = start(1).await;
        let a = fleet.appliance(0);
        let url = format!("{}/api/v1/system/healthcheck", a.url());
        a.set_fault(Fault::Refuse);
        let mut refused = false;
        for _ in 0..40 {
            // A fresh client: no pooled connection.
            match client(&fleet).await.get(&url).send().await {
                Err(e) if e.is_connect() => {
                    refused = true;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        assert!(refused, "connections are refused");
        a.set_fault(Fault::None);
        let mut back = false;
        for _ in 0..40 {
            if let Ok(r) = client(&fleet).await.get(&url).send().await {
                back = r.status() == 200;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(back, "listening again at {url}");
    }

    #[tokio::test]
    async fn flap_alternates_between_refusing_and_answering() {
        let fleet = start(1).await;
        let a = fleet.appliance(0);
        let url = format!("{}/api/v1/system/healthcheck", a.url());
        a.set_fault(Fault::parse("flap:200ms").unwrap());
        let (mut refused, mut answered) = (0, 0);
        for _ in 0..30 {
            match client(&fleet).await.get(&url).send().await {
                Err(e) if e.is_connect() => refused += 1,
                Ok(r) if r.status() == 200 => answered += 1,
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            refused > 0 && answered > 0,
            "refused {refused}, answered {answered} of 30"
        );
    }

    #[tokio::test]
    async fn stats_count_connections_handshakes_and_concurrency() {
        let fleet = start(1).await;
        let a = fleet.appliance(0);
        let c = client(&fleet).await;
        a.set_fault(Fault::Latency(Duration::from_millis(300)));
        let path = "/api/v1/system/healthcheck";
        let (r1, r2, r3) = tokio::join!(
            get(&c, a, path, None),
            get(&c, a, path, None),
            get(&c, a, path, None)
        );
        assert_eq!((r1.0, r2.0, r3.0), (200, 200, 200));
        a.set_fault(Fault::None);
        for _ in 0..5 {
            assert_eq!(get(&c, a, path, None).await.0, 200);
        }
        let s = a.stats();
        assert_eq!(s.requests, 8);
        assert_eq!(s.max_in_flight, 3);
        assert_eq!(s.connections, 3, "sequential requests reuse connections");
        assert_eq!(s.tls_handshakes, 3);
        assert_eq!(
            s.by_method_path
                .get(&("GET".to_owned(), path.to_owned()))
                .copied(),
            Some(8)
        );
    }

    #[tokio::test]
    async fn profiles_and_conditions() {
        let fleet = start(1).await;
        let a = fleet.appliance(0);
        let c = client(&fleet).await;

        // Old firmware.
        a.set_profile(Profile::OldFirmware);
        let h = get_json(&c, a, "/api/v1/system/healthcheck?status=all").await;
        assert!(h["CPU-UTILIZATION4"].is_string(), "{h}");
        assert!(h.get("CPU-UTILIZATION").is_none());
        assert!(h["USER-COUNT"].is_string());
        let info = get_json(&c, a, "/api/v1/system/system-information").await;
        assert!(info["system-information"].get("machine-id").is_none());
        assert_eq!(login(&c, a).await.0, 404);
        let resp = c
            .get(format!("{}/api/v1/auth", a.url()))
            .basic_auth("monitor", Some("sim-Passw0rd!"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let key: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        let key = key["api_key"].as_str().unwrap().to_owned();
        assert_eq!(get(&c, a, "/api/v1/cluster", Some(&key)).await.0, 404);

        // Stand-alone: cluster and leases are 404 with the ICS error body.
        a.set_profile(Profile::Standalone);
        let h = get_json(&c, a, "/api/v1/system/healthcheck?status=all").await;
        assert!(h["CPU-UTILIZATION"].is_u64(), "{h}");
        for p in [
            "/api/v1/cluster",
            "/api/v1/license/license-server-lease-information",
        ] {
            let (s, b) = get(&c, a, p, Some("sim-api-key")).await;
            assert_eq!(s, 404);
            assert!(
                serde_json::from_slice::<Value>(&b).unwrap()["result"]["errors"][0]["message"]
                    .is_string()
            );
        }
        assert_eq!(
            get_json(&c, a, "/api/v1/system/healthcheck?status=sbr").await,
            json!({ "SBR-AVAILABLE": 1 })
        );

        // Active/Passive: VIPs, controllable failover, unreachable peer.
        a.set_profile(Profile::ClusterActivePassive);
        let v = get_json(&c, a, "/api/v1/cluster").await;
        assert_eq!(v["mode"], "Active/Passive");
        let owner = v["external-vip-owner"].as_str().unwrap().to_owned();
        assert_eq!(v["internal-vip-owner"], owner.as_str());
        assert_eq!(v["members"][0]["status-code"], "0x1b004");
        a.failover();
        let v = get_json(&c, a, "/api/v1/cluster").await;
        assert_ne!(v["external-vip-owner"], owner.as_str(), "failed over");
        a.set_member_unreachable(true);
        let v = get_json(&c, a, "/api/v1/cluster").await;
        assert_eq!(v["members"][1]["status-code"], "0x18");
        assert_eq!(v["members"][1]["notes"], "Enabled, Unreachable");
        a.set_member_unreachable(false);

        // Active/Active: no VIPs, `external-network`.
        a.set_profile(Profile::ClusterActiveActive);
        let v = get_json(&c, a, "/api/v1/cluster").await;
        assert_eq!(v["mode"], "Active/Active");
        assert!(v.get("external-vip-owner").is_none());
        assert!(v["members"][0].get("external-network").is_some());

        // License server, then licenses running out.
        a.set_profile(Profile::LicenseServer);
        let leased = |v: &Value| -> (u64, u64) {
            let f = &v["leased-license-counts"]["features"]["feature"];
            let cu = f
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == "Concurrent Users")
                .unwrap();
            let sum = cu["clients"]["client-info"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["leased-count"].as_u64().unwrap())
                .sum();
            (sum, cu["total-count"].as_u64().unwrap())
        };
        let v = get_json(&c, a, "/api/v1/license/license-server-lease-information").await;
        let (sum, total) = leased(&v);
        assert!(sum < total);
        let n = get_json(&c, a, "/api/v1/license/named-users").await;
        assert!(n["pcs"]["named-users"].is_array() && n["pps"]["named-users"].is_array());
        a.set_licenses_exhausted(true);
        let v = get_json(&c, a, "/api/v1/license/license-server-lease-information").await;
        let (sum, total) = leased(&v);
        assert_eq!(sum, total);
        let h = get_json(&c, a, "/api/v1/system/healthcheck?status=all").await;
        assert_eq!(h["MAX-LICENSED-USERS-REACHED"], "YES");

        // Logins disabled.
        a.set_logins_disabled(true);
        let u = get_json(&c, a, "/api/v1/system/active-users?number=1").await;
        assert_eq!(u["active-users"]["user-login-permission"], false);
    }

    #[tokio::test]
    async fn paging_bases_name_filter_and_consistent_counts() {
        let fleet = start(1).await;
        let a = fleet.appliance(0);
        let c = client(&fleet).await;
        a.set_sessions(300);
        let ids = |v: &Value| -> Vec<String> {
            v["active-users"]["active-user-records"]["active-user-record"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["session-id"].as_str().unwrap().to_owned())
                .collect()
        };
        let p = "/api/v1/system/active-users";
        let default = get_json(&c, a, p).await;
        assert_eq!(ids(&default).len(), 200, "default page of 200");
        assert_eq!(default["active-users"]["is-last-record"], false);
        let capped = get_json(&c, a, &format!("{p}?number=1000")).await;
        assert_eq!(ids(&capped).len(), 200, "hard cap of 200");
        let s0 = get_json(&c, a, &format!("{p}?number=10&start=0")).await;
        let s1 = get_json(&c, a, &format!("{p}?number=10&start=1")).await;
        assert_eq!(ids(&s0), ids(&s1), "start=0 reads as start=1");
        let s2 = get_json(&c, a, &format!("{p}?number=10&start=2")).await;
        assert_eq!(ids(&s2)[0], ids(&s1)[1]);
        a.set_zero_based_paging(true);
        let z1 = get_json(&c, a, &format!("{p}?number=10&start=1")).await;
        assert_eq!(ids(&z1)[0], ids(&s1)[1], "0-based: start=1 is the second");
        a.set_zero_based_paging(false);
        let one = get_json(&c, a, &format!("{p}?number=1")).await;
        assert_eq!(one["active-users"]["total-matched-record-number"], 300);
        assert_eq!(one["active-users"]["total-returned-record-number"], 1);

        // Every record, and the healthcheck agreeing with them.
        let mut all = Vec::new();
        for start in [1, 201] {
            let v = get_json(&c, a, &format!("{p}?number=200&start={start}")).await;
            all.extend(
                v["active-users"]["active-user-records"]["active-user-record"]
                    .as_array()
                    .unwrap()
                    .clone(),
            );
        }
        assert_eq!(all.len(), 300);
        let tunnels = all
            .iter()
            .filter(|r| !r["network-connect-ip"].is_null())
            .count();
        let browser = all
            .iter()
            .filter(|r| r["network-connect-transport-mode"].is_null())
            .count();
        assert!(tunnels > 0 && browser > 0);
        for r in &all {
            let has_tunnel = !r["network-connect-transport-mode"].is_null();
            assert_eq!(r.get("pulse-client-version").is_some(), has_tunnel, "{r}");
            let t = r["user-sign-in-time"].as_str().unwrap();
            assert_eq!(
                (t.len(), &t[4..5], &t[10..11]),
                (19, "/", " "),
                "2018/08/23 11:45:40 style: {t}"
            );
        }
        let h = get_json(&c, a, "/api/v1/system/healthcheck?status=all").await;
        assert_eq!(h["USER-COUNT"], 300);
        assert_eq!(h["VPN-TUNNEL-COUNT"], tunnels as u64);

        // `name=` filters to one user's sessions.
        let user = all[0]["active-user-name"].as_str().unwrap();
        let want = all.iter().filter(|r| r["active-user-name"] == user).count();
        let v = get_json(&c, a, &format!("{p}?name={user}")).await;
        assert_eq!(
            v["active-users"]["total-matched-record-number"],
            want as u64
        );
        assert_eq!(ids(&v).len(), want);
    }

    #[test]
    fn sessions_end_and_start_over_time() {
        let state = State::new(Profile::Standalone);
        let view = |t: f64| data::View {
            seed: 42,
            name: "sim-001",
            index: 0,
            t,
            started_unix: 1.8e9,
            mean_sessions: 100,
            state: &state,
        };
        let ids = |t: f64| -> HashSet<String> {
            view(t).active_users(Some(200), None, None)["active-users"]["active-user-records"]
                ["active-user-record"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["session-id"].as_str().unwrap().to_owned())
                .collect()
        };
        let (a, b, c) = (ids(0.0), ids(5.0), ids(4.0 * 3600.0));
        assert!(a.len() >= 40, "{}", a.len());
        let kept = |x: &HashSet<String>, y: &HashSet<String>| x.intersection(y).count();
        assert!(kept(&a, &b) >= a.len() * 9 / 10, "few sessions end in 5 s");
        assert!(kept(&a, &c) <= a.len() / 10, "most have ended after 4 h");
        // A page of 100 records is cheap.
        let t0 = Instant::now();
        for _ in 0..10 {
            let _ = view(1.0).active_users(Some(100), Some(1), None).to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(1));
        // Numbers move but stay percentages.
        for t in [0.0, 600.0, 7200.0] {
            let h = view(t).health_all();
            let cpu = h["CPU-UTILIZATION"].as_i64().unwrap();
            assert!((0..=100).contains(&cpu), "{cpu}");
        }
    }

    #[test]
    fn url_decoding() {
        assert_eq!(data::url_decode("Admin%20Users+x%zz"), "Admin Users x%zz");
        assert_eq!(data::url_decode("%"), "%");
    }

    #[tokio::test]
    async fn config_yaml_is_a_valid_exporter_config() {
        let fleet = start(4).await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("fleet-ca.pem");
        std::fs::write(&ca, fleet.ca_pem().unwrap()).unwrap();
        let yaml = fleet.config_yaml(Some(&ca), Duration::from_secs(15));
        assert!(yaml.starts_with("# generated by `ivanti-exporter simulate`\n"));
        assert!(yaml.contains("  interval: 15s\n  timeout: 5s\n"), "{yaml}");
        let cfg = crate::config::Config::from_yaml(&yaml, dir.path()).unwrap();
        assert_eq!(cfg.targets.len(), 4);
        assert_eq!(cfg.targets[0].name, "sim-001");
        assert_eq!(
            cfg.targets[0].client.url.as_str().trim_end_matches('/'),
            fleet.appliance(0).url()
        );
        assert!(cfg.targets[0].labels.iter().any(|(k, _)| k == "site"));
        fleet.shutdown().await;

        // Plain HTTP: no CA, no tls_config.
        let fleet = Fleet::start(FleetOptions {
            appliances: 2,
            tls: false,
            ..Default::default()
        })
        .await
        .unwrap();
        assert!(fleet.ca_pem().is_none());
        assert!(fleet.appliance(1).url().starts_with("http://127.0.0.1:"));
        let yaml = fleet.config_yaml(None, Duration::from_secs(15));
        assert!(!yaml.contains("tls_config"));
        crate::config::Config::from_yaml(&yaml, dir.path()).unwrap();
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!(
                "{}/api/v1/system/healthcheck",
                fleet.appliance(1).url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn run_writes_config_and_ca_then_serves_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.yml");
        let args = SimulateArgs {
            appliances: 3,
            http: false,
            listen_address: "127.0.0.1".parse().unwrap(),
            base_port: 0,
            seed: 7,
            sessions: 10,
            faults: "2=timeout".into(),
            write_config: Some(path.clone()),
            stats_address: None,
            kinds: KindMix::default(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(args, async {
            let _ = rx.await;
        }));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !path.exists() {
            assert!(Instant::now() < deadline, "config written");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let yaml = std::fs::read_to_string(&path).unwrap();
        let ca = dir.path().join("sim-ca.pem");
        assert!(std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(yaml.contains(&ca.display().to_string()), "{yaml}");
        let cfg = crate::config::Config::from_yaml(&yaml, dir.path()).unwrap();
        assert_eq!(cfg.targets.len(), 3);
        tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // Non-loopback addresses are refused by `run` too.
        let args = SimulateArgs {
            appliances: 1,
            http: true,
            listen_address: "0.0.0.0".parse().unwrap(),
            base_port: 0,
            seed: 1,
            sessions: 1,
            faults: String::new(),
            write_config: None,
            stats_address: None,
            kinds: KindMix::default(),
        };
        assert!(run(args, async {}).await.is_err());
    }

    #[test]
    fn latency_fault_spec() {
        assert_eq!(
            Fault::parse("latency:250ms"),
            Some(Fault::Latency(Duration::from_millis(250)))
        );
        assert_eq!(Fault::parse("latency:soon"), None);
        for name in Fault::CYCLE {
            assert!(Fault::parse(name).is_some(), "{name}");
        }
    }
}

//! What a simulated appliance says: the JSON of every endpoint, derived
//! cheaply from the time and the appliance's seed (no background loop over
//! the fleet), in the shapes of the vendor guide and with its quirks.
//!
//! Sessions live in numbered slots `0..n`. Unless the count is fixed with
//! [`super::Appliance::set_sessions`], each slot's session ends after a
//! lifetime of 10 to 60 minutes (different per slot) and a new one, with a
//! new session id, user and transport, starts in its place; the number of
//! slots itself drifts slowly around the mean. The healthcheck's counters
//! are computed from the same slots, so `VPN-TUNNEL-COUNT` is exactly the
//! number of records with a tunnel.

use super::fleet::{Profile, State};
use serde_json::{json, Value};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, UNIX_EPOCH};

fn h(parts: impl Hash) -> u64 {
    let mut s = DefaultHasher::new();
    parts.hash(&mut s);
    s.finish()
}

/// A value in `[0, 1)` from a hash.
pub(super) fn unit(parts: impl Hash) -> f64 {
    (h(parts) % 1_000_000) as f64 / 1_000_000.0
}

/// The view of one appliance at time `t` (seconds since the fleet started).
pub struct View<'a> {
    pub seed: u64,
    pub name: &'a str,
    pub index: usize,
    pub t: f64,
    /// Unix time (seconds) when the fleet started.
    pub started_unix: f64,
    pub mean_sessions: usize,
    pub state: &'a State,
}

const REALMS: &[&str] = &["Users", "Contractors", "Partners", "Admin Users"];
const CLIENT_AGENTS: &[&str] = &[
    "Windows 10 Pulse Secure",
    "Windows 11 Ivanti Secure Access Client",
    "Mac OS X Ivanti Secure Access Client",
    "Linux Pulse Secure",
];
const BROWSER_AGENTS: &[&str] = &[
    "Windows 10 Google Chrome",
    "Windows 11 Microsoft Edge",
    "Mac OS X Safari",
];
const CLIENT_VERSIONS: &[&str] = &["22.7.2.3191", "22.6.1.1469", "9.1.15.24503"];

/// One session slot at the view's time.
struct Slot {
    /// Identifies the session (changes when the slot's session ends).
    id: u64,
    /// Sign-in time, seconds relative to the fleet's start (may be negative).
    signed_in: f64,
}

/// Tunnel transport of a session: ESP, SSL, or none (browser only).
fn transport(id: u64) -> Option<&'static str> {
    match id % 10 {
        0..=6 => Some("ESP"),
        7 | 8 => Some("SSL"),
        _ => None,
    }
}

/// `"2018/08/23 11:45:40"` (UTC) for a Unix time.
fn ics_time(unix: f64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs_f64(unix.max(0.0));
    let s = humantime::format_rfc3339_seconds(t).to_string();
    // 2018-08-23T11:45:40Z
    let s = s.trim_end_matches('Z');
    s.replacen('-', "/", 2).replacen('T', " ", 1)
}

impl View<'_> {
    fn wave(&self, period: f64, salt: &str) -> f64 {
        let phase = unit((self.seed, salt)) * std::f64::consts::TAU;
        (self.t / period * std::f64::consts::TAU + phase).sin()
    }

    fn old(&self) -> bool {
        self.state.profile == Profile::OldFirmware
    }

    /// Number of active sessions now.
    pub fn sessions(&self) -> usize {
        if let Some(n) = self.state.sessions {
            return n;
        }
        let base = self.mean_sessions as f64 * (0.5 + unit((self.seed, "size")));
        (base * (1.0 + 0.25 * self.wave(900.0, "sessions")))
            .round()
            .max(0.0) as usize
    }

    fn nodes(&self) -> Vec<String> {
        match self.state.profile {
            Profile::ClusterActivePassive | Profile::ClusterActiveActive => {
                vec![format!("{}-a", self.name), format!("{}-b", self.name)]
            }
            _ => vec![self.name.to_owned()],
        }
    }

    /// Slot `i` now. With a fixed session count (tests) ids are stable;
    /// otherwise each slot's session ends and a new one starts now and then.
    fn slot(&self, i: usize) -> Slot {
        if self.state.sessions.is_some() {
            return Slot {
                id: h((self.seed, i, 0u64)),
                signed_in: -60.0 - 8.0 * 3600.0 * unit((self.seed, i, "age")),
            };
        }
        let lifetime = 600.0 + 3000.0 * unit((self.seed, i, "life"));
        let offset = lifetime * unit((self.seed, i, "phase"));
        let generation = ((self.t + offset) / lifetime).floor();
        Slot {
            id: h((self.seed, i, generation as u64)),
            signed_in: generation * lifetime - offset,
        }
    }

    fn user_name(id: u64) -> String {
        format!("user{:05}", id % 100_000)
    }

    /// Session record of slot `i`.
    fn record(&self, i: usize, nodes: &[String]) -> Value {
        let Slot { id, signed_in } = self.slot(i);
        let realm = REALMS[(id % 7).min(3) as usize];
        let transport = transport(id);
        let pick = |list: &[&'static str]| list[((id >> 20) % list.len() as u64) as usize];
        let agent = if transport.is_some() {
            pick(CLIENT_AGENTS)
        } else {
            pick(BROWSER_AGENTS)
        };
        let signed_in_unix = self.started_unix + signed_in;
        let mut r = json!({
            "active-user-name": Self::user_name(id),
            "agent-type": agent,
            "authentication-realm": realm,
            "endpoint-security-status": "Not Applicable\nPassed Policies: \nFailed Policies: \nEliminated Roles: ",
            "events": 0,
            "login-node": nodes[i % nodes.len()],
            "network-connect-ip": transport.map(|_| format!("10.{}.{}.{}", (id >> 8) % 250, (id >> 16) % 250, id % 250 + 2)),
            "network-connect-transport-mode": transport,
            "session-id": format!("sid{:016x}{:016x}{:08x}00000000", id, h((id, "sid")), id >> 32),
            "user-roles": realm,
            "user-sign-in-time": ics_time(signed_in_unix),
        });
        if let Some(o) = r.as_object_mut() {
            if transport.is_some() {
                o.insert("pulse-client-version".into(), json!(pick(CLIENT_VERSIONS)));
            }
            if !self.old() {
                // Fields 22.x adds.
                o.insert(
                    "source-ip".into(),
                    json!(format!("198.51.100.{}", id % 250 + 1)),
                );
                o.insert(
                    "sign-in-time-micro".into(),
                    json!((signed_in_unix.max(0.0) * 1e6) as u64),
                );
                if transport.is_some() {
                    let m = h((id, "mac"));
                    o.insert(
                        "mac-address".into(),
                        json!(format!(
                            "00:50:56:{:02x}:{:02x}:{:02x}",
                            m & 0xff,
                            (m >> 8) & 0xff,
                            (m >> 16) & 0xff
                        )),
                    );
                }
            }
        }
        r
    }

    /// `GET /api/v1/system/active-users?number=&start=&name=`.
    pub fn active_users(
        &self,
        number: Option<usize>,
        start: Option<usize>,
        name: Option<&str>,
    ) -> Value {
        let n = self.sessions();
        // The firmware's default page and hard cap (22.x: "a request
        // returns at most 200 users"); 9.x guides ask for number=250.
        let cap = if self.state.firmware == super::Firmware::IgnoresStart {
            usize::MAX
        } else {
            200
        };
        let number = number.unwrap_or(200).min(cap);
        let first = match start {
            None => 0,
            // 9.x: `start` is not understood; the first page again.
            Some(_) if self.state.firmware == super::Firmware::IgnoresStart => 0,
            Some(s) if self.state.zero_based_paging => s,
            Some(s) => s.saturating_sub(1),
        };
        let nodes = self.nodes();
        let matched: Option<Vec<usize>> = name.map(|want| {
            (0..n)
                .filter(|&i| Self::user_name(self.slot(i).id) == want)
                .collect()
        });
        let total = matched.as_ref().map_or(n, Vec::len);
        let end = first.saturating_add(number).min(total);
        let records: Vec<Value> = (first.min(end)..end)
            .map(|k| {
                let i = matched.as_ref().map_or(k, |m| m[k]);
                self.record(i, &nodes)
            })
            .collect();
        json!({ "active-users": {
            "active-user-records": { "active-user-record": records },
            "total-matched-record-number": total,
            "total-returned-record-number": records.len(),
            "is-last-record": end >= total,
            "user-login-permission": !self.state.logins_disabled,
        }})
    }

    /// `GET /api/v1/system/healthcheck?status=all`.
    pub fn health_all(&self) -> Value {
        let n = self.sessions();
        let (mut tunnels, mut ssl) = (0u64, 0u64);
        for i in 0..n {
            match transport(self.slot(i).id) {
                Some("SSL") => {
                    tunnels += 1;
                    ssl += 1;
                }
                Some(_) => tunnels += 1,
                // Browser-only sessions hold SSL connections too.
                None => ssl += 1,
            }
        }
        let cpu =
            (20.0 + 15.0 * self.wave(300.0, "cpu") + 10.0 * unit((self.seed, self.t as u64 / 15)))
                .round() as i64;
        let swap = (2.0 + 2.0 * self.wave(3600.0, "swap")).round().max(0.0) as i64;
        let disk: i64 = if self.index % 5 == 4 {
            -1
        } else {
            (30.0 + 20.0 * unit((self.seed, "disk")) + self.t / 86_400.0)
                .round()
                .min(99.0) as i64
        };
        let max_reached = if self.state.licenses_exhausted {
            "YES"
        } else {
            "NO"
        };
        if self.old() {
            // The guide prints CPU-UTILIZATION4; 22.x client code decodes every value as a string.
            json!({
                "CPU-UTILIZATION4": cpu.to_string(), "SSL-CONNECTION-COUNT": ssl.to_string(),
                "MAX-LICENSED-USERS-REACHED": max_reached,
                "SWAP-UTILIZATION": swap.to_string(), "DISK-UTILIZATION": disk.to_string(),
                "USER-COUNT": n.to_string(), "VPN-TUNNEL-COUNT": tunnels.to_string(),
            })
        } else {
            json!({
                "CPU-UTILIZATION": cpu, "SSL-CONNECTION-COUNT": ssl,
                "MAX-LICENSED-USERS-REACHED": max_reached,
                "SWAP-UTILIZATION": swap, "DISK-UTILIZATION": disk,
                "USER-COUNT": n, "VPN-TUNNEL-COUNT": tunnels,
            })
        }
    }

    /// `GET /api/v1/cluster`, or `None` on a stand-alone box.
    pub fn cluster(&self) -> Option<Value> {
        let nodes = self.nodes();
        let peer_code = if self.state.member_unreachable {
            "0x18"
        } else {
            "0x11004"
        };
        match self.state.profile {
            Profile::ClusterActivePassive => {
                // The VIP fails over every ~20 minutes, and on demand.
                let epoch = (self.t / 1200.0) as u64 + self.state.failovers;
                let (owner, other) = if epoch.is_multiple_of(2) {
                    (0, 1)
                } else {
                    (1, 0)
                };
                let member = |i: usize, code: &str| {
                    json!({ "enabled": true, "external-ip": format!("10.204.56.{}", 80 + i),
                        "external-netmask": "255.255.240.0", "internal-ip": format!("10.204.51.{}", 39 + i),
                        "internal-netmask": "255.255.240.0", "name": nodes[i],
                        "notes": if code == "0x1b004" { "Leader" } else if code == "0x18" { "Enabled, Unreachable" } else { "Enabled" },
                        "status-code": code })
                };
                Some(json!({
                    "external-vip-ipv4": "10.204.56.76", "external-vip-owner": nodes[owner],
                    "internal-vip-ipv4": "10.204.56.75", "internal-vip-owner": nodes[owner],
                    "members": [member(owner, "0x1b004"), member(other, peer_code)],
                    "mode": "Active/Passive", "name": format!("{}-cluster", self.name),
                }))
            }
            Profile::ClusterActiveActive => Some(json!({
                "members": [
                    { "enabled": true, "external-ip": "", "external-network": "", "internal-ip": "3.209.114.225",
                      "internal-netmask": "255.0.0.0", "name": nodes[0], "notes": "Leader", "status-code": "0x19004" },
                    { "enabled": true, "external-ip": "10.209.114.194", "external-network": "255.255.240.0",
                      "internal-ip": "3.209.114.228", "internal-netmask": "255.0.0.0", "name": nodes[1],
                      "notes": if peer_code == "0x18" { "Enabled, Unreachable" } else { "Enabled" }, "status-code": peer_code },
                ],
                "mode": "Active/Active", "name": format!("{}-cluster", self.name),
            })),
            _ => None,
        }
    }

    /// `GET /api/v1/license/license-server-lease-information`, or `None`.
    pub fn leases(&self) -> Option<Value> {
        if self.state.profile != Profile::LicenseServer {
            return None;
        }
        let total = 1000;
        let leased = |c: u64| -> u64 {
            if self.state.licenses_exhausted {
                if c == 1 {
                    600
                } else {
                    400
                }
            } else {
                (200.0 + 150.0 * self.wave(1800.0, "lease") + 50.0 * c as f64) as u64
            }
        };
        Some(json!({ "leased-license-counts": {
            "features": { "feature": [
                { "clients": { "client-info": [ { "leased-count": leased(1), "name": "client1" },
                                                { "leased-count": leased(2), "name": "client2" } ] },
                  "name": "Concurrent Users", "total-count": total },
                { "clients": { "client-info": [ { "leased-count": 0, "name": "client1" } ] },
                  "name": "Advanced Mobile License - Onboarding", "total-count": 0 } ] },
            "machine-id": format!("VA{:015X}", self.seed % 0xFFFF_FFFF_FFFF),
            "query-summary": {},
            "release-info": { "build-number": "10124", "version": "22.7" },
            "serial-number": null,
            "signature": "HMx/W0VhDAABAAAApoB/",
            "time-stamp": "Tue Nov 24 14:43:00 2026" } }))
    }

    /// `GET /api/v1/license/named-users`.
    pub fn named_users(&self) -> Value {
        let user = |i: u64| {
            json!({ "IP": "192.0.2.1", "Last Agent Type": "Pulse-Secure/22.7", "Last Role": ["Users"],
                                     "Last Sign in": "2026-11-20 19:05:51", "User": format!("named{i}") })
        };
        let n = 3 + self.seed % 5;
        if self.state.profile == Profile::LicenseServer {
            json!({ "pcs": { "named-users": (0..n).map(user).collect::<Vec<_>>() },
                    "pps": { "named-users": (0..2).map(user).collect::<Vec<_>>() } })
        } else {
            json!({ "named-users": (0..n).map(user).collect::<Vec<_>>() })
        }
    }

    /// `GET /api/v1/system/system-information`: the firmware set with
    /// [`super::Appliance::set_firmware_version`], or the fleet's default
    /// mix ([`super::FirmwareVersion::default_for`]).
    pub fn system_information(&self) -> Value {
        let old = self.old();
        let fw = self
            .state
            .firmware_version
            .unwrap_or_else(|| super::FirmwareVersion::default_for(self.index, old));
        let model = ["PSA-3000", "PSA-5000", "PSA-7000v"][(self.seed % 3) as usize];
        let mut info = json!({
            "cluster-node": {}, "hardware-model": model,
            "host-name": self.name, "machine-id": format!("0312MB{:011X}", self.seed % 0xFFFF_FFFF),
            "os-name": "ive-sa", "os-version": fw.version,
            "serial-number": format!("{:016}", self.seed % 10_000_000_000_000_000),
        });
        if old {
            if let Some(o) = info.as_object_mut() {
                o.remove("machine-id");
                o.remove("cluster-node");
            }
        }
        let mut software =
            json!({ "name": "IVE-OS", "type": "operating-system", "version": fw.version });
        if let (Some(o), Some(b)) = (software.as_object_mut(), fw.build) {
            o.insert("build".into(), json!(b));
        }
        let mut body = json!({
            "software-inventory": { "software": software },
            "system-information": info,
        });
        if let (Some(o), Some((version, build))) = (body.as_object_mut(), fw.rollback) {
            let mut r = json!({ "os-name": "ive-sa", "os-version": version });
            if let (Some(ro), Some(b)) = (r.as_object_mut(), build) {
                ro.insert("build".into(), json!(b));
            }
            o.insert("rollback-partition-information".into(), r);
        }
        body
    }

    /// `GET /api/v1/system/user-stats` (a public client's shape, strings):
    /// capacity twice the mean sessions; a license server allocates none.
    pub fn user_stats(&self) -> Value {
        let (allocated, current) = if self.state.profile == Profile::LicenseServer {
            (0, 0)
        } else {
            ((self.mean_sessions * 2).max(10), self.sessions())
        };
        let peak = current.max(self.mean_sessions + self.mean_sessions / 4);
        json!({ "user-stats": {
            "allocated-user-count": allocated.to_string(),
            "current-user-count": current.to_string(),
            "max-active-user-count-24hrs": peak.to_string() } })
    }

    /// `GET /api/v1/system/status/ntp` (22.x; `None`, a 404, on 9.x):
    /// two servers in `ntpq -p` columns, milliseconds, octal reach.
    pub fn ntp(&self) -> Option<Value> {
        if self.old() {
            return None;
        }
        let offset = format!("{:.3}", 2.0 * self.wave(900.0, "ntp"));
        Some(json!({ "ntp-status": [
            { "server": "10.64.1.10", "refid": "192.53.103.108", "stratum": "2", "type": "u",
              "when": "37", "pool": "64", "reach": "377", "delay": "0.512", "offset": offset, "jitter": "0.087" },
            { "server": "10.64.1.11", "refid": ".INIT.", "stratum": "16", "type": "u",
              "when": "-", "pool": "64", "reach": "0", "delay": "0.000", "offset": "0.000", "jitter": "0.000" } ] }))
    }

    /// `GET /api/v1/configuration/authentication/endpoint/host-checker/esaps?expand`
    /// (the guide's shape), the active package activated 30 days before the fleet started.
    pub fn esaps(&self) -> Value {
        let activated = ics_time(self.started_unix - 30.0 * 86_400.0);
        json!({ "active-version": "4.3.1", "default-version": "4.3.1",
                "esap": [ { "esap-version": "4.3.1", "last-activated-time": format!("{activated} UTC"),
                            "upload-time": format!("{activated} UTC") },
                          { "esap-version": "4.3.2", "last-activated-time": "Never",
                            "upload-time": format!("{activated} UTC") } ],
                "force-same-esap": "false" })
    }

    /// `GET /api/v1/system/status/overview` (a public client's shape): booted
    /// 12 days (and a per-appliance part of one) before the fleet started
    /// (or at the latest [`super::Appliance::reboot`]), its
    /// configuration changed 3 days before; the clock is the host's.
    pub fn overview(&self) -> Value {
        let now = self.started_unix + self.t;
        let booted = self
            .state
            .rebooted_at
            .unwrap_or((self.started_unix - 12.0 * 86_400.0 - (self.seed % 86_400) as f64).floor());
        let up = (now - booted).max(0.0) as u64;
        json!({ "cluster-member-status": [],
                "last-config-update": { "device": format!("{} UTC", ics_time(self.started_unix - 3.0 * 86_400.0)) },
                "system-date-and-time": format!("{} UTC", ics_time(now)),
                "uptime": { "days": up / 86_400, "hours": up % 86_400 / 3600,
                            "minutes": up % 3600 / 60, "seconds": up % 60 } })
    }
}

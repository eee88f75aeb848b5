//! A simulated fleet of Connect Secure appliances on loopback, for the
//! README's demo (`ivanti-exporter --demo`), load tests
//! (`ivanti-exporter simulate`) and the integration tests (in-process).
//!
//! Every appliance has its own TCP listener on a loopback address (HTTPS
//! with one server certificate for `127.0.0.1`, `::1` and `localhost`,
//! signed by a CA generated at start, or plain HTTP with `--http`) and
//! answers the endpoints a monitor reads, in the vendor guide's shapes
//! (`/work/shared/ics-api.md`). A Connect Secure appliance models these
//! (live data, profiles, firmware behaviours, faults):
//!
//! | modelled endpoint | auth | notes |
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
//! `{"result": {"errors": [{"message": ...}]}}`. Every other method is a
//! 405, and every request is counted in [`Appliance::stats`] by method and
//! path, so tests can prove the exporter sends only GETs and the login
//! POST. Connections are kept alive; connections and TLS handshakes are
//! counted too. The other products model their own endpoints (`products`).
//!
//! # Vendor fixtures for everything else
//!
//! A `GET` of a path that no route above (nor the product's own, for SPS,
//! EPMM and Security Controls) models is answered `200` with the vendor
//! fixture stored at that path, byte for byte: the most specific of
//! `tests/fixtures/<kind>/<api path>[__<query pairs>].json` (the convention
//! of [`fixtures`]), compiled into the binary by `build.rs`. The product's
//! authentication and method rules come first (a 401 without a key, a 405
//! for another method), and faults spoil a fixture as they spoil a model's
//! answer. A path with neither a model nor a fixture is the product's 404.
//! So a new API area (say `GET /api/v1/system/status/ntp`) needs only
//! `tests/fixtures/ics/api/v1/system/status/ntp.json`, no simulator code;
//! a modelled path never serves its fixture.
//!
//! The data is derived cheaply from the time and a per-appliance seed, with
//! no background loop over the fleet: sessions end and start (session ids
//! change), the session count drifts around `--sessions`, CPU, swap and disk
//! move, the SSL-connection and VPN-tunnel counts are those of the session
//! records, every fifth appliance reports `DISK-UTILIZATION: -1`. For exact
//! figures, [`Appliance::set_sessions`] fixes the count and the session ids.
//!
//! # Firmware generations
//!
//! [`Firmware`] gives one appliance the behaviour of a generation
//! operators still run ([`Appliance::set_firmware`], `simulate --firmware
//! 2=pre-9.1r4`): `pre-9.1r4` (no REST healthcheck, only
//! `/dana-na/healthcheck/healthcheck.cgi?status=all` with `KEY=value;`
//! lines), `ignores-start` (9.x: `start` ignored, `number` not capped),
//! `403-on-expiry` (a revoked key is a 403), `realm-auth-redirect`
//! (`realm_auth` redirects to the sign-in page). `--self-signed`
//! ([`FleetOptions::self_signed`]) serves one self-signed `CA:TRUE`
//! certificate instead of the fleet CA's leaf.
//!
//! # Files
//!
//! `fleet` (options, appliances, state, counters), `server` (TLS, accept
//! loop, the request handler: count, faults, dispatch), `faults`,
//! `request` (the answer helpers every product uses, the query codec),
//! `products` (what a simulated appliance is, the request view, the
//! fallback from a model to a fixture), `fixtures` (where a request's
//! vendor fixture lives, and the embedded table), one file per product
//! (`ics`, `sps`, `epmm`, `isec`, with `kerberos` for the console),
//! `firmware`, `data` (the generated figures), `cli` (`simulate`), `tests`.
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
//! issued key is a 401 until the next login). Security Controls only:
//! [`Appliance::set_no_operations_list`] (404 on the undocumented
//! `GET /operations` list), [`Appliance::set_isec_machines`] (how many
//! machines the paged `/machines` list holds, default 2,345),
//! [`Appliance::set_kerberos`] (accept Kerberos `Negotiate` tokens for the
//! `HTTP/` key of a keytab, beside NTLM or instead of it: [`SimKerberos`]).
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

// A product answers with a finished response as its `Err`: the simulator
// is a test tool, and boxing every response would only add noise.
#![allow(clippy::result_large_err)]

mod cli;
mod data;
mod epmm;
mod faults;
mod firmware;
pub mod fixtures;
mod fleet;
mod ics;
mod isec;
mod kerberos;
mod products;
mod request;
mod server;
mod sps;
pub mod syslog;
#[cfg(test)]
mod tests;

pub use cli::{run, SimulateArgs};
pub use faults::Fault;
pub use firmware::{Firmware, FirmwareVersion};
#[cfg(test)]
pub(crate) use fleet::fleet_with_ca_file;
pub use fleet::{Appliance, Fleet, FleetOptions, Profile, Stats};
pub use kerberos::SimKerberos;
#[cfg(test)]
pub(crate) use kerberos::{error_token, krb_error};
pub use products::SimKind;

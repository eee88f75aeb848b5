//! # ivanti-exporter
//!
//! A Prometheus exporter for fleets of Ivanti Connect Secure and Policy
//! Secure appliances (kind `ics`), and for the neighbouring One Identity
//! SPS (`sps`), Ivanti EPMM (`epmm`) and Ivanti Security Controls (`isec`).
//! Data flows one way, and so do the imports:
//!
//! ```text
//!            ┌──────── daemon (reload, SIGHUP, target-file watch) ───────┐
//! config ──▶ scheduler ──▶ kinds::<kind> ──▶ client ──▶ appliance (HTTPS)
//!   │            │           │  parse(bytes) ─▶ samples(&model)
//!   │            ▼           ▼
//!   │          store (one immutable snapshot per target and collector)
//!   │            │
//!   │            ▼
//!   │          render ──▶ web (/metrics, /probe, /-/reload, status page)
//!   └─▶ builds client::Settings and kinds::Target for each target
//! ```
//!
//! - [`config`]: the YAML/TOML file, defaults merged into targets,
//!   validation with paths; builds each target's [`client::Settings`] and
//!   asks its kind to parse its own options ([`kinds::Kind::parse_options`]).
//! - [`scheduler`]: one task per (target, collector), jittered intervals, a
//!   global concurrency cap and a per-appliance cap; writes into the [`store`].
//! - [`kinds`]: what is specific to a product: its login flow, its
//!   collectors, and one file per API area with a pure `parse(bytes)` and a
//!   pure `samples(&model)`. A kind sees only a [`kinds::Target`] (name,
//!   credentials, typed options), never the config. A target whose
//!   credentials file could not be read runs through
//!   [`kinds::deferred`], which reads it again at every poll (through a
//!   [`kinds::CredentialSource`] the config implements); one whose
//!   `tls_config` files could not be read gets a
//!   [`kinds::deferred_transport`] instead of its client, which builds the
//!   client once they can be read (a [`kinds::SettingsSource`]).
//! - [`client`]: the only code that talks HTTP to appliances (GET, and the
//!   login POSTs a kind declares); knows no product and no config.
//! - [`store`]: per-target immutable snapshots; scrapes read, pollers write.
//! - [`render`]: encodes snapshots with [`exposition`] (classic text or
//!   OpenMetrics), the crate's own writer (label escaping, pre-rendered lines).
//! - [`web`]: the router and its handlers, the `/` page handler included;
//!   it imports [`landing`] (renders the page: pure, no HTTP) and
//!   [`webconfig`] (`--web.config.file`: TLS, and the middleware for basic
//!   auth, rate limit and response headers), neither of which imports
//!   [`web`]; [`server`]: the accept loop (header-read timeout, connection
//!   cap, TLS), which knows only an axum `Router`.
//! - [`daemon`]: wires the above together: `Daemon::build` binds (the address
//!   is known before it runs), `Daemon::run_until` serves until shutdown.
//! - Leaves, imported by the layers above and importing nothing of them:
//!   [`tls`] (TLS settings, PEM, rustls verifiers), [`error`]
//!   ([`error::CollectError`], whose `kind()` is an [`error::Reason`], the
//!   `reason` label, bound to its label, description and HELP text),
//!   [`secret`] ([`secret::Secret`], printed as `<secret>`), [`exposition`],
//!   [`system`] (the only `unsafe`: the open-files limit, clock ticks, page
//!   size, the effective user id), [`logging`],
//!   [`version`] (version and git revision, baked in by `build.rs`).
//! - Tools around the product: [`sim`], the simulated fleet (used only by
//!   `cli` for `simulate` and by [`demo`] for `--demo`); [`cli`], flag
//!   parsing and dispatch (imported by nothing but `main.rs`).

pub mod advisories;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod error;
pub mod exposition;
/// Fuzz entry points: compiled for tests and `cargo fuzz` (`--cfg fuzzing`) only.
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
pub mod kinds;
pub mod landing;
pub mod logging;
pub mod process;
pub mod render;
pub mod scheduler;
pub mod secret;
pub mod server;
pub mod sim;
pub mod store;
pub mod syslog;
pub mod system;
pub mod tls;
pub mod version;
pub mod web;
pub mod webconfig;

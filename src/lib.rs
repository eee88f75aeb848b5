//! # ivanti-exporter
//!
//! A Prometheus exporter for fleets of Ivanti Connect Secure and Policy
//! Secure appliances. Data flows one way:
//!
//! ```text
//! config ──▶ scheduler ──▶ client ──▶ kinds::<kind>::<area>::parse ──▶ store (snapshots) ──▶ render (/metrics, /probe)
//! ```
//!
//! - [`config`]: the YAML/TOML file, defaults merged into targets, validation with paths.
//! - [`scheduler`]: one task per (target, collector), jittered intervals, a global
//!   concurrency cap and a per-appliance cap; writes snapshots into the [`store`].
//! - [`client`]: the only code that talks HTTP to appliances (GET, and the one
//!   documented login POST); TLS, timeouts, body cap, error classification.
//! - [`kinds`]: what is specific to a product. [`kinds::ics`] holds Connect
//!   Secure's login flow and one file per API area, each with a pure
//!   `parse(bytes)` and a pure `samples(&model)`.
//! - [`store`]: per-target immutable snapshots; scrapes read, pollers write.
//! - [`render`]: encodes snapshots with [`exposition`] (classic text or OpenMetrics).
//! - [`web`]: the HTTP endpoints. [`sim`]: the simulated appliance fleet.
//! - [`error`]: [`error::CollectError`], whose `kind()` is the `reason` label.
//! - [`secret`]: [`secret::Secret`], printed as `<secret>` everywhere.

pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod error;
pub mod exposition;
pub mod floor;
pub mod fuzzing;
pub mod kinds;
pub mod logging;
pub mod render;
pub mod scheduler;
pub mod secret;
pub mod sim;
pub mod store;
pub mod system;
pub mod tls;
pub mod web;
pub mod webconfig;

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integration tests: the real `ivanti-exporter` binary against real HTTPS
//! appliances (the simulator) on loopback. One test binary, as in
//! zero-to-production; `TEST_LOG=1` shows the exporter's logs.

mod helpers;
mod kinds;
mod landing;
mod leftovers;

mod auth;
mod cli;
mod config;
mod deploy;
mod docs;
mod e2e;
mod faults;
mod firmware;
mod formats;
mod kerberos;
mod lifecycle;
mod paging;
mod probe;
mod reload;
mod rules;
mod scrape;
mod secrets;
mod server;
mod signals;
mod soak;
mod syslog;
mod version;
mod webconfig;

//! The syslog receiver (issue 24): what only the gateway's event log
//! carries (integrity-checker results, failed sign-ins) and whether that
//! log still arrives at all.
//!
//! - [`frame`]: one message's syslog header (RFC 5424, RFC 3164); pure.
//! - [`event`]: the gateway's formats inside it (Standard, WELF) and the
//!   events this exporter counts; pure, total (unknown lines are counted,
//!   never errors).
//! - [`config`]: the `syslog:` block; [`receiver`]: the UDP and TCP listeners,
//!   their limits, and the mapping of a message to a target.
//! - [`state`]: per-target counters and the receiver's own, rendered at scrape time.

pub mod config;
pub mod event;
pub mod frame;
pub mod receiver;
pub mod state;

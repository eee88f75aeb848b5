//! The `syslog:` block of the configuration file (off when absent), and its
//! validated form.

use crate::config::ByteSize;
use serde::Deserialize;
use std::net::SocketAddr;

/// Default `max_message_size`: 8 KiB (RFC 5425 receivers must take 2 KiB;
/// the gateway's lines are far shorter).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8 << 10;
/// Default `rate_limit`: messages per second per sender address.
pub const DEFAULT_RATE_LIMIT: u32 = 200;
/// Default `max_connections` (TCP).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// `syslog:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SyslogFileConfig {
    /// UDP address to listen on, e.g. `0.0.0.0:514`.
    pub udp_listen_address: Option<String>,
    /// TCP address (octet-counting or newline framing, RFC 6587), e.g. `0.0.0.0:601`.
    pub tcp_listen_address: Option<String>,
    /// Largest message accepted; longer ones are counted and dropped.
    pub max_message_size: Option<ByteSize>,
    /// Messages per second accepted from one sender address (burst: twice this).
    pub rate_limit: Option<u32>,
    /// TCP connections open at once; more are refused and counted.
    pub max_connections: Option<usize>,
}

/// `syslog:` validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// UDP listener.
    pub udp: Option<SocketAddr>,
    /// TCP listener.
    pub tcp: Option<SocketAddr>,
    /// Largest message, bytes.
    pub max_message_size: usize,
    /// Messages per second per sender.
    pub rate_limit: u32,
    /// TCP connections at once.
    pub max_connections: usize,
}

impl SyslogFileConfig {
    /// Validate; every problem is `syslog.<key>: <why>`.
    pub fn resolve(&self) -> Result<SyslogConfig, Vec<String>> {
        let mut problems = Vec::new();
        let mut addr = |key: &str, v: &Option<String>| -> Option<SocketAddr> {
            let v = v.as_deref()?;
            match v.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    problems.push(format!(
                        "syslog.{key}: {v:?} is not an IP address and port (e.g. 0.0.0.0:514)"
                    ));
                    None
                }
            }
        };
        let udp = addr("udp_listen_address", &self.udp_listen_address);
        let tcp = addr("tcp_listen_address", &self.tcp_listen_address);
        if self.udp_listen_address.is_none() && self.tcp_listen_address.is_none() {
            problems.push(
                "syslog: set udp_listen_address or tcp_listen_address (or remove the block)".into(),
            );
        }
        let max_message_size = self
            .max_message_size
            .map_or(DEFAULT_MAX_MESSAGE_SIZE, |b| b.0);
        if !(480..=(1 << 20)).contains(&max_message_size) {
            problems.push("syslog.max_message_size: must be between 480B and 1MiB".into());
        }
        let rate_limit = self.rate_limit.unwrap_or(DEFAULT_RATE_LIMIT);
        if rate_limit == 0 {
            problems.push("syslog.rate_limit: must be at least 1".into());
        }
        let max_connections = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            problems.push("syslog.max_connections: must be at least 1".into());
        }
        if problems.is_empty() {
            Ok(SyslogConfig {
                udp,
                tcp,
                max_message_size,
                rate_limit,
                max_connections,
            })
        } else {
            Err(problems)
        }
    }
}

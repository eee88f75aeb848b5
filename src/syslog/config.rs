//! The `syslog:` block of the configuration file (off when absent), and its
//! validated form.

use crate::config::ByteSize;
use crate::webconfig::TlsServer;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Default `max_message_size`: 8 KiB (RFC 5425 receivers must take 2 KiB;
/// the gateway's lines are far shorter).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8 << 10;
/// Default `rate_limit`: messages per second per sender address.
pub const DEFAULT_RATE_LIMIT: u32 = 200;
/// Default `max_connections` (TCP and TLS together).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Default `idle_timeout`: a TCP or TLS connection that sends nothing for
/// this long is closed (a sender reconnects with its next message).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default `max_connections_per_sender`: TCP and TLS connections one sender
/// address may hold at once. A gateway keeps one per log it forwards;
/// rsyslog (imtcp `MaxSessions`, 200 per listener) and syslog-ng
/// (`max-connections()`, 10 per source) cap only the total, which one
/// address can fill.
pub const DEFAULT_MAX_CONNECTIONS_PER_SENDER: usize = 4;
/// Default `message_timeout`: once a message's first byte has arrived, the
/// whole message must arrive within this, or it is dropped and the connection
/// closed (a sender trickling a byte at a time cannot hold a slot).
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// TLS address (RFC 5425: octet counting over TLS), e.g. `0.0.0.0:6514`.
    pub tls_listen_address: Option<String>,
    /// The TLS listener's certificate, key and client CA: the schema of
    /// `--web.config.file`'s `tls_server_config` (exporter-toolkit).
    pub tls_server_config: Option<TlsServer>,
    /// TCP and TLS connections open at once (both listeners together); more
    /// are refused and counted.
    pub max_connections: Option<usize>,
    /// A TCP or TLS connection that sends nothing for this long is closed.
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
    /// TCP and TLS connections one sender address may hold at once; more
    /// are refused and counted.
    pub max_connections_per_sender: Option<usize>,
    /// Time a started message has to arrive whole (TCP and TLS).
    #[serde(default, with = "humantime_serde")]
    pub message_timeout: Option<Duration>,
}

/// The TLS listener, validated.
#[derive(Debug, Clone)]
pub struct SyslogTls {
    /// Where it listens.
    pub address: SocketAddr,
    /// Certificate, key and client verification (shared with the web listener's code).
    pub server: Arc<rustls::ServerConfig>,
}

/// `syslog:` validated.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    /// UDP listener.
    pub udp: Option<SocketAddr>,
    /// TCP listener.
    pub tcp: Option<SocketAddr>,
    /// TLS listener.
    pub tls: Option<SyslogTls>,
    /// Largest message, bytes.
    pub max_message_size: usize,
    /// Messages per second per sender.
    pub rate_limit: u32,
    /// TCP and TLS connections at once.
    pub max_connections: usize,
    /// Idle TCP and TLS connections are closed after this.
    pub idle_timeout: Duration,
    /// TCP and TLS connections at once per sender address.
    pub max_connections_per_sender: usize,
    /// A started message must arrive whole within this.
    pub message_timeout: Duration,
    /// Keys of `tls_server_config` accepted without effect (logged at start).
    pub warnings: Vec<String>,
}

impl SyslogFileConfig {
    /// Validate (certificate files are read, relative to `base`); every
    /// problem is `syslog.<key>: <why>`.
    pub fn resolve(&self, base: &Path) -> Result<SyslogConfig, Vec<String>> {
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
        let tls_addr = addr("tls_listen_address", &self.tls_listen_address);
        if self.udp_listen_address.is_none()
            && self.tcp_listen_address.is_none()
            && self.tls_listen_address.is_none()
        {
            problems.push(
                "syslog: set udp_listen_address, tcp_listen_address or tls_listen_address (or remove the block)"
                    .into(),
            );
        }
        let mut warnings = Vec::new();
        let server = match (&self.tls_listen_address, &self.tls_server_config) {
            (Some(_), None) => {
                problems.push(
                    "syslog.tls_server_config: tls_listen_address needs a certificate and key \
                     (cert_file, key_file)"
                        .into(),
                );
                None
            }
            (None, Some(_)) => {
                problems.push(
                    "syslog.tls_server_config: set without tls_listen_address (nothing would use it)"
                        .into(),
                );
                None
            }
            (Some(_), Some(t)) => {
                match crate::webconfig::tls_server_config(t, base, &mut warnings) {
                    Ok(c) => Some(Arc::new(c)),
                    Err(e) => {
                        problems.push(format!("syslog.{e}"));
                        None
                    }
                }
            }
            (None, None) => None,
        };
        let warnings = warnings
            .into_iter()
            .map(|w| format!("syslog.{w}"))
            .collect();
        let tls = tls_addr
            .zip(server)
            .map(|(address, server)| SyslogTls { address, server });
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
        let idle_timeout = self.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT);
        if idle_timeout < Duration::from_secs(1) {
            problems.push("syslog.idle_timeout: must be at least 1s".into());
        }
        let max_connections_per_sender = self
            .max_connections_per_sender
            .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_SENDER);
        if max_connections_per_sender == 0 {
            problems.push("syslog.max_connections_per_sender: must be at least 1".into());
        }
        let message_timeout = self.message_timeout.unwrap_or(DEFAULT_MESSAGE_TIMEOUT);
        if message_timeout < Duration::from_secs(1) {
            problems.push("syslog.message_timeout: must be at least 1s".into());
        }
        if problems.is_empty() {
            Ok(SyslogConfig {
                udp,
                tcp,
                tls,
                max_message_size,
                rate_limit,
                max_connections,
                idle_timeout,
                max_connections_per_sender,
                message_timeout,
                warnings,
            })
        } else {
            Err(problems)
        }
    }
}

//! `--demo`: a simulated fleet started in-process, and the configuration
//! that polls it (given to the daemon as text, so the daemon itself knows
//! nothing of the simulator). The configuration turns the syslog receiver
//! on (UDP, loopback, a port of the system's choosing) and the fleet's
//! syslog stream is sent to it once the daemon has bound it: sim-002's
//! integrity scans find files, so the syslog series and their alert show.

use crate::daemon::SourceKind;
use crate::sim::syslog::{ForwardTo, Stream, StreamFault};
use crate::sim::{Fleet, FleetOptions, SimKind};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Poll interval of the demo configuration.
const INTERVAL: Duration = Duration::from_secs(5);

/// A running demo fleet and its configuration.
#[derive(Debug)]
pub struct Demo {
    fleet: Fleet,
    yaml: String,
    dir: PathBuf,
    syslog: Option<JoinHandle<()>>,
}

impl Demo {
    /// Start `appliances` simulated appliances (at least one; from four on,
    /// the last three are an SPS, an EPMM and a Security Controls console)
    /// and write their CA into a temporary directory.
    pub async fn start(appliances: usize) -> Result<Demo, String> {
        let fleet = Fleet::start(FleetOptions {
            appliances: appliances.max(1),
            // One of each neighbouring product at the end of the fleet.
            kinds: if appliances >= 4 {
                vec![SimKind::Sps, SimKind::Epmm, SimKind::Isec]
            } else {
                Vec::new()
            },
            ..FleetOptions::default()
        })
        .await
        .map_err(|e| format!("starting the simulated fleet: {e}"))?;
        let dir = std::env::temp_dir().join(format!("ivanti-exporter-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ca = dir.join("fleet-ca.pem");
        if let Some(pem) = fleet.ca_pem() {
            std::fs::write(&ca, pem).map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        let mut yaml = fleet.config_yaml(fleet.ca_pem().map(|_| ca.as_path()), INTERVAL);
        yaml.push_str("syslog:\n  udp_listen_address: 127.0.0.1:0\n");
        tracing::info!(appliances = fleet.len(), "demo: simulated fleet started");
        Ok(Demo {
            fleet,
            yaml,
            dir,
            syslog: None,
        })
    }

    /// Start the fleet's syslog stream to the daemon's UDP receiver (its
    /// bound address): a round every poll interval, a scan every minute,
    /// sim-002's scans finding files.
    pub fn forward_syslog(&mut self, to: Option<SocketAddr>) {
        let Some(to) = to else { return };
        let stream = Stream {
            to: ForwardTo::Udp(to),
            interval: INTERVAL,
            scan_every: 12,
            faults: vec![(1, StreamFault::FilesFound)],
        };
        self.syslog = Some(stream.spawn(self.fleet.gateway_names()));
    }

    /// The configuration polling the fleet, for [`crate::daemon::Settings`].
    pub fn source(&self) -> SourceKind {
        SourceKind::Yaml {
            yaml: self.yaml.clone(),
            dir: self.dir.clone(),
        }
    }

    /// Stop the fleet.
    pub async fn shutdown(self) {
        if let Some(s) = &self.syslog {
            s.abort();
        }
        self.fleet.shutdown().await;
    }
}

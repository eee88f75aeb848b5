//! `--demo`: a simulated fleet started in-process, and the configuration
//! that polls it (given to the daemon as text, so the daemon itself knows
//! nothing of the simulator).

use crate::daemon::SourceKind;
use crate::sim::{Fleet, FleetOptions, SimKind};
use std::path::PathBuf;
use std::time::Duration;

/// Poll interval of the demo configuration.
const INTERVAL: Duration = Duration::from_secs(5);

/// A running demo fleet and its configuration.
#[derive(Debug)]
pub struct Demo {
    fleet: Fleet,
    yaml: String,
    dir: PathBuf,
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
        let yaml = fleet.config_yaml(fleet.ca_pem().map(|_| ca.as_path()), INTERVAL);
        tracing::info!(appliances = fleet.len(), "demo: simulated fleet started");
        Ok(Demo { fleet, yaml, dir })
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
        self.fleet.shutdown().await;
    }
}

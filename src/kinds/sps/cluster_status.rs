//! `GET /api/cluster/status` (on the Central Management node): every node
//! of the cluster with its health (null when the node is down), its
//! configuration sync status, when it was last seen, and its recorded
//! sessions. A node that is not in a cluster answers 404 (not applicable).

use super::health_status;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use serde_json::Value;

/// `oneidentity_sps_cluster_node_info`
pub static NODE_INFO: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_info",
    "A node of the SPS cluster (node = fqdn, node_id = key), value 1",
    &["node", "node_id"],
);
/// `oneidentity_sps_cluster_node_up`
pub static NODE_UP: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_up",
    "1 when the Central Management node has health data for the node (health_status not null)",
    &["node"],
);
/// `oneidentity_sps_cluster_node_sync_status`
pub static SYNC: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_sync_status",
    "Configuration sync status of the node as reported (status label, e.g. in sync, pending, n/a), value 1",
    &["node", "status"],
);
/// `oneidentity_sps_cluster_node_last_seen_timestamp_seconds`
pub static LAST_SEEN: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_last_seen_timestamp_seconds",
    "When the Central Management node last heard from the node (Unix time)",
    &["node"],
);
/// `oneidentity_sps_cluster_node_sync_warnings`
pub static WARNINGS: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_sync_warnings",
    "Warnings of the node's last configuration sync",
    &["node"],
);
/// `oneidentity_sps_cluster_node_memory_usage_ratio`
pub static NODE_MEMORY: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_memory_usage_ratio",
    "Memory usage of the node (percent / 100)",
    &["node"],
);
/// `oneidentity_sps_cluster_node_disk_usage_ratio`
pub static NODE_DISK: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_disk_usage_ratio",
    "Disk usage of the node (percent / 100)",
    &["node"],
);
/// `oneidentity_sps_cluster_node_load1`
pub static NODE_LOAD1: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_load1",
    "1-minute load average of the node",
    &["node"],
);
/// `oneidentity_sps_cluster_node_active_sessions`
pub static NODE_SESSIONS: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_active_sessions",
    "Sessions the node records now, by protocol",
    &["node", "protocol"],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[
    &NODE_INFO,
    &NODE_UP,
    &SYNC,
    &LAST_SEEN,
    &WARNINGS,
    &NODE_MEMORY,
    &NODE_DISK,
    &NODE_LOAD1,
    &NODE_SESSIONS,
];

/// One node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// `fqdn` (or `key` when there is none).
    pub name: String,
    /// `key`.
    pub id: String,
    /// `health_status`, when not null.
    pub health: Option<health_status::Health>,
    /// `sync_status`.
    pub sync_status: Option<String>,
    /// `last_seen`, Unix seconds.
    pub last_seen: Option<f64>,
    /// Number of `configuration_sync.issues.warnings`.
    pub warnings: Option<usize>,
}

/// Parse the response body.
pub fn parse(body: &[u8]) -> Result<Vec<Node>, ParseError> {
    let v: Value = parse_json(body)?;
    let items = v
        .get("items")
        .or_else(|| v.get("body").and_then(|b| b.get("items")))
        .ok_or(ParseError::Field("items"))?;
    let items: Vec<&Value> = match items {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![items],
        Value::Null => vec![],
        _ => return Err(ParseError::Field("items")),
    };
    let mut nodes: Vec<Node> = items
        .into_iter()
        .filter_map(Value::as_object)
        .map(|m| {
            let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
            let id = s("key").unwrap_or_default();
            Node {
                name: s("fqdn").filter(|f| !f.is_empty()).unwrap_or(id.clone()),
                id,
                health: m
                    .get("health_status")
                    .and_then(Value::as_object)
                    .map(health_status::from_object),
                sync_status: s("sync_status"),
                last_seen: s("last_seen")
                    .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs_f64()),
                warnings: m
                    .get("configuration_sync")
                    .and_then(|c| c.get("issues"))
                    .and_then(|i| i.get("warnings"))
                    .and_then(Value::as_array)
                    .map(Vec::len),
            }
        })
        .filter(|n| !n.name.is_empty())
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes.dedup_by(|a, b| a.name == b.name);
    Ok(nodes)
}

/// The series of one poll.
pub fn samples(nodes: &[Node], out: &mut Samples) {
    for n in nodes {
        out.push(&NODE_INFO, &[&n.name, &n.id], 1.0);
    }
    for n in nodes {
        out.push_bool(&NODE_UP, &[&n.name], n.health.is_some());
    }
    for n in nodes {
        if let Some(s) = &n.sync_status {
            out.push(&SYNC, &[&n.name, s], 1.0);
        }
    }
    for n in nodes {
        if let Some(t) = n.last_seen {
            out.push(&LAST_SEEN, &[&n.name], t);
        }
    }
    for n in nodes {
        if let Some(w) = n.warnings {
            out.push(&WARNINGS, &[&n.name], w as f64);
        }
    }
    let usage = |i: usize, n: &Node| n.health.as_ref().and_then(|h| h.usage[i]);
    for n in nodes {
        if let Some(v) = usage(1, n) {
            out.push(&NODE_MEMORY, &[&n.name], v / 100.0);
        }
    }
    for n in nodes {
        if let Some(v) = usage(2, n) {
            out.push(&NODE_DISK, &[&n.name], v / 100.0);
        }
    }
    for n in nodes {
        if let Some(v) = n.health.as_ref().and_then(|h| h.load[0]) {
            out.push(&NODE_LOAD1, &[&n.name], v);
        }
    }
    for n in nodes {
        for (p, c) in n.health.iter().flat_map(|h| h.sessions.iter()) {
            out.push(&NODE_SESSIONS, &[&n.name, p], *c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GUIDE: &[u8] = include_bytes!("../../../tests/fixtures/sps/api/cluster/status.json");

    #[test]
    fn the_guides_shape() {
        let nodes = parse(GUIDE).unwrap();
        assert_eq!(nodes.len(), 2);
        let down = &nodes[1];
        assert_eq!(down.name, "sps.example.com");
        assert!(down.health.is_none());
        let up = &nodes[0];
        assert_eq!(up.name, "managed-host.cluster");
        assert_eq!(up.sync_status.as_deref(), Some("pending"));
        assert_eq!(up.last_seen, Some(1_518_084_030.0));
        assert_eq!(up.warnings, Some(1));
        let mut out = Samples::new();
        samples(&nodes, &mut out);
        assert_eq!(
            out.value_of(
                "oneidentity_sps_cluster_node_up",
                "node=\"sps.example.com\""
            ),
            Some(0.0)
        );
        assert_eq!(
            out.value_of(
                "oneidentity_sps_cluster_node_active_sessions",
                "protocol=\"rdp\""
            ),
            Some(4.0)
        );
        assert_eq!(
            out.value_of("oneidentity_sps_cluster_node_memory_usage_ratio", ""),
            Some(0.625)
        );
    }

    #[test]
    fn odd_shapes() {
        assert_eq!(parse(b"{}").unwrap_err(), ParseError::Field("items"));
        assert!(parse(br#"{"items":null}"#).unwrap().is_empty());
        let one = parse(br#"{"items":{"key":"k1","health_status":{}}}"#).unwrap();
        assert_eq!(one[0].name, "k1");
        assert!(one[0].health.is_some());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(n) = parse(&b) {
                samples(&n, &mut Samples::new());
            }
        }
    }
}

//! `GET /api/cluster/status` (on the Central Management node): every node
//! of the cluster with its health, its configuration sync status, when it
//! was last seen, and its recorded sessions. A node that is not in a
//! cluster answers 404 (not applicable).
//!
//! The SPS REST API Reference Guide's sample (tests/fixtures/sps) shows the
//! node that answers the request (its `key` is the last path segment of
//! `meta.self`, `sync_status: "n/a"`, no `last_seen`) with
//! `health_status: null`: the answering node reports its own health at
//! `/api/health_status` (the `health_status` collector), not here. So a
//! null `health_status` alone does not mean down: the answering node is up
//! (it answered), and a member is down only when its `health_status` is
//! null and its `last_seen` is missing or older than [`STALE_AFTER`].

use super::health_status;
use super::SpsAppliance;
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{expect_ok, Collector, CollectorSpec};
use serde_json::Value;

/// A member with `health_status: null` whose `last_seen` is older than this
/// is down: 5 minutes, the alert's own `for:` window, well over 3 polls at
/// the default 60 s interval, and tolerant of a few minutes of clock skew.
pub const STALE_AFTER: f64 = 300.0;

/// `oneidentity_sps_cluster_node_info`
pub static NODE_INFO: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_info",
    "A node of the SPS cluster (node = fqdn, node_id = key), value 1",
    &["node", "node_id"],
);
/// `oneidentity_sps_cluster_node_up`
pub static NODE_UP: Desc = Desc::gauge(
    "oneidentity_sps_cluster_node_up",
    "1 unless the node is down: health_status null and last_seen missing or older than 5 minutes (the answering node is always up)",
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
    /// The node that answered (its `key` ends `meta.self`).
    pub answering: bool,
}

impl Node {
    /// Up: the answering node, a node with health data, or one seen within
    /// [`STALE_AFTER`] of `now` (Unix seconds).
    pub fn is_up(&self, now: f64) -> bool {
        self.answering
            || self.health.is_some()
            || self.last_seen.is_some_and(|t| now - t <= STALE_AFTER)
    }
}

/// The `key` of the answering node: the last path segment of `meta.self`.
fn self_key(v: &Value) -> Option<&str> {
    let meta = v.get("meta").or_else(|| v.get("body")?.get("meta"))?;
    let href = meta.get("self")?.as_str()?;
    href.trim_end_matches('/').rsplit('/').next()
}

/// Parse the response body.
pub fn parse(body: &[u8]) -> Result<Vec<Node>, ParseError> {
    let v: Value = parse_json(body)?;
    let me = self_key(&v).filter(|k| !k.is_empty());
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
            let sync_status = s("sync_status");
            // Without `meta.self`, the guide's marker of the answering node.
            let answering = match me {
                Some(k) => k == id,
                None => sync_status.as_deref() == Some("n/a"),
            };
            Node {
                answering,
                name: s("fqdn").filter(|f| !f.is_empty()).unwrap_or(id.clone()),
                id,
                health: m
                    .get("health_status")
                    .and_then(Value::as_object)
                    .map(health_status::from_object),
                sync_status,
                last_seen: s("last_seen").as_deref().and_then(timestamp),
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

/// The series of one poll; `now` is the exporter's clock (Unix seconds).
pub fn samples(nodes: &[Node], now: f64, out: &mut Samples) {
    for n in nodes {
        out.push(&NODE_INFO, &[&n.name, &n.id], 1.0);
    }
    for n in nodes {
        out.push_bool(&NODE_UP, &[&n.name], n.is_up(now));
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

/// The `cluster_status` collector.
pub(super) const COLLECTOR: Collector<SpsAppliance> = Collector {
    spec: CollectorSpec {
        name: "cluster_status",
        default_enabled: true,
        default_interval: None,
        endpoints: &["GET /api/cluster/status"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

async fn poll(a: &SpsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let resp = a.get("/api/cluster/status").await?;
    if resp.status == 404 {
        return Ok(()); // not in a cluster
    }
    let resp = expect_ok(resp)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    samples(&parse(&resp.body)?, now, out);
    Ok(())
}

/// An RFC 3339 time as Unix seconds: `Z` or a UTC offset (`+01:00`), or
/// no zone at all (read as UTC, as the guide's samples are).
fn timestamp(t: &str) -> Option<f64> {
    let t = t.trim();
    if let Ok(at) = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
        return Some(at.unix_timestamp_nanos() as f64 / 1e9);
    }
    humantime::parse_rfc3339_weak(t)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GUIDE: &[u8] = include_bytes!("../../../tests/fixtures/sps/api/cluster/status.json");

    /// The guide's sample, read an hour after its `last_seen`.
    const LATER: f64 = 1_518_084_030.0 + 3600.0;

    #[test]
    fn the_guides_shape() {
        let nodes = parse(GUIDE).unwrap();
        assert_eq!(nodes.len(), 2);
        let me = &nodes[1];
        assert_eq!(me.name, "sps.example.com");
        assert!(me.health.is_none() && me.last_seen.is_none());
        assert!(me.answering, "its key ends meta.self");
        let up = &nodes[0];
        assert_eq!(up.name, "managed-host.cluster");
        assert!(!up.answering);
        assert_eq!(up.sync_status.as_deref(), Some("pending"));
        assert_eq!(up.last_seen, Some(1_518_084_030.0));
        assert_eq!(up.warnings, Some(1));
        let mut out = Samples::new();
        samples(&nodes, LATER, &mut out);
        // The answering node's null health_status is not "down".
        for node in ["sps.example.com", "managed-host.cluster"] {
            let sel = format!("node=\"{node}\"");
            assert_eq!(
                out.value_of("oneidentity_sps_cluster_node_up", &sel),
                Some(1.0),
                "{node}"
            );
        }
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
    fn a_member_is_down_only_when_null_and_stale() {
        let member = |last_seen: &str| {
            format!(
                r#"{{"items":[{{"key":"me","fqdn":"cm","health_status":null,"sync_status":"n/a"}},
                {{"key":"m1","fqdn":"m1","health_status":null,"sync_status":"pending"{last_seen}}}],
                "meta":{{"self":"/api/cluster/status/me"}}}}"#
            )
        };
        let up_at = |body: String, now: f64| {
            let nodes = parse(body.as_bytes()).unwrap();
            let mut out = Samples::new();
            samples(&nodes, now, &mut out);
            let cm = out.value_of("oneidentity_sps_cluster_node_up", "node=\"cm\"");
            assert_eq!(cm, Some(1.0));
            out.value_of("oneidentity_sps_cluster_node_up", "node=\"m1\"")
        };
        // The same instant with a UTC offset, or with no zone (UTC).
        for same in [
            "2018-02-08T10:00:30Z",
            "2018-02-08T11:00:30+01:00",
            "2018-02-08T04:30:30-05:30",
            "2018-02-08T10:00:30",
        ] {
            assert_eq!(timestamp(same), Some(1_518_084_030.0), "{same}");
        }
        assert_eq!(timestamp("yesterday"), None);
        let seen = r#","last_seen":"2018-02-08T10:00:30Z""#;
        // 5 minutes after last_seen: still up; 5 minutes and 1 second: down.
        assert_eq!(up_at(member(seen), 1_518_084_030.0 + 300.0), Some(1.0));
        assert_eq!(up_at(member(seen), 1_518_084_030.0 + 301.0), Some(0.0));
        // Null health and never seen: down.
        assert_eq!(up_at(member(""), LATER), Some(0.0));
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
                samples(&n, LATER, &mut Samples::new());
            }
        }
    }
}

//! `GET /api/v1/cluster`: members, their status bit masks, and VIP owners.
//! A stand-alone appliance answers an error body or an empty object.

use super::lenient::{one_or_many, opt_bool, opt_string};
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use serde::Deserialize;
use serde_json::Value;

/// `ivanti_cluster_info`
pub static INFO: Desc = Desc::gauge(
    "ivanti_cluster_info",
    "Cluster the appliance belongs to (name) and its mode, value 1",
    &["cluster_name", "mode"],
);
/// `ivanti_cluster_member_enabled`
pub static ENABLED: Desc = Desc::gauge(
    "ivanti_cluster_member_enabled",
    "1 when the cluster member is enabled (members[].enabled)",
    &["member"],
);
/// `ivanti_cluster_member_reachable`
pub static REACHABLE: Desc = Desc::gauge(
    "ivanti_cluster_member_reachable",
    "0 when the member's status-code has bit 0x8 (unable to communicate), 1 otherwise",
    &["member"],
);
/// `ivanti_cluster_member_leader`
pub static LEADER: Desc = Desc::gauge(
    "ivanti_cluster_member_leader",
    "1 when the member's status-code has bit 0x8000 (leader of the cluster)",
    &["member"],
);
/// `ivanti_cluster_member_status_code`
pub static STATUS_CODE: Desc = Desc::gauge(
    "ivanti_cluster_member_status_code",
    "The member's raw status-code bit mask",
    &["member"],
);
/// `ivanti_cluster_member_status_flag`
pub static STATUS_FLAG: Desc = Desc::gauge(
    "ivanti_cluster_member_status_flag",
    "One series per known bit of the member's status-code, 0 or 1",
    &["member", "flag"],
);
/// `ivanti_cluster_vip_owner_info`
pub static VIP_OWNER: Desc = Desc::gauge(
    "ivanti_cluster_vip_owner_info",
    "Member owning each virtual IP (external-vip-owner, internal-vip-owner), value 1",
    &["vip", "address", "owner"],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[
    &INFO,
    &ENABLED,
    &REACHABLE,
    &LEADER,
    &STATUS_CODE,
    &STATUS_FLAG,
    &VIP_OWNER,
];

/// The status-code bits of the vendor's cluster status table.
pub static FLAGS: &[(u64, &str)] = &[
    (0x000001, "standalone"),
    (0x000002, "cluster_disabled"),
    (0x000004, "cluster_enabled"),
    (0x000008, "unreachable"),
    (0x000100, "syncing_from_peer"),
    (0x000200, "transitioning"),
    (0x000800, "int0_disconnected"),
    (0x001000, "member"),
    (0x002000, "vip_owner"),
    (0x004000, "initial_sync"),
    (0x008000, "leader"),
    (0x010000, "group_communication"),
    (0x020000, "int0_gateway_unreachable"),
    (0x040000, "int1_gateway_unreachable"),
    (0x080000, "leader_election"),
    (0x100000, "dsmon_busy"),
    (0x200000, "post_state_sync"),
];

/// A cluster as one member sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// `name`.
    pub name: String,
    /// `mode`.
    pub mode: String,
    /// `members`.
    pub members: Vec<Member>,
    /// Virtual IPs present.
    pub vips: Vec<Vip>,
}

/// One member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// `name`.
    pub name: String,
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `status-code`, decoded.
    pub status_code: Option<u64>,
    /// `notes` (free text; not published).
    pub notes: Option<String>,
}

/// A virtual IP and its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Vip {
    /// `external_ipv4`, `internal_ipv4`, `external_ipv6`, `internal_ipv6`.
    pub vip: &'static str,
    /// The address.
    pub address: String,
    /// The owning member.
    pub owner: String,
}

#[derive(Deserialize)]
struct RawMember {
    #[serde(default, deserialize_with = "opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    enabled: Option<bool>,
    #[serde(rename = "status-code", default)]
    status_code: Option<Value>,
    #[serde(default, deserialize_with = "opt_string")]
    notes: Option<String>,
}

/// Decode `"0x1b004"`, `"1b004"`, `"110596"` or `110596`.
pub fn status_code(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                u64::from_str_radix(hex, 16).ok()
            } else if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
                // Ambiguous without a prefix; the vendor writes hex with 0x,
                // so plain digits are read as decimal.
                s.parse().ok()
            } else {
                u64::from_str_radix(s, 16).ok()
            }
        }
        _ => None,
    }
}

/// Parse. `Ok(None)` when the appliance is not in a cluster.
pub fn parse(body: &[u8]) -> Result<Option<Cluster>, ParseError> {
    let v: Value = parse_json(body)?;
    let Value::Object(m) = v else {
        return Err(ParseError::Json("expected a JSON object".into()));
    };
    let Some(raw_members) = m.get("members") else {
        return Ok(None);
    };
    let raw: Vec<RawMember> = one_or_many(raw_members.clone()).unwrap_or_default();
    let members: Vec<Member> = raw
        .into_iter()
        .filter_map(|r| {
            Some(Member {
                name: r.name.filter(|n| !n.is_empty())?,
                enabled: r.enabled,
                status_code: r.status_code.as_ref().and_then(status_code),
                notes: r.notes,
            })
        })
        .collect();
    if members.is_empty() {
        return Ok(None);
    }
    let text = |k: &str| match m.get(k) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let mut vips = Vec::new();
    for (vip, addr_key, owner_key) in [
        ("external_ipv4", "external-vip-ipv4", "external-vip-owner"),
        ("internal_ipv4", "internal-vip-ipv4", "internal-vip-owner"),
        (
            "external_ipv6",
            "external-vip-ipv6",
            "external-vip-ipv6-owner",
        ),
        (
            "internal_ipv6",
            "internal-vip-ipv6",
            "internal-vip-ipv6-owner",
        ),
    ] {
        let address = text(addr_key);
        if !address.is_empty() {
            vips.push(Vip {
                vip,
                address,
                owner: text(owner_key),
            });
        }
    }
    Ok(Some(Cluster {
        name: text("name"),
        mode: text("mode"),
        members,
        vips,
    }))
}

/// The series of one poll.
pub fn samples(c: &Cluster, out: &mut Samples) {
    out.push(&INFO, &[&c.name, &c.mode], 1.0);
    for m in &c.members {
        let name = m.name.as_str();
        if let Some(e) = m.enabled {
            out.push_bool(&ENABLED, &[name], e);
        }
        if let Some(code) = m.status_code {
            out.push_bool(&REACHABLE, &[name], code & 0x8 == 0);
            out.push_bool(&LEADER, &[name], code & 0x8000 != 0);
            out.push(&STATUS_CODE, &[name], code as f64);
            for (bit, flag) in FLAGS {
                out.push_bool(&STATUS_FLAG, &[name, flag], code & bit != 0);
            }
        }
    }
    for v in &c.vips {
        out.push(&VIP_OWNER, &[v.vip, &v.address, &v.owner], 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AA: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/cluster__active-active.json");
    const AP: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/cluster__active-passive.json");
    const STANDALONE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/cluster__standalone-error.json");

    #[test]
    fn active_passive_with_vips() {
        let c = parse(AP).unwrap().unwrap();
        assert_eq!(
            (c.name.as_str(), c.mode.as_str()),
            ("TEST-CLUSTER", "Active/Passive")
        );
        assert_eq!(c.members[0].status_code, Some(0x1b004));
        let mut out = Samples::new();
        samples(&c, &mut out);
        let leader = "member=\"node-51-39\"";
        let peer = "member=\"Node-something\"";
        assert_eq!(
            out.value_of("ivanti_cluster_member_leader", leader),
            Some(1.0)
        );
        assert_eq!(
            out.value_of("ivanti_cluster_member_reachable", leader),
            Some(1.0)
        );
        assert_eq!(
            out.value_of("ivanti_cluster_member_reachable", peer),
            Some(0.0)
        );
        assert_eq!(
            out.value_of("ivanti_cluster_member_leader", peer),
            Some(0.0)
        );
        assert_eq!(
            out.value_of("ivanti_cluster_member_status_code", leader),
            Some(110596.0)
        );
        // 0x1b004: group communication, leader, VIP owner, member, enabled.
        let on: Vec<&str> = FLAGS
            .iter()
            .filter(|(_, f)| {
                out.value_of(
                    "ivanti_cluster_member_status_flag",
                    &format!("{leader},flag=\"{f}\""),
                ) == Some(1.0)
            })
            .map(|(_, f)| *f)
            .collect();
        assert_eq!(
            on,
            [
                "cluster_enabled",
                "member",
                "vip_owner",
                "leader",
                "group_communication"
            ]
        );
        assert_eq!(
            out.value_of(
                "ivanti_cluster_vip_owner_info",
                "vip=\"external_ipv4\",address=\"10.204.56.76\",owner=\"node-51-39\""
            ),
            Some(1.0)
        );
        assert_eq!(
            out.value_of(
                "ivanti_cluster_info",
                "cluster_name=\"TEST-CLUSTER\",mode=\"Active/Passive\""
            ),
            Some(1.0)
        );
    }

    #[test]
    fn active_active_without_vips() {
        let c = parse(AA).unwrap().unwrap();
        assert!(c.vips.is_empty());
        assert_eq!(c.members.len(), 2);
        let mut out = Samples::new();
        samples(&c, &mut out);
        assert_eq!(
            out.value_of("ivanti_cluster_member_reachable", "member=\"node225\""),
            Some(0.0)
        );
        assert_eq!(
            out.value_of("ivanti_cluster_member_leader", "member=\"nodeA\""),
            Some(1.0)
        );
        assert_eq!(
            out.value_of("ivanti_cluster_member_enabled", "member=\"nodeA\""),
            Some(1.0)
        );
    }

    #[test]
    fn standalone_shapes() {
        assert_eq!(parse(STANDALONE), Ok(None));
        assert_eq!(parse(b"{}"), Ok(None));
        assert_eq!(parse(br#"{"members": []}"#), Ok(None));
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
    }

    #[test]
    fn status_code_forms() {
        for (v, want) in [
            (serde_json::json!("0x18"), Some(0x18)),
            (serde_json::json!("1b004"), Some(0x1b004)),
            (serde_json::json!(24), Some(24)),
            (serde_json::json!("nope"), None),
            (serde_json::json!(null), None),
        ] {
            assert_eq!(status_code(&v), want, "{v}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some(c)) = parse(&b) {
                samples(&c, &mut Samples::new());
            }
        }

        #[test]
        fn arbitrary_members_never_panic(name in ".{0,10}", code in ".{0,10}", n in any::<i64>()) {
            let body = serde_json::json!({"name": name, "members": [{"name": name, "status-code": code}, {"name": "x", "status-code": n, "enabled": "YES"}, 5]});
            if let Ok(Some(c)) = parse(body.to_string().as_bytes()) {
                samples(&c, &mut Samples::new());
            }
        }
    }
}

//! `GET /api/v1/cluster`: members, their status bit masks, and VIP owners.
//! A stand-alone appliance answers an error body or an empty object.

use super::lenient::{one_or_many, opt_bool, opt_string};
use super::{lenient, IcsAppliance};
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
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

/// Decode `"0x1b004"`, `"1b004"`, `"110596"`, `110596` or `110596.0`.
/// Digits without a `0x` prefix are read as decimal (the vendor writes hex
/// with the prefix); anything with a letter a-f is read as hex.
pub fn status_code(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 9.0e15)
                .map(|f| f as u64)
        }),
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
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    // The guide shows only the IPv4 keys. The IPv6 ones are a guess by
    // analogy; without their own owner key, the side's owner is used (in
    // Active/Passive one node owns all the VIPs).
    let mut vips = Vec::new();
    for (vip, addr_key, owner_keys) in [
        (
            "external_ipv4",
            "external-vip-ipv4",
            &["external-vip-owner"][..],
        ),
        (
            "internal_ipv4",
            "internal-vip-ipv4",
            &["internal-vip-owner"][..],
        ),
        (
            "external_ipv6",
            "external-vip-ipv6",
            &["external-vip-ipv6-owner", "external-vip-owner"][..],
        ),
        (
            "internal_ipv6",
            "internal-vip-ipv6",
            &["internal-vip-ipv6-owner", "internal-vip-owner"][..],
        ),
    ] {
        let address = text(addr_key);
        if !address.is_empty() {
            let owner = owner_keys
                .iter()
                .map(|k| text(k))
                .find(|o| !o.is_empty())
                .unwrap_or_default();
            vips.push(Vip {
                vip,
                address,
                owner,
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

/// The `cluster` collector.
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "cluster",
        default_enabled: true,
        default_interval: None,
        endpoints: &["GET /api/v1/cluster"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

const CLUSTER: &str = "/api/v1/cluster";

/// A stand-alone box answers 404, 400 with an error body, or an empty
/// object: not applicable, asked again only every hour (like any
/// optional area, [`IcsAppliance::get_optional`]).
async fn poll(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let standalone = |r: &crate::client::ApiResponse| {
        r.status == 400 && lenient::api_error_message(&r.body).is_some()
    };
    let Some(resp) = a.get_optional(CLUSTER, standalone).await? else {
        return Ok(());
    };
    match parse(&resp.body)? {
        Some(c) => samples(&c, out),
        None => a.mark_not_applicable(CLUSTER),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::lenient::testing::{arb_json, lines};
    use super::*;
    use proptest::prelude::*;

    const AA: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/cluster__active-active.json");
    const AP: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/cluster__active-passive.json");
    const HOSTILE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/cluster__hostile-single-member.json");
    const STANDALONE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/cluster__standalone-error.json");
    const STANDALONE_EMPTY: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/cluster__standalone-empty.json");

    /// The series other than the per-bit flags, and per member the flags that are set.
    fn render(c: &Cluster) -> (Vec<String>, Vec<(String, Vec<&'static str>)>) {
        let mut out = Samples::new();
        samples(c, &mut out);
        let (flags, rest): (Vec<String>, Vec<String>) = lines(&out)
            .into_iter()
            .partition(|l| l.starts_with("ivanti_cluster_member_status_flag{"));
        let set = c
            .members
            .iter()
            .map(|m| {
                let mut label = String::new();
                crate::exposition::push_label(&mut label, "member", &m.name);
                let mine: Vec<&String> = flags
                    .iter()
                    .filter(|l| l.contains(&format!("{{{label},flag=")))
                    .collect();
                assert_eq!(mine.len(), FLAGS.len(), "one series per flag for {label}");
                let on = FLAGS
                    .iter()
                    .filter(|(_, f)| {
                        mine.iter()
                            .any(|l| l.ends_with(&format!("flag=\"{f}\"}} 1")))
                    })
                    .map(|(_, f)| *f)
                    .collect();
                (m.name.clone(), on)
            })
            .collect();
        (rest, set)
    }

    #[test]
    fn flags_cover_the_vendor_table() {
        let bits: Vec<u64> = FLAGS.iter().map(|(b, _)| *b).collect();
        assert_eq!(
            bits,
            [
                0x1, 0x2, 0x4, 0x8, 0x100, 0x200, 0x800, 0x1000, 0x2000, 0x4000, 0x8000, 0x10000,
                0x20000, 0x40000, 0x80000, 0x100000, 0x200000
            ]
        );
        assert!(FLAGS.iter().all(|(b, _)| b.count_ones() == 1));
    }

    #[test]
    fn active_passive_with_vips() {
        let c = parse(AP).unwrap().unwrap();
        assert_eq!(c.members[0].notes.as_deref(), Some("Leader"));
        let (rest, flags) = render(&c);
        assert_eq!(
            rest,
            [
                r#"ivanti_cluster_info{cluster_name="TEST-CLUSTER",mode="Active/Passive"} 1"#,
                r#"ivanti_cluster_member_enabled{member="node-51-39"} 1"#,
                r#"ivanti_cluster_member_reachable{member="node-51-39"} 1"#,
                r#"ivanti_cluster_member_leader{member="node-51-39"} 1"#,
                r#"ivanti_cluster_member_status_code{member="node-51-39"} 110596"#,
                r#"ivanti_cluster_member_enabled{member="Node-something"} 1"#,
                r#"ivanti_cluster_member_reachable{member="Node-something"} 0"#,
                r#"ivanti_cluster_member_leader{member="Node-something"} 0"#,
                r#"ivanti_cluster_member_status_code{member="Node-something"} 24"#,
                r#"ivanti_cluster_vip_owner_info{vip="external_ipv4",address="10.204.56.76",owner="node-51-39"} 1"#,
                r#"ivanti_cluster_vip_owner_info{vip="internal_ipv4",address="10.204.56.75",owner="node-51-39"} 1"#,
            ]
        );
        assert_eq!(
            flags,
            [
                (
                    "node-51-39".to_owned(),
                    // 0x1b004: a healthy leader.
                    vec![
                        "cluster_enabled",
                        "member",
                        "vip_owner",
                        "leader",
                        "group_communication"
                    ]
                ),
                // 0x18: unreachable (0x10 is not in the table).
                ("Node-something".to_owned(), vec!["unreachable"]),
            ]
        );
    }

    #[test]
    fn active_active_without_vips() {
        let c = parse(AA).unwrap().unwrap();
        assert!(c.vips.is_empty());
        let (rest, flags) = render(&c);
        assert_eq!(
            rest,
            [
                r#"ivanti_cluster_info{cluster_name="cluster1",mode="Active/Active"} 1"#,
                r#"ivanti_cluster_member_enabled{member="node225"} 1"#,
                r#"ivanti_cluster_member_reachable{member="node225"} 0"#,
                r#"ivanti_cluster_member_leader{member="node225"} 0"#,
                r#"ivanti_cluster_member_status_code{member="node225"} 24"#,
                r#"ivanti_cluster_member_enabled{member="nodeA"} 1"#,
                r#"ivanti_cluster_member_reachable{member="nodeA"} 1"#,
                r#"ivanti_cluster_member_leader{member="nodeA"} 1"#,
                r#"ivanti_cluster_member_status_code{member="nodeA"} 102404"#,
            ]
        );
        assert_eq!(
            flags[1].1,
            ["cluster_enabled", "member", "leader", "group_communication"]
        );
    }

    #[test]
    fn single_member_object_with_hostile_names() {
        let c = parse(HOSTILE).unwrap().unwrap();
        assert_eq!(c.members.len(), 1);
        assert_eq!(c.members[0].name, "nöde \"1\"\\a\nb");
        let (rest, flags) = render(&c);
        assert_eq!(
            rest,
            [
                r#"ivanti_cluster_info{cluster_name="Clüster \"Ost\"",mode="Active/Passive"} 1"#,
                r#"ivanti_cluster_member_enabled{member="nöde \"1\"\\a\nb"} 1"#,
                r#"ivanti_cluster_member_reachable{member="nöde \"1\"\\a\nb"} 1"#,
                r#"ivanti_cluster_member_leader{member="nöde \"1\"\\a\nb"} 1"#,
                r#"ivanti_cluster_member_status_code{member="nöde \"1\"\\a\nb"} 110596"#,
                // The empty external VIP is left out.
                r#"ivanti_cluster_vip_owner_info{vip="internal_ipv4",address="10.0.0.10",owner="nöde \"1\"\\a\nb"} 1"#,
            ]
        );
        assert_eq!(flags[0].1.len(), 5);
    }

    #[test]
    fn members_without_status_code_or_name() {
        let c = parse(
            br#"{"name": "c", "mode": "Active/Active", "members": [
                {"name": "a", "enabled": "NO"}, {"enabled": true}, {"name": "", "status-code": "0x4"},
                {"name": "b", "status-code": "garbage"}]}"#,
        )
        .unwrap()
        .unwrap();
        let mut out = Samples::new();
        samples(&c, &mut out);
        assert_eq!(
            lines(&out),
            [
                r#"ivanti_cluster_info{cluster_name="c",mode="Active/Active"} 1"#,
                r#"ivanti_cluster_member_enabled{member="a"} 0"#,
            ]
        );
    }

    #[test]
    fn ipv6_vips_fall_back_to_the_sides_owner() {
        let c = parse(
            br#"{"name": "c", "mode": "Active/Passive", "members": [{"name": "n1"}],
                "external-vip-ipv4": "192.0.2.1", "external-vip-owner": "n1",
                "external-vip-ipv6": "2001:db8::1", "internal-vip-ipv6": "2001:db8::2",
                "internal-vip-ipv6-owner": "n2"}"#,
        )
        .unwrap()
        .unwrap();
        let vips: Vec<_> = c
            .vips
            .iter()
            .map(|v| (v.vip, v.address.as_str(), v.owner.as_str()))
            .collect();
        assert_eq!(
            vips,
            [
                ("external_ipv4", "192.0.2.1", "n1"),
                ("external_ipv6", "2001:db8::1", "n1"),
                ("internal_ipv6", "2001:db8::2", "n2"),
            ]
        );
    }

    #[test]
    fn standalone_shapes() {
        assert_eq!(parse(STANDALONE), Ok(None));
        assert_eq!(parse(STANDALONE_EMPTY), Ok(None));
        assert_eq!(parse(br#"{"members": []}"#), Ok(None));
        assert_eq!(parse(br#"{"members": ""}"#), Ok(None));
        assert_eq!(parse(br#"{"members": null}"#), Ok(None));
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
        assert!(matches!(parse(b"[]"), Err(ParseError::Json(_))));
        assert!(matches!(parse(&AP[..40]), Err(ParseError::Json(_))));
    }

    #[test]
    fn status_code_forms() {
        for (v, want) in [
            (serde_json::json!("0x18"), Some(0x18)),
            (serde_json::json!("0X1B004"), Some(0x1b004)),
            (serde_json::json!(" 0x1b004 "), Some(0x1b004)),
            (serde_json::json!("1b004"), Some(0x1b004)),
            (serde_json::json!("110596"), Some(110596)),
            (serde_json::json!(24), Some(24)),
            (serde_json::json!(24.0), Some(24)),
            (serde_json::json!(-1), None),
            (serde_json::json!(2.5), None),
            (serde_json::json!("0x"), None),
            (serde_json::json!(""), None),
            (serde_json::json!("nope"), None),
            (serde_json::json!("0xffffffffffffffffff"), None),
            (serde_json::json!(null), None),
            (serde_json::json!(["0x18"]), None),
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
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json()) {
            for body in [
                v.clone(),
                serde_json::json!({"members": v, "name": w}),
                serde_json::json!({"members": [{"name": "n", "status-code": v, "enabled": w}], "external-vip-ipv4": w, "mode": v}),
            ] {
                if let Ok(Some(c)) = parse(body.to_string().as_bytes()) {
                    prop_assert!(!c.members.is_empty());
                    samples(&c, &mut Samples::new());
                }
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

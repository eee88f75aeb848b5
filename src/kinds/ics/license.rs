//! `GET /api/v1/license/license-server-lease-information` (license servers)
//! and `GET /api/v1/license/named-users`. Named users are only counted.

use super::lenient::{one_or_many, opt_f64, opt_object, opt_string};
use super::IcsAppliance;
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
use serde::Deserialize;
use serde_json::Value;

/// `ivanti_license_server_leased`
pub static TOTAL: Desc = Desc::gauge(
    "ivanti_license_server_leased",
    "Licenses of the feature leased out by this license server in all: total-count, the sum of its clients' leased-count (not a capacity)",
    &["feature"],
);
/// `ivanti_license_leased`
pub static LEASED: Desc = Desc::gauge(
    "ivanti_license_leased",
    "Licenses of the feature leased to each client appliance (leased-count)",
    &["feature", "client"],
);
/// `ivanti_named_users`
pub static NAMED_USERS: Desc = Desc::gauge(
    "ivanti_named_users",
    "Named users listed by /api/v1/license/named-users, per product (pcs, pps, or local)",
    &["product"],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[&TOTAL, &LEASED, &NAMED_USERS];

/// Lease information of a license server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Leases {
    /// Per feature.
    pub features: Vec<Feature>,
}

/// One licensed feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// `name`.
    pub name: String,
    /// `total-count`.
    pub total: Option<f64>,
    /// (client name, leased count).
    pub clients: Vec<(String, f64)>,
}

// Every wrapper object may also arrive as `""`, `[]` or null when empty.
#[derive(Deserialize)]
struct LeaseBody {
    #[serde(
        rename = "leased-license-counts",
        default,
        deserialize_with = "opt_object"
    )]
    counts: Option<Counts>,
}
#[derive(Deserialize)]
struct Counts {
    #[serde(default, deserialize_with = "opt_object")]
    features: Option<Features>,
}
#[derive(Deserialize)]
struct Features {
    #[serde(default, deserialize_with = "one_or_many")]
    feature: Vec<RawFeature>,
}
#[derive(Deserialize)]
struct RawFeature {
    #[serde(default, deserialize_with = "opt_string")]
    name: Option<String>,
    #[serde(rename = "total-count", default, deserialize_with = "opt_f64")]
    total: Option<f64>,
    #[serde(default, deserialize_with = "opt_object")]
    clients: Option<Clients>,
}
#[derive(Deserialize)]
struct Clients {
    #[serde(rename = "client-info", default, deserialize_with = "one_or_many")]
    info: Vec<RawClient>,
}
#[derive(Deserialize)]
struct RawClient {
    #[serde(default, deserialize_with = "opt_string")]
    name: Option<String>,
    #[serde(rename = "leased-count", default, deserialize_with = "opt_f64")]
    leased: Option<f64>,
}

/// Parse lease information (`leased-license-counts` is required). Features
/// without a name and clients without a name or count are left out.
pub fn parse_leases(body: &[u8]) -> Result<Leases, ParseError> {
    let b: LeaseBody = parse_json(body)?;
    let counts = b.counts.ok_or(ParseError::Field("leased-license-counts"))?;
    let features = counts
        .features
        .map(|f| f.feature)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| {
            Some(Feature {
                name: f.name.filter(|n| !n.is_empty())?,
                total: f.total,
                clients: f
                    .clients
                    .map(|c| c.info)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| Some((c.name?, c.leased?)))
                    .collect(),
            })
        })
        .collect();
    Ok(Leases { features })
}

fn list_len(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Array(a) => Some(a.len() as u64),
        Value::Object(o) if o.is_empty() => Some(0),
        Value::Object(_) => Some(1),
        Value::Null => Some(0),
        Value::String(s) if s.trim().is_empty() => Some(0),
        _ => None,
    }
}

/// Parse named users into (product, count): `{"named-users": [...]}` gives
/// `local`; a license server's `{"pcs": {...}, "pps": {...}}` gives one per product.
pub fn parse_named_users(body: &[u8]) -> Result<Vec<(String, u64)>, ParseError> {
    let v: Value = parse_json(body)?;
    let Value::Object(m) = v else {
        return Err(ParseError::Json("expected a JSON object".into()));
    };
    if m.contains_key("named-users") {
        let n = list_len(m.get("named-users")).ok_or(ParseError::Field("named-users"))?;
        return Ok(vec![("local".into(), n)]);
    }
    let mut out = Vec::new();
    for (product, inner) in &m {
        if let Some(n) = list_len(inner.get("named-users")) {
            out.push((product.clone(), n));
        }
    }
    if out.is_empty() {
        return Err(ParseError::Field("named-users"));
    }
    out.sort();
    Ok(out)
}

/// The series of one poll.
pub fn samples(leases: Option<&Leases>, named_users: Option<&[(String, u64)]>, out: &mut Samples) {
    if let Some(l) = leases {
        for f in &l.features {
            if let Some(t) = f.total {
                out.push(&TOTAL, &[&f.name], t);
            }
            for (client, n) in &f.clients {
                out.push(&LEASED, &[&f.name, client], *n);
            }
        }
    }
    for (product, n) in named_users.unwrap_or_default() {
        out.push(&NAMED_USERS, &[product], *n as f64);
    }
}

/// The `license` collector.
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "license",
        default_enabled: true,
        default_interval: super::SLOW,
        endpoints: &[
            "GET /api/v1/license/license-server-lease-information",
            "GET /api/v1/license/named-users",
        ],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

async fn poll(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let leases = a
        .get_optional("/api/v1/license/license-server-lease-information", |_| {
            false
        })
        .await?
        .map(|r| parse_leases(&r.body))
        .transpose()?;
    let named = a
        .get_optional("/api/v1/license/named-users", |_| false)
        .await?
        .map(|r| parse_named_users(&r.body))
        .transpose()?;
    samples(leases.as_ref(), named.as_deref(), out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::lenient::testing::{arb_json, lines};
    use super::*;
    use proptest::prelude::*;

    const INTENDED: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/license/license-server-lease-information__intended.json"
    );
    const BROKEN: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/license/license-server-lease-information__guide-broken.json"
    );
    const HOSTILE: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/license/license-server-lease-information__single-objects-hostile.json"
    );
    const NAMED: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/license/named-users.json");
    const NAMED_SERVER: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/license/named-users__license-server.json"
    );
    const NAMED_PPS: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/license/named-users/pps.json");

    fn render(leases: Option<&Leases>, named: Option<&[(String, u64)]>) -> Vec<String> {
        let mut out = Samples::new();
        samples(leases, named, &mut out);
        lines(&out)
    }

    #[test]
    fn intended_lease_shape() {
        let l = parse_leases(INTENDED).unwrap();
        assert_eq!(
            render(Some(&l), None),
            [
                r#"ivanti_license_server_leased{feature="Advanced Mobile License - Onboarding"} 0"#,
                r#"ivanti_license_leased{feature="Advanced Mobile License - Onboarding",client="client1"} 0"#,
                r#"ivanti_license_server_leased{feature="Concurrent Users"} 200"#,
                r#"ivanti_license_leased{feature="Concurrent Users",client="client1"} 200"#,
                r#"ivanti_license_leased{feature="Concurrent Users",client="client2"} 0"#,
            ]
        );
    }

    #[test]
    fn the_guides_broken_sample_is_a_parse_error() {
        // A stray `]` and an unterminated `signature` string, verbatim.
        assert!(matches!(parse_leases(BROKEN), Err(ParseError::Json(_))));
    }

    #[test]
    fn single_objects_strings_and_hostile_names() {
        let l = parse_leases(HOSTILE).unwrap();
        assert_eq!(l.features.len(), 3, "the nameless feature is left out");
        assert_eq!(
            render(Some(&l), None),
            [
                r#"ivanti_license_server_leased{feature="Concurrent Users\nÜber"} 500"#,
                r#"ivanti_license_leased{feature="Concurrent Users\nÜber",client="vpn \"fra\"\\1"} 150"#,
                r#"ivanti_license_server_leased{feature="Named Users"} 10"#,
            ]
        );
    }

    #[test]
    fn lease_shapes() {
        for body in [
            r#"{"leased-license-counts": {}}"#,
            r#"{"leased-license-counts": {"features": ""}}"#,
            r#"{"leased-license-counts": {"features": {"feature": []}}}"#,
            r#"{"leased-license-counts": {"features": {"feature": null}}}"#,
        ] {
            assert_eq!(
                parse_leases(body.as_bytes()),
                Ok(Leases::default()),
                "{body}"
            );
        }
        for body in [r#"{}"#, r#"{"leased-license-counts": ""}"#] {
            assert_eq!(
                parse_leases(body.as_bytes()),
                Err(ParseError::Field("leased-license-counts"))
            );
        }
        assert_eq!(parse_leases(b"<html>"), Err(ParseError::Html));
    }

    #[test]
    fn named_users_every_form_counted_never_kept() {
        let local = parse_named_users(NAMED).unwrap();
        assert_eq!(local, [("local".to_owned(), 4)]);
        let server = parse_named_users(NAMED_SERVER).unwrap();
        assert_eq!(server, [("pcs".to_owned(), 4), ("pps".to_owned(), 1)]);
        // /named-users/pps has the stand-alone shape.
        assert_eq!(
            parse_named_users(NAMED_PPS).unwrap(),
            [("local".to_owned(), 2)]
        );
        let out = render(None, Some(&server));
        assert_eq!(
            out,
            [
                r#"ivanti_named_users{product="pcs"} 4"#,
                r#"ivanti_named_users{product="pps"} 1"#,
            ]
        );
        let all = format!("{local:?}{server:?}{out:?}");
        assert!(!all.contains("dev1") && !all.contains("test1"));
    }

    #[test]
    fn named_users_shapes() {
        for (body, want) in [
            (r#"{"named-users": []}"#, vec![("local", 0)]),
            (r#"{"named-users": {}}"#, vec![("local", 0)]),
            (r#"{"named-users": ""}"#, vec![("local", 0)]),
            (r#"{"named-users": null}"#, vec![("local", 0)]),
            (r#"{"named-users": {"User": "x"}}"#, vec![("local", 1)]),
            (
                r#"{"pps": {"named-users": ""}, "pcs": {"named-users": [{}, {}]}, "x": 1}"#,
                vec![("pcs", 2), ("pps", 0)],
            ),
        ] {
            let want: Vec<(String, u64)> = want.into_iter().map(|(p, n)| (p.into(), n)).collect();
            assert_eq!(parse_named_users(body.as_bytes()), Ok(want), "{body}");
        }
        assert_eq!(
            parse_named_users(b"{}"),
            Err(ParseError::Field("named-users"))
        );
        assert_eq!(
            parse_named_users(br#"{"named-users": 3}"#),
            Err(ParseError::Field("named-users"))
        );
        assert!(matches!(parse_named_users(b"[]"), Err(ParseError::Json(_))));
        assert_eq!(parse_named_users(b"<html>"), Err(ParseError::Html));
    }

    #[test]
    fn nothing_to_publish() {
        assert!(render(None, None).is_empty());
        assert!(render(Some(&Leases::default()), Some(&[])).is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_leases(&b);
            let _ = parse_named_users(&b);
        }

        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json()) {
            for body in [
                v.clone(),
                serde_json::json!({"leased-license-counts": v}),
                serde_json::json!({"leased-license-counts": {"features": {"feature": [v, {"name": "f", "total-count": w, "clients": v}]}}}),
                serde_json::json!({"leased-license-counts": {"features": {"feature": {"name": w, "clients": {"client-info": [v, w]}}}}}),
            ] {
                let leases = parse_leases(body.to_string().as_bytes()).ok();
                samples(leases.as_ref(), None, &mut Samples::new());
            }
            for body in [v.clone(), serde_json::json!({"named-users": v}), serde_json::json!({"pcs": v, "pps": {"named-users": w}})] {
                let named = parse_named_users(body.to_string().as_bytes()).ok();
                samples(None, named.as_deref(), &mut Samples::new());
            }
        }
    }
}

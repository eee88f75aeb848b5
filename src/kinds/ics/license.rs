//! `GET /api/v1/license/license-server-lease-information` (license servers)
//! and `GET /api/v1/license/named-users`. Named users are only counted.

use super::lenient::{one_or_many, opt_f64, opt_string};
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use serde::Deserialize;
use serde_json::Value;

/// `ivanti_license_capacity`
pub static TOTAL: Desc = Desc::gauge(
    "ivanti_license_capacity",
    "Licenses of the feature held by this license server (total-count)",
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

#[derive(Deserialize)]
struct LeaseBody {
    #[serde(rename = "leased-license-counts")]
    counts: Option<Counts>,
}
#[derive(Deserialize)]
struct Counts {
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

/// Parse lease information.
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INTENDED: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/license/license-server-lease-information__intended.json"
    );
    const BROKEN: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/license/license-server-lease-information__guide-broken.json"
    );
    const NAMED: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/license/named-users.json");
    const NAMED_SERVER: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/license/named-users__license-server.json"
    );

    #[test]
    fn intended_lease_shape() {
        let l = parse_leases(INTENDED).unwrap();
        assert_eq!(l.features.len(), 2);
        let mut out = Samples::new();
        samples(Some(&l), None, &mut out);
        assert_eq!(
            out.value_of("ivanti_license_capacity", "feature=\"Concurrent Users\""),
            Some(200.0)
        );
        assert_eq!(
            out.value_of(
                "ivanti_license_leased",
                "feature=\"Concurrent Users\",client=\"client1\""
            ),
            Some(200.0)
        );
        assert_eq!(
            out.value_of(
                "ivanti_license_leased",
                "feature=\"Concurrent Users\",client=\"client2\""
            ),
            Some(0.0)
        );
        assert_eq!(out.len(), 2 + 3);
    }

    #[test]
    fn the_guides_broken_sample_is_a_parse_error() {
        assert!(matches!(parse_leases(BROKEN), Err(ParseError::Json(_))));
    }

    #[test]
    fn named_users_both_forms() {
        assert_eq!(
            parse_named_users(NAMED).unwrap(),
            vec![("local".to_owned(), 1)]
        );
        assert_eq!(
            parse_named_users(NAMED_SERVER).unwrap(),
            vec![("pcs".to_owned(), 2), ("pps".to_owned(), 0)]
        );
        let mut out = Samples::new();
        let named = parse_named_users(NAMED_SERVER).unwrap();
        samples(None, Some(&named), &mut out);
        assert_eq!(
            out.value_of("ivanti_named_users", "product=\"pcs\""),
            Some(2.0)
        );
        assert!(!format!("{out:?}").contains("dev1"));
        assert!(parse_named_users(b"{}").is_err());
        assert_eq!(parse_named_users(b"<html>"), Err(ParseError::Html));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_leases(&b);
            let _ = parse_named_users(&b);
        }
    }
}

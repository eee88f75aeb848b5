//! `GET /api/v2/devices` (device counts) and `GET /api/v2/device_spaces`.
//!
//! Counts come from `totalCount` of searches with `limit=1`, so a poll reads
//! one device record per query, never the whole inventory. The V2 guide
//! documents `results`, `totalCount`, `resultCount` and `hasMore`; numbers
//! given as strings are accepted.
//!
//! Device statuses: the values the Ivanti EPMM V2 API guide documents for a
//! device's `common.status` ([`STATUSES`]; `statusCode` adds `BLOCKED` and
//! `RETIRE_PENDING`, which are not `common.status` values). There is no
//! `PENDING`: a device waiting to register is `VERIFICATION_PENDING`.
//! Queries name fields bare (`common.status = "ACTIVE"`), the form public
//! EPMM API clients use; the Ivanti EPMM V2 API guide documents no
//! quoted field names.

use super::EpmmAppliance;
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::lenient::value_f64;
use crate::kinds::{expect_ok, Collector, CollectorSpec};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

/// `ivanti_epmm_devices`
pub static DEVICES: Desc = Desc::gauge(
    "ivanti_epmm_devices",
    "Devices registered in EPMM (totalCount of an empty query)",
    &[],
);
/// `ivanti_epmm_devices_by_status`
pub static BY_STATUS: Desc = Desc::gauge(
    "ivanti_epmm_devices_by_status",
    "Devices with a given common.status (one series per status the EPMM V2 API guide documents)",
    &["status"],
);
/// `ivanti_epmm_devices_by_platform`
pub static BY_PLATFORM: Desc = Desc::gauge(
    "ivanti_epmm_devices_by_platform",
    "Active devices by common.platform (iOS, Android, Windows, macOS)",
    &["platform"],
);
/// `ivanti_epmm_devices_noncompliant`
pub static NONCOMPLIANT: Desc = Desc::gauge(
    "ivanti_epmm_devices_noncompliant",
    "Active devices EPMM reports as not compliant (common.compliant = false)",
    &[],
);
/// `ivanti_epmm_device_space_devices`
pub static SPACE_DEVICES: Desc = Desc::gauge(
    "ivanti_epmm_device_space_devices",
    "Devices in a device space (deviceCount)",
    &["space"],
);

/// Families of the `devices` collector.
pub static METRICS: &[&Desc] = &[&DEVICES, &BY_STATUS, &BY_PLATFORM, &NONCOMPLIANT];
/// Families of the `device_spaces` collector.
pub static SPACE_METRICS: &[&Desc] = &[&SPACE_DEVICES];

/// Statuses counted: every `common.status` value the V2 API guide documents.
pub const STATUSES: &[&str] = &[
    "ACTIVE",
    "IENROLL_VERIFIED",
    "IENROLL_INPROGRESS",
    "IENROLL_COMPLETE",
    "INFECTED",
    "LOST",
    "RETIRED",
    "VERIFIED",
    "VERIFICATION_PENDING",
    "EXPIRED",
    "WIPED",
];
/// Platforms counted (among active devices).
pub const PLATFORMS: &[&str] = &["iOS", "Android", "Windows", "macOS"];

/// One count query: the series it feeds and its `query=` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountQuery {
    /// Which family.
    pub desc: &'static Desc,
    /// Its label value (empty when the family has no label).
    pub label: &'static str,
    /// The EPMM search expression.
    pub query: String,
}

/// Every count query of one poll.
pub fn count_queries() -> Vec<CountQuery> {
    let mut v = vec![CountQuery {
        desc: &DEVICES,
        label: "",
        query: String::new(),
    }];
    for s in STATUSES {
        v.push(CountQuery {
            desc: &BY_STATUS,
            label: s,
            query: format!("common.status = \"{s}\""),
        });
    }
    for p in PLATFORMS {
        v.push(CountQuery {
            desc: &BY_PLATFORM,
            label: p,
            query: format!("common.status = \"ACTIVE\" AND common.platform = \"{p}\""),
        });
    }
    v.push(CountQuery {
        desc: &NONCOMPLIANT,
        label: "",
        query: "common.status = \"ACTIVE\" AND common.compliant = false".into(),
    });
    v
}

/// `totalCount` of a search answer.
pub fn parse_total(body: &[u8]) -> Result<f64, ParseError> {
    let v: Value = parse_json(body)?;
    v.get("totalCount")
        .and_then(value_f64)
        .filter(|n| *n >= 0.0)
        .ok_or(ParseError::Field("totalCount"))
}

/// The device spaces: (name, deviceCount).
pub fn parse_spaces(body: &[u8]) -> Result<Vec<(String, f64)>, ParseError> {
    let v: Value = parse_json(body)?;
    let results = match v.get("results") {
        Some(Value::Array(a)) => a.as_slice(),
        Some(Value::Null) => &[],
        _ => return Err(ParseError::Field("results")),
    };
    let mut spaces: Vec<(String, f64)> = results
        .iter()
        .filter_map(|s| {
            let name = match s.get("name")? {
                Value::String(n) => n.clone(),
                other => value_f64(other)?.to_string(),
            };
            Some((name, s.get("deviceCount").and_then(value_f64)?))
        })
        .collect();
    spaces.sort_by(|a, b| a.0.cmp(&b.0));
    spaces.dedup_by(|a, b| a.0 == b.0);
    Ok(spaces)
}

/// Series of the `device_spaces` collector.
pub fn space_samples(spaces: &[(String, f64)], out: &mut Samples) {
    for (name, n) in spaces {
        out.push(&SPACE_DEVICES, &[name], *n);
    }
}

/// Series of one count.
pub fn count_sample(q: &CountQuery, total: f64, out: &mut Samples) {
    if q.desc.labels.is_empty() {
        out.push(q.desc, &[], total);
    } else {
        out.push(q.desc, &[q.label], total);
    }
}

/// A query parameter's value, percent-encoded (RFC 3986 unreserved
/// characters stay as they are).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The `devices` collector: one count query per status.
pub(super) const DEVICES_COLLECTOR: Collector<EpmmAppliance> = Collector {
    spec: CollectorSpec {
        name: "devices",
        default_enabled: true,
        default_interval: SLOW,
        endpoints: &["GET /api/v2/devices?adminDeviceSpaceId=N&query=Q&fields=common.uuid&limit=1"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll_devices(a, out)),
};

/// The `device_spaces` collector.
pub(super) const SPACES: Collector<EpmmAppliance> = Collector {
    spec: CollectorSpec {
        name: "device_spaces",
        default_enabled: true,
        default_interval: SLOW,
        endpoints: &["GET /api/v2/device_spaces?adminDeviceSpaceId=N"],
        metrics: SPACE_METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll_spaces(a, out)),
};

const SLOW: Option<std::time::Duration> = Some(std::time::Duration::from_secs(300));

async fn poll_devices(a: &EpmmAppliance, out: &mut Samples) -> Result<(), CollectError> {
    for q in count_queries() {
        let path = format!(
            "/api/v2/devices?adminDeviceSpaceId={}&query={}&fields=common.uuid&limit=1&offset=0",
            a.space,
            utf8_percent_encode(&q.query, QUERY_VALUE)
        );
        let resp = expect_ok(a.get(&path).await?)?;
        count_sample(&q, parse_total(&resp.body)?, out);
    }
    Ok(())
}

async fn poll_spaces(a: &EpmmAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let path = format!(
        "/api/v2/device_spaces?adminDeviceSpaceId={}&limit=10000&offset=0",
        a.space
    );
    let resp = a.get(&path).await?;
    if resp.status == 403 {
        // The role to list device spaces is optional.
        return Ok(());
    }
    let resp = expect_ok(resp)?;
    space_samples(&parse_spaces(&resp.body)?, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEVICES_JSON: &[u8] = include_bytes!("../../../tests/fixtures/epmm/api/v2/devices.json");
    const SPACES_JSON: &[u8] =
        include_bytes!("../../../tests/fixtures/epmm/api/v2/device_spaces.json");

    #[test]
    fn counts_and_spaces() {
        assert_eq!(parse_total(DEVICES_JSON).unwrap(), 1342.0);
        assert_eq!(parse_total(br#"{"totalCount":"7"}"#).unwrap(), 7.0);
        assert_eq!(
            parse_total(br#"{"results":[]}"#).unwrap_err(),
            ParseError::Field("totalCount")
        );
        let spaces = parse_spaces(SPACES_JSON).unwrap();
        assert_eq!(
            spaces,
            vec![("Contractors".into(), 142.0), ("Global".into(), 1200.0)]
        );
        let q = count_queries();
        assert_eq!(q.len(), 1 + STATUSES.len() + PLATFORMS.len() + 1);
        assert_eq!(q[9].query, r#"common.status = "VERIFICATION_PENDING""#);
        assert_eq!(
            q[12].query,
            r#"common.status = "ACTIVE" AND common.platform = "iOS""#
        );
        assert!(
            q.iter().all(|q| !q.query.contains("\"common.")),
            "bare field names"
        );
        let mut out = Samples::new();
        for (i, q) in q.iter().enumerate() {
            count_sample(q, i as f64, &mut out);
        }
        assert_eq!(
            out.value_of("ivanti_epmm_devices_by_platform", "platform=\"iOS\""),
            Some(12.0)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_total(&b);
            if let Ok(s) = parse_spaces(&b) {
                space_samples(&s, &mut Samples::new());
            }
        }
    }
}

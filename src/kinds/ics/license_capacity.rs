//! `GET /api/v1/system/user-stats`: concurrent users against the licensed
//! capacity. Not in the vendor's guide; the shape is a public client's
//! (shared/ics-api.md): `{"user-stats": {"allocated-user-count",
//! "current-user-count", "max-active-user-count-24hrs"}}`, strings.

use super::lenient::{opt_f64, opt_object};
use super::IcsAppliance;
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
use serde::Deserialize;
use std::time::Duration;

/// `ivanti_license_allocated_users`
pub static ALLOCATED: Desc = Desc::gauge(
    "ivanti_license_allocated_users",
    "Concurrent users the appliance is licensed for (user-stats allocated-user-count)",
    &[],
);
/// `ivanti_license_current_users`
pub static CURRENT: Desc = Desc::gauge(
    "ivanti_license_current_users",
    "Concurrent users counted against the license now (user-stats current-user-count)",
    &[],
);
/// `ivanti_license_peak_users_24h`
pub static PEAK: Desc = Desc::gauge(
    "ivanti_license_peak_users_24h",
    "Most concurrent users in the last 24 hours (user-stats max-active-user-count-24hrs)",
    &[],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[&ALLOCATED, &CURRENT, &PEAK];

/// The three counts (each may be missing or unreadable).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UserStats {
    /// `allocated-user-count`.
    #[serde(rename = "allocated-user-count", default, deserialize_with = "opt_f64")]
    pub allocated: Option<f64>,
    /// `current-user-count`.
    #[serde(rename = "current-user-count", default, deserialize_with = "opt_f64")]
    pub current: Option<f64>,
    /// `max-active-user-count-24hrs`.
    #[serde(
        rename = "max-active-user-count-24hrs",
        default,
        deserialize_with = "opt_f64"
    )]
    pub peak_24h: Option<f64>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "user-stats", default, deserialize_with = "opt_object")]
    stats: Option<UserStats>,
}

/// Parse; `user-stats` is required (an object, possibly empty).
pub fn parse(body: &[u8]) -> Result<UserStats, ParseError> {
    let b: Body = parse_json(body)?;
    b.stats.ok_or(ParseError::Field("user-stats"))
}

/// The series of one poll; a negative count (a "not available" marker) is left out.
pub fn samples(s: &UserStats, out: &mut Samples) {
    for (desc, v) in [
        (&ALLOCATED, s.allocated),
        (&CURRENT, s.current),
        (&PEAK, s.peak_24h),
    ] {
        if let Some(v) = v.filter(|v| *v >= 0.0) {
            out.push(desc, &[], v);
        }
    }
}

const PATH: &str = "/api/v1/system/user-stats";

/// The `license_capacity` collector: every minute (one small request).
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "license_capacity",
        default_enabled: true,
        default_interval: Some(Duration::from_secs(60)),
        endpoints: &["GET /api/v1/system/user-stats"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

async fn poll(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    a.poll_optional(PATH, parse, samples, out).await
}

#[cfg(test)]
mod tests {
    use super::super::lenient::testing::{arb_json, lines};
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/user-stats.json");
    const NUMBERS: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/user-stats__numbers-partial.json"
    );

    fn render(s: &UserStats) -> Vec<String> {
        let mut out = Samples::new();
        samples(s, &mut out);
        lines(&out)
    }

    #[test]
    fn the_public_clients_shape_strings() {
        let s = parse(SAMPLE).unwrap();
        assert_eq!(
            render(&s),
            [
                "ivanti_license_allocated_users 2500",
                "ivanti_license_current_users 2261",
                "ivanti_license_peak_users_24h 2398",
            ]
        );
    }

    #[test]
    fn numbers_and_a_missing_or_unavailable_count() {
        // allocated as a number, current "-1" (not available), no peak.
        let s = parse(NUMBERS).unwrap();
        assert_eq!(render(&s), ["ivanti_license_allocated_users 100"]);
    }

    #[test]
    fn shapes() {
        assert_eq!(parse(br#"{"user-stats": {}}"#), Ok(UserStats::default()));
        assert_eq!(
            parse(br#"{"user-stats": ""}"#),
            Err(ParseError::Field("user-stats"))
        );
        assert_eq!(parse(b"{}"), Err(ParseError::Field("user-stats")));
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(v in arb_json()) {
            for body in [v.clone(), serde_json::json!({"user-stats": v}), serde_json::json!({"user-stats": {"current-user-count": v}})] {
                if let Ok(s) = parse(body.to_string().as_bytes()) {
                    samples(&s, &mut Samples::new());
                }
            }
        }
    }
}

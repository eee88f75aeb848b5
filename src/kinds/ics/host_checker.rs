//! `GET /api/v1/configuration/authentication/endpoint/host-checker/esaps?expand`
//! (the guide's "Getting Config Without Ivanti Client Packages" sample,
//! seeds/000): the host checker (ESAP) packages, the active and the
//! default version, and per package `esap-version`, `last-activated-time`
//! (`"Sun 17 Mar 2019 23:54:12 PDT"` or `"Never"`) and `upload-time`.
//! A configuration API call: the admin role needs read access to the
//! configuration (README, appliance set-up).

use super::lenient::{one_or_many, opt_string};
use super::{clock, IcsAppliance};
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
use serde::Deserialize;
use std::time::Duration;

/// `ivanti_esap_info`
pub static INFO: Desc = Desc::gauge(
    "ivanti_esap_info",
    "Host checker (ESAP) package versions: the active one and the default, value 1",
    &["active_version", "default_version"],
);
/// `ivanti_esap_activated_timestamp_seconds`
pub static ACTIVATED: Desc = Desc::gauge(
    "ivanti_esap_activated_timestamp_seconds",
    "Unix time the active host checker (ESAP) package was last activated (last-activated-time; a zone the exporter does not know is read as UTC)",
    &[],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[&INFO, &ACTIVATED];

/// The host checker packages.
#[derive(Debug, Clone, PartialEq)]
pub struct Esaps {
    /// `active-version`.
    pub active: String,
    /// `default-version`.
    pub default: String,
    /// When the active package was last activated (Unix seconds), if the
    /// list says and the date reads.
    pub activated: Option<f64>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "active-version", default, deserialize_with = "opt_string")]
    active: Option<String>,
    #[serde(rename = "default-version", default, deserialize_with = "opt_string")]
    default: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    esap: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    #[serde(rename = "esap-version", default, deserialize_with = "opt_string")]
    version: Option<String>,
    #[serde(
        rename = "last-activated-time",
        default,
        deserialize_with = "opt_string"
    )]
    activated: Option<String>,
}

/// Parse; `active-version` is required.
pub fn parse(body: &[u8]) -> Result<Esaps, ParseError> {
    let b: Body = parse_json(body)?;
    let active = b
        .active
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or(ParseError::Field("active-version"))?;
    let activated = b
        .esap
        .iter()
        .find(|p| p.version.as_deref().map(str::trim) == Some(active.as_str()))
        .and_then(|p| p.activated.as_deref())
        .and_then(clock::parse)
        .map(|d| d.unix);
    Ok(Esaps {
        default: b.default.map(|s| s.trim().to_owned()).unwrap_or_default(),
        active,
        activated,
    })
}

/// The series of one poll.
pub fn samples(e: &Esaps, out: &mut Samples) {
    out.push(&INFO, &[&e.active, &e.default], 1.0);
    if let Some(t) = e.activated {
        out.push(&ACTIVATED, &[], t);
    }
}

const PATH: &str = "/api/v1/configuration/authentication/endpoint/host-checker/esaps?expand";

/// The `host_checker` collector: hourly, off by default (the admin role
/// needs configuration read rights).
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "host_checker",
        default_enabled: false,
        default_interval: Some(Duration::from_secs(3600)),
        endpoints: &["GET /api/v1/configuration/authentication/endpoint/host-checker/esaps?expand"],
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

    const GUIDE: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/configuration/authentication/endpoint/host-checker/esaps__expand.json"
    );
    const NEVER: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/configuration/authentication/endpoint/host-checker/esaps__expand__single-object-never.json"
    );

    #[test]
    fn the_guides_sample() {
        let e = parse(GUIDE).unwrap();
        let mut out = Samples::new();
        samples(&e, &mut out);
        assert_eq!(
            lines(&out),
            [
                r#"ivanti_esap_info{active_version="3.3.5",default_version="3.3.5"} 1"#,
                // Sun 17 Mar 2019 23:54:12 PDT = 2019-03-18T06:54:12Z.
                "ivanti_esap_activated_timestamp_seconds 1552892052",
            ]
        );
    }

    #[test]
    fn never_activated_and_a_single_object() {
        let e = parse(NEVER).unwrap();
        assert_eq!(
            e,
            Esaps {
                active: "4.3.1".into(),
                default: "4.2.9".into(),
                activated: None
            }
        );
    }

    #[test]
    fn shapes() {
        assert_eq!(parse(b"{}"), Err(ParseError::Field("active-version")));
        assert_eq!(
            parse(br#"{"active-version": " "}"#),
            Err(ParseError::Field("active-version"))
        );
        let e = parse(br#"{"active-version": 4, "esap": null}"#).unwrap();
        assert_eq!(
            (e.active.as_str(), e.default.as_str(), e.activated),
            ("4", "", None)
        );
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json()) {
            for body in [v.clone(), serde_json::json!({"active-version": "1", "esap": [v, {"esap-version": "1", "last-activated-time": w}]})] {
                if let Ok(e) = parse(body.to_string().as_bytes()) {
                    samples(&e, &mut Samples::new());
                }
            }
        }
    }
}

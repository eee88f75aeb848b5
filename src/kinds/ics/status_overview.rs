//! `GET /api/v1/system/status/overview`: not in the vendor's guide; the
//! shape is a public Go client's (shared/ics-api.md): `uptime {days, hours,
//! minutes, seconds}`, `last-config-update` (a string, or `{"device":
//! ...}`), `system-date-and-time`, `cluster-member-status[]` (not read
//! here: the cluster collector has it).
//!
//! Boot time is the appliance's own clock minus its uptime, in whole
//! seconds, and held while new readings stay within [`BOOT_JITTER`] of the
//! published one, so it is the same number from poll to poll (uptime and
//! clock are printed to the second, not read at the same instant). Clock
//! skew is the appliance's clock minus the exporter's at the middle of the
//! request. A date without a zone the exporter knows is placed by the
//! nearest quarter-hour offset from the exporter's clock; then no skew
//! is published (it would only be known modulo 15 minutes).

use super::lenient::{opt_f64, opt_object, opt_string};
use super::{clock, IcsAppliance};
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
use serde::Deserialize;
use serde_json::Value;
use std::time::SystemTime;

/// `ivanti_boot_time_seconds`
pub static BOOT_TIME: Desc = Desc::gauge(
    "ivanti_boot_time_seconds",
    "Unix time the appliance booted: its clock (system-date-and-time) minus its uptime, stable between polls",
    &[],
);
/// `ivanti_last_config_change_timestamp_seconds`
pub static LAST_CONFIG_CHANGE: Desc = Desc::gauge(
    "ivanti_last_config_change_timestamp_seconds",
    "Unix time of the appliance's last configuration change (last-config-update)",
    &[],
);
/// `ivanti_clock_skew_seconds`
pub static CLOCK_SKEW: Desc = Desc::gauge(
    "ivanti_clock_skew_seconds",
    "The appliance's clock minus the exporter's at the middle of the request (system-date-and-time; 1 s resolution)",
    &[],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[&BOOT_TIME, &LAST_CONFIG_CHANGE, &CLOCK_SKEW];

/// Readings within this many seconds of the published boot time keep it.
pub const BOOT_JITTER: f64 = 5.0;

/// What the overview says.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// Uptime in seconds.
    pub uptime: Option<f64>,
    /// `system-date-and-time`.
    pub date: Option<clock::ApplianceDate>,
    /// `last-config-update`.
    pub last_config: Option<clock::ApplianceDate>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default, deserialize_with = "opt_object")]
    uptime: Option<Uptime>,
    #[serde(rename = "last-config-update", default)]
    last_config: Option<Value>,
    #[serde(
        rename = "system-date-and-time",
        default,
        deserialize_with = "opt_string"
    )]
    date: Option<String>,
}

#[derive(Deserialize)]
struct Uptime {
    #[serde(default, deserialize_with = "opt_f64")]
    days: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    hours: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    minutes: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64")]
    seconds: Option<f64>,
}

/// Parse; anything may be missing (then its series is).
pub fn parse(body: &[u8]) -> Result<Overview, ParseError> {
    let b: Body = parse_json(body)?;
    let uptime = b.uptime.and_then(|u| {
        let parts = [
            (u.days, 86_400.0),
            (u.hours, 3600.0),
            (u.minutes, 60.0),
            (u.seconds, 1.0),
        ];
        if parts.iter().all(|(v, _)| v.is_none()) {
            return None;
        }
        let secs: f64 = parts.iter().map(|(v, k)| v.unwrap_or(0.0) * k).sum();
        (secs >= 0.0).then_some(secs)
    });
    let last_config = match &b.last_config {
        Some(Value::String(s)) => clock::parse(s),
        Some(Value::Object(m)) => m
            .get("device")
            .and_then(Value::as_str)
            .and_then(clock::parse),
        _ => None,
    };
    Ok(Overview {
        uptime,
        date: b.date.as_deref().and_then(clock::parse),
        last_config,
    })
}

/// The series of one poll. `sent` and `received` are the exporter's Unix
/// times around the request; `boot` is the boot time published last, and
/// is updated.
pub fn samples(o: &Overview, sent: f64, received: f64, boot: &mut Option<f64>, out: &mut Samples) {
    let mid = sent + (received - sent) / 2.0;
    // The date's zone offset: printed, or the nearest quarter hour.
    let offset = o.date.map(|d| match d.offset {
        Some(_) => 0.0,
        None => ((d.unix - mid) / 900.0).round() * 900.0,
    });
    if let (Some(d), Some(off), Some(up)) = (o.date, offset, o.uptime) {
        let raw = (d.unix - off - up).round();
        let stable = match *boot {
            Some(prev) if (raw - prev).abs() <= BOOT_JITTER => prev,
            _ => raw,
        };
        *boot = Some(stable);
        out.push(&BOOT_TIME, &[], stable);
    }
    if let Some(c) = o.last_config {
        let t = match (c.offset, offset) {
            (Some(_), _) => Some(c.unix),
            (None, Some(off)) => Some(c.unix - off),
            (None, None) => None,
        };
        if let Some(t) = t {
            out.push(&LAST_CONFIG_CHANGE, &[], t);
        }
    }
    if let Some(t) = o.date.and_then(|d| d.known()) {
        out.push(&CLOCK_SKEW, &[], t - mid);
    }
}

const PATH: &str = "/api/v1/system/status/overview";

/// The `status_overview` collector, every 5 minutes; off by default (not
/// in the vendor's guide).
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "status_overview",
        default_enabled: false,
        default_interval: super::SLOW,
        endpoints: &["GET /api/v1/system/status/overview"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

async fn poll(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let sent = unix_now();
    let Some(resp) = a.get_optional(PATH, |_| false).await? else {
        return Ok(());
    };
    let received = unix_now();
    let overview = parse(&resp.body)?;
    let mut boot = a.boot_time.lock().unwrap_or_else(|p| p.into_inner());
    samples(&overview, sent, received, &mut boot, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::lenient::testing::{arb_json, lines};
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/status/overview.json");
    const LOCAL: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/status/overview__strings-local-zone.json"
    );
    /// 2026-12-05T10:00:30Z, the sample's system-date-and-time.
    const APPLIANCE_NOW: f64 = 1_796_464_830.0;

    fn render(body: &[u8], sent: f64, received: f64, boot: &mut Option<f64>) -> Vec<String> {
        let mut out = Samples::new();
        samples(&parse(body).unwrap(), sent, received, boot, &mut out);
        lines(&out)
    }

    #[test]
    fn boot_time_config_change_and_skew() {
        // The exporter sent at appliance time - 12.4 s and heard back 0.8 s
        // later: its middle is 12.0 s behind the appliance.
        let sent = APPLIANCE_NOW - 12.4;
        let mut boot = None;
        assert_eq!(
            render(SAMPLE, sent, sent + 0.8, &mut boot),
            [
                // 12 d 3 h 4 min 5 s = 1,047,845 s before the appliance's now.
                "ivanti_boot_time_seconds 1795416985",
                // Tue 01 Dec 2026 16:20:00 UTC
                "ivanti_last_config_change_timestamp_seconds 1796142000",
                "ivanti_clock_skew_seconds 12",
            ]
        );
        assert_eq!(boot, Some(1_795_416_985.0));
    }

    #[test]
    fn boot_time_holds_through_jitter_and_moves_on_a_reboot() {
        let mut boot = Some(1_795_416_983.0);
        let at = |o: Overview, boot: &mut Option<f64>| {
            let mut out = Samples::new();
            samples(&o, APPLIANCE_NOW, APPLIANCE_NOW, boot, &mut out);
            out.value_of("ivanti_boot_time_seconds", "")
        };
        let o = parse(SAMPLE).unwrap();
        // 2 s off the published value: the published value stays.
        assert_eq!(at(o.clone(), &mut boot), Some(1_795_416_983.0));
        // A reboot: uptime of 10 minutes.
        let rebooted = Overview {
            uptime: Some(600.0),
            ..o
        };
        assert_eq!(at(rebooted, &mut boot), Some(APPLIANCE_NOW - 600.0));
        assert_eq!(boot, Some(APPLIANCE_NOW - 600.0));
    }

    #[test]
    fn a_zone_given_by_name_and_strings() {
        // Sat Dec 5 02:00:30 PST 2026 is the same instant; uptime 1 h as strings;
        // the exporter is 0.5 s ahead.
        let mut boot = None;
        let sent = APPLIANCE_NOW + 0.5;
        assert_eq!(
            render(LOCAL, sent, sent, &mut boot),
            [
                "ivanti_boot_time_seconds 1796461230",
                // Tue Dec 1 08:20:00 PST 2026 = 16:20:00 UTC.
                "ivanti_last_config_change_timestamp_seconds 1796142000",
                "ivanti_clock_skew_seconds -0.5",
            ]
        );
    }

    #[test]
    fn an_unknown_zone_is_placed_by_the_quarter_hour_and_gives_no_skew() {
        // India (IST, ambiguous, +05:30): the wall time reads 5.5 h ahead
        // of UTC, the appliance 20 s ahead of the exporter.
        let body = br#"{"system-date-and-time": "Sat 05 Dec 2026 15:30:50 IST",
                       "last-config-update": {"device": "Sat 05 Dec 2026 15:00:00 IST"},
                       "uptime": {"days": 0, "hours": 0, "minutes": 30, "seconds": 0}}"#;
        let mut boot = None;
        let exporter = APPLIANCE_NOW;
        assert_eq!(
            render(body, exporter, exporter, &mut boot),
            [
                // 10:00:50Z - 30 min
                "ivanti_boot_time_seconds 1796463050",
                // 15:00:00 IST = 09:30:00Z
                "ivanti_last_config_change_timestamp_seconds 1796463000",
            ]
        );
    }

    #[test]
    fn shapes() {
        let o = parse(b"{}").unwrap();
        assert_eq!((o.uptime, o.date, o.last_config), (None, None, None));
        let mut out = Samples::new();
        samples(&o, 1.0, 2.0, &mut None, &mut out);
        assert!(out.is_empty());
        let o =
            parse(br#"{"uptime": "", "system-date-and-time": "Never", "last-config-update": 7}"#)
                .unwrap();
        assert_eq!((o.uptime, o.date, o.last_config), (None, None, None));
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json()) {
            for body in [v.clone(), serde_json::json!({"uptime": v, "system-date-and-time": w, "last-config-update": {"device": v}})] {
                if let Ok(o) = parse(body.to_string().as_bytes()) {
                    samples(&o, 0.0, 1.0, &mut None, &mut Samples::new());
                }
            }
        }
    }
}

//! `GET /api/v1/system/system-information`: model, host name, firmware,
//! serial number and machine id (missing on older firmware).

use super::lenient::{opt_object, opt_string};
use super::{expect_ok, IcsAppliance};
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
use serde::Deserialize;

/// `ivanti_system_info`
pub static INFO: Desc = Desc::gauge(
    "ivanti_system_info",
    "Hardware model, host name, OS name and version, serial number and machine id from system-information, value 1",
    &[
        "hardware_model",
        "host_name",
        "os_name",
        "os_version",
        "serial_number",
        "machine_id",
    ],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[&INFO];

/// The `system-information` object; missing fields are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SystemInfo {
    /// `hardware-model`.
    #[serde(rename = "hardware-model", default, deserialize_with = "string")]
    pub hardware_model: String,
    /// `host-name`.
    #[serde(rename = "host-name", default, deserialize_with = "string")]
    pub host_name: String,
    /// `os-name`.
    #[serde(rename = "os-name", default, deserialize_with = "string")]
    pub os_name: String,
    /// `os-version`.
    #[serde(rename = "os-version", default, deserialize_with = "string")]
    pub os_version: String,
    /// `serial-number`.
    #[serde(rename = "serial-number", default, deserialize_with = "string")]
    pub serial_number: String,
    /// `machine-id`.
    #[serde(rename = "machine-id", default, deserialize_with = "string")]
    pub machine_id: String,
}

fn string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string(d).map(Option::unwrap_or_default)
}

#[derive(Deserialize)]
struct Body {
    /// `""`, `[]` or null count as missing.
    #[serde(
        rename = "system-information",
        default,
        deserialize_with = "opt_object"
    )]
    info: Option<SystemInfo>,
}

/// Parse; the `system-information` object is required.
pub fn parse(body: &[u8]) -> Result<SystemInfo, ParseError> {
    let b: Body = parse_json(body)?;
    b.info.ok_or(ParseError::Field("system-information"))
}

/// The series of one poll.
pub fn samples(s: &SystemInfo, out: &mut Samples) {
    out.push(
        &INFO,
        &[
            &s.hardware_model,
            &s.host_name,
            &s.os_name,
            &s.os_version,
            &s.serial_number,
            &s.machine_id,
        ],
        1.0,
    );
}

/// The `system_information` collector.
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "system_information",
        default_enabled: true,
        default_interval: super::SLOW,
        endpoints: &["GET /api/v1/system/system-information"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

async fn poll(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let resp = expect_ok(a.get_authed("/api/v1/system/system-information").await?)?;
    let info = parse(&resp.body)?;
    samples(&info, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::lenient::testing::{arb_json, lines};
    use super::*;
    use proptest::prelude::*;

    const GUIDE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/system-information.json");
    const GUIDE_9_1R4: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/system-information__9.1R4-no-machine-id.json"
    );
    const OLD: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/system-information__old-firmware.json"
    );

    fn render(s: &SystemInfo) -> Vec<String> {
        let mut out = Samples::new();
        samples(s, &mut out);
        lines(&out)
    }

    #[test]
    fn guide_sample() {
        let s = parse(GUIDE).unwrap();
        assert_eq!(
            render(&s),
            [concat!(
                r#"ivanti_system_info{hardware_model="PSA-3000",host_name="node1",os_name="ive-sa","#,
                r#"os_version="9.1R7",serial_number="0312022017100103",machine_id="0312MB24A0EZ504VS"} 1"#
            )]
        );
    }

    #[test]
    fn guide_sample_without_machine_id() {
        let s = parse(GUIDE_9_1R4).unwrap();
        assert_eq!(
            render(&s),
            [concat!(
                r#"ivanti_system_info{hardware_model="PSA5000-V",host_name="localhost2",os_name="ive-sa","#,
                r#"os_version="9.1R4",serial_number="VASPHJPEG824R1U0S",machine_id=""} 1"#
            )]
        );
    }

    #[test]
    fn old_firmware_numbers_and_quotes() {
        let s = parse(OLD).unwrap();
        assert_eq!(
            render(&s),
            [concat!(
                r#"ivanti_system_info{hardware_model="MAG-2600",host_name="gw\"old\"",os_name="ive-sa","#,
                r#"os_version="8.3R7",serial_number="12345",machine_id=""} 1"#
            )]
        );
    }

    #[test]
    fn shapes() {
        for body in [
            "{}",
            r#"{"system-information": null}"#,
            r#"{"system-information": ""}"#,
            r#"{"system-information": []}"#,
        ] {
            assert_eq!(
                parse(body.as_bytes()),
                Err(ParseError::Field("system-information")),
                "{body}"
            );
        }
        assert_eq!(
            parse(br#"{"system-information": {"host-name": null, "os-name": {"x": 1}}}"#),
            Ok(SystemInfo::default())
        );
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
        assert!(parse(b"[]").is_err());
        assert!(matches!(parse(b"\"x\""), Err(ParseError::Json(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(s) = parse(&b) {
                samples(&s, &mut Samples::new());
            }
        }

        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json()) {
            for body in [
                v.clone(),
                serde_json::json!({"system-information": v}),
                serde_json::json!({"system-information": {"host-name": v, "machine-id": w, "cluster-node": v}}),
            ] {
                if let Ok(s) = parse(body.to_string().as_bytes()) {
                    samples(&s, &mut Samples::new());
                }
            }
            // Any value in a field is accepted: it is a string or empty.
            let body = serde_json::json!({"system-information": {"host-name": v, "serial-number": w}});
            prop_assert!(parse(body.to_string().as_bytes()).is_ok());
        }
    }
}

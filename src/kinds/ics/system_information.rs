//! `GET /api/v1/system/system-information`: model, host name, firmware,
//! serial number and machine id (missing on older firmware).

use super::lenient::opt_string;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
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
    #[serde(rename = "system-information")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GUIDE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/system-information.json");
    const OLD: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/system-information__old-firmware.json"
    );

    #[test]
    fn guide_sample() {
        let s = parse(GUIDE).unwrap();
        let mut out = Samples::new();
        samples(&s, &mut out);
        assert_eq!(
            &*out.series()[0].labels,
            "hardware_model=\"PSA-3000\",host_name=\"node1\",os_name=\"ive-sa\",os_version=\"9.1R7\",serial_number=\"0312022017100103\",machine_id=\"0312MB24A0EZ504VS\""
        );
    }

    #[test]
    fn old_firmware_without_machine_id() {
        let s = parse(OLD).unwrap();
        assert_eq!(s.machine_id, "");
        assert_eq!(s.serial_number, "12345");
        assert_eq!(s.host_name, "gw\"old\"");
        assert_eq!(parse(b"{}"), Err(ParseError::Field("system-information")));
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(s) = parse(&b) {
                samples(&s, &mut Samples::new());
            }
        }
    }
}

//! `GET /api/v1/system/system-information`: model, host name, firmware,
//! serial number and machine id (missing on older firmware); the running
//! image's build (`software-inventory`) and the rollback image
//! (`rollback-partition-information`), and from them the firmware's
//! security posture per the advisory data ([`crate::advisories`]): no
//! extra request, never a probe.

use super::lenient::{one_or_many, opt_object, opt_string};
use super::{expect_ok, IcsAppliance};
use crate::advisories::{Advisories, Date, Placement, Product};
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

/// `ivanti_firmware_info`
pub static FIRMWARE_INFO: Desc = Desc::gauge(
    "ivanti_firmware_info",
    "Firmware version and build of the running image and of the rollback partition, value 1",
    &["image", "version", "build"],
);
/// `ivanti_firmware_vulnerable`
pub static FIRMWARE_VULNERABLE: Desc = Desc::gauge(
    "ivanti_firmware_vulnerable",
    "1 for each known vulnerability that affects the image's version per the advisory data (kev: in CISA's Known Exploited Vulnerabilities catalog)",
    &["cve", "kev", "image"],
);
/// `ivanti_firmware_vulnerabilities`
pub static FIRMWARE_VULNERABILITIES: Desc = Desc::gauge(
    "ivanti_firmware_vulnerabilities",
    "Known vulnerabilities that affect the image's version per the advisory data; absent when the data cannot place the version",
    &["kev", "image"],
);
/// `ivanti_firmware_status_unknown`
pub static FIRMWARE_STATUS_UNKNOWN: Desc = Desc::gauge(
    "ivanti_firmware_status_unknown",
    "1 when the advisory data cannot place the image's version (unknown train, unparsable version, or a build it cannot order), else 0",
    &["image"],
);
/// `ivanti_firmware_end_of_support`
pub static FIRMWARE_END_OF_SUPPORT: Desc = Desc::gauge(
    "ivanti_firmware_end_of_support",
    "1 when the running image's release train is past its end of support per the advisory data, else 0",
    &[],
);
/// `ivanti_firmware_build_mismatch`
pub static FIRMWARE_BUILD_MISMATCH: Desc = Desc::gauge(
    "ivanti_firmware_build_mismatch",
    "1 when the running image's build contradicts its version per the advisory data's build table (a faked upgrade shows this way), else 0",
    &[],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[
    &INFO,
    &FIRMWARE_INFO,
    &FIRMWARE_VULNERABLE,
    &FIRMWARE_VULNERABILITIES,
    &FIRMWARE_STATUS_UNKNOWN,
    &FIRMWARE_END_OF_SUPPORT,
    &FIRMWARE_BUILD_MISMATCH,
];

/// One firmware image: the running one or the rollback partition's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// As the appliance prints it (`9.1R7`, `22.7R2.3`).
    pub version: String,
    /// Its build (`6087`); empty when not given.
    pub build: String,
}

/// The response: `system-information`, the running image's build and the rollback image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// `system-information`.
    pub info: SystemInfo,
    /// The running image: `software-inventory.software` (the operating
    /// system's entry), else `os-version` with no build.
    pub running: Option<Image>,
    /// `rollback-partition-information`, when there is one.
    pub rollback: Option<Image>,
}

/// What the posture is judged against: the data, the target's product
/// line, and today's date (end of support).
#[derive(Debug, Clone, Copy)]
pub struct Posture<'a> {
    /// The advisory data.
    pub advisories: &'a Advisories,
    /// `kind_options.product`.
    pub product: Product,
    /// Today, UTC.
    pub today: Date,
}

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

#[derive(Debug, Default, Deserialize)]
struct Software {
    #[serde(default, deserialize_with = "string")]
    build: String,
    #[serde(default, deserialize_with = "string")]
    version: String,
    #[serde(rename = "type", default, deserialize_with = "string")]
    kind: String,
}

#[derive(Debug, Default, Deserialize)]
struct Inventory {
    /// One entry, or a list of them.
    #[serde(default, deserialize_with = "one_or_many")]
    software: Vec<Software>,
}

#[derive(Debug, Default, Deserialize)]
struct Rollback {
    #[serde(default, deserialize_with = "string")]
    build: String,
    #[serde(rename = "os-version", default, deserialize_with = "string")]
    os_version: String,
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
    #[serde(
        rename = "software-inventory",
        default,
        deserialize_with = "opt_object"
    )]
    inventory: Option<Inventory>,
    #[serde(
        rename = "rollback-partition-information",
        default,
        deserialize_with = "opt_object"
    )]
    rollback: Option<Rollback>,
}

/// Parse; the `system-information` object is required.
pub fn parse(body: &[u8]) -> Result<Response, ParseError> {
    let b: Body = parse_json(body)?;
    let info = b.info.ok_or(ParseError::Field("system-information"))?;
    let software = b.inventory.unwrap_or_default().software;
    let os = software
        .iter()
        .find(|s| s.kind == "operating-system")
        .or(software.first())
        .filter(|s| !s.version.is_empty());
    let running = match os {
        Some(s) => Some(Image {
            version: s.version.clone(),
            build: s.build.clone(),
        }),
        None if !info.os_version.is_empty() => Some(Image {
            version: info.os_version.clone(),
            build: String::new(),
        }),
        None => None,
    };
    let rollback = b
        .rollback
        .filter(|r| !r.os_version.is_empty())
        .map(|r| Image {
            version: r.os_version,
            build: r.build,
        });
    Ok(Response {
        info,
        running,
        rollback,
    })
}

/// The series of one poll.
pub fn samples(r: &Response, posture: &Posture<'_>, out: &mut Samples) {
    let s = &r.info;
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
    for (name, image) in [("running", &r.running), ("rollback", &r.rollback)] {
        let Some(image) = image else { continue };
        out.push(&FIRMWARE_INFO, &[name, &image.version, &image.build], 1.0);
        let build = Some(image.build.as_str()).filter(|b| !b.is_empty());
        let a = posture
            .advisories
            .assess(posture.product, &image.version, build, posture.today);
        match &a.placement {
            Placement::Known(cves) => {
                for c in cves {
                    let kev = if c.kev.is_some() { "true" } else { "false" };
                    out.push(&FIRMWARE_VULNERABLE, &[&c.id, kev, name], 1.0);
                }
                for kev in [true, false] {
                    let n = cves.iter().filter(|c| c.kev.is_some() == kev).count();
                    let label = if kev { "true" } else { "false" };
                    out.push(&FIRMWARE_VULNERABILITIES, &[label, name], n as f64);
                }
                out.push(&FIRMWARE_STATUS_UNKNOWN, &[name], 0.0);
            }
            Placement::Unknown => out.push(&FIRMWARE_STATUS_UNKNOWN, &[name], 1.0),
        }
        if name == "running" {
            out.push_bool(&FIRMWARE_END_OF_SUPPORT, &[], a.end_of_support);
            out.push_bool(&FIRMWARE_BUILD_MISMATCH, &[], a.build_mismatch);
        }
    }
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
    let mut info = parse(&resp.body)?;
    if a.options.hide_identifiers {
        // An empty label value is no label for Prometheus.
        info.info.serial_number.clear();
        info.info.machine_id.clear();
    }
    let posture = Posture {
        advisories: &a.options.advisories,
        product: a.options.product,
        today: Date::today(),
    };
    samples(&info, &posture, out);
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

    fn posture(db: &Advisories, product: Product) -> Posture<'_> {
        Posture {
            advisories: db,
            product,
            today: Date::parse("2026-12-05").unwrap(),
        }
    }

    /// Only `ivanti_system_info`: the firmware series are tested below.
    fn render(r: &Response) -> Vec<String> {
        let db = Advisories::builtin();
        let mut out = Samples::new();
        samples(r, &posture(&db, Product::Ics), &mut out);
        lines(&out)
            .into_iter()
            .filter(|l| l.starts_with("ivanti_system_info"))
            .collect()
    }

    fn firmware(body: &[u8], product: Product) -> Vec<String> {
        let db = Advisories::builtin();
        let mut out = Samples::new();
        samples(&parse(body).unwrap(), &posture(&db, product), &mut out);
        lines(&out)
            .into_iter()
            .filter(|l| l.starts_with("ivanti_firmware"))
            .collect()
    }

    /// The guide's 9.1R7 build 6087, rollback 9.1R6 build 5801 (seed 000).
    /// Both are affected by the same CVEs (hand-worked in
    /// advisories/tests.rs, vectors 1 and 2): 2020-8218, 8243, 8260, the
    /// four of 2021, the three of January 2024 and 2025-22457, all in KEV:
    /// 11. Train 9.1 is past its end of support; build 6087 is 9.1R7's.
    #[test]
    fn guide_sample_posture() {
        let cves = [
            "CVE-2020-8218",
            "CVE-2020-8243",
            "CVE-2020-8260",
            "CVE-2021-22893",
            "CVE-2021-22894",
            "CVE-2021-22899",
            "CVE-2021-22900",
            "CVE-2023-46805",
            "CVE-2024-21887",
            "CVE-2024-21893",
            "CVE-2025-22457",
        ];
        let mut want = Vec::new();
        for (image, version, build) in [("running", "9.1R7", "6087"), ("rollback", "9.1R6", "5801")]
        {
            want.push(format!(
                r#"ivanti_firmware_info{{image="{image}",version="{version}",build="{build}"}} 1"#
            ));
            for c in cves {
                want.push(format!(
                    r#"ivanti_firmware_vulnerable{{cve="{c}",kev="true",image="{image}"}} 1"#
                ));
            }
            want.push(format!(
                r#"ivanti_firmware_vulnerabilities{{kev="true",image="{image}"}} 11"#
            ));
            want.push(format!(
                r#"ivanti_firmware_vulnerabilities{{kev="false",image="{image}"}} 0"#
            ));
            want.push(format!(
                r#"ivanti_firmware_status_unknown{{image="{image}"}} 0"#
            ));
            if image == "running" {
                want.push("ivanti_firmware_end_of_support 1".to_owned());
                want.push("ivanti_firmware_build_mismatch 0".to_owned());
            }
        }
        assert_eq!(firmware(GUIDE, Product::Ics), want);
    }

    #[test]
    fn a_patched_22_7_box_with_no_rollback_and_a_list_of_software() {
        let body = br#"{"system-information": {"os-version": "22.7R2.6"},
            "software-inventory": {"software": [
                {"type": "package", "name": "x", "version": "1.0", "build": "1"},
                {"type": "operating-system", "name": "IVE-OS", "version": "22.7R2.6", "build": "3981"}]}}"#;
        assert_eq!(
            firmware(body, Product::Ics),
            [
                r#"ivanti_firmware_info{image="running",version="22.7R2.6",build="3981"} 1"#,
                r#"ivanti_firmware_vulnerabilities{kev="true",image="running"} 0"#,
                r#"ivanti_firmware_vulnerabilities{kev="false",image="running"} 0"#,
                r#"ivanti_firmware_status_unknown{image="running"} 0"#,
                "ivanti_firmware_end_of_support 0",
                "ivanti_firmware_build_mismatch 0",
            ]
        );
    }

    /// 9.1R14.4: the January 2024 chain is fixed, CVE-2024-22024 (not in
    /// KEV) was introduced by that patch, CVE-2025-22457 has no 9.1 fix.
    /// The rollback image's version is not one the data knows.
    #[test]
    fn non_kev_counts_apart_and_an_unknown_rollback() {
        let body = br#"{"system-information": {"os-version": "9.1R14.4"},
            "rollback-partition-information": {"os-version": "7.4R1", "build": "1"}}"#;
        assert_eq!(
            firmware(body, Product::Ics),
            [
                r#"ivanti_firmware_info{image="running",version="9.1R14.4",build=""} 1"#,
                r#"ivanti_firmware_vulnerable{cve="CVE-2024-22024",kev="false",image="running"} 1"#,
                r#"ivanti_firmware_vulnerable{cve="CVE-2025-22457",kev="true",image="running"} 1"#,
                r#"ivanti_firmware_vulnerabilities{kev="true",image="running"} 1"#,
                r#"ivanti_firmware_vulnerabilities{kev="false",image="running"} 1"#,
                r#"ivanti_firmware_status_unknown{image="running"} 0"#,
                "ivanti_firmware_end_of_support 1",
                "ivanti_firmware_build_mismatch 0",
                r#"ivanti_firmware_info{image="rollback",version="7.4R1",build="1"} 1"#,
                r#"ivanti_firmware_status_unknown{image="rollback"} 1"#,
            ]
        );
    }

    /// The product line matters: 22.7R1.2 is a Policy Secure train
    /// (CVE-2025-0282 and CVE-2025-22457), unknown for Connect Secure.
    #[test]
    fn product_line() {
        let body = br#"{"system-information": {"os-version": "22.7R1.2"}}"#;
        assert!(firmware(body, Product::Ips).contains(
            &r#"ivanti_firmware_vulnerabilities{kev="true",image="running"} 2"#.to_owned()
        ));
        assert!(firmware(body, Product::Ics)
            .contains(&r#"ivanti_firmware_status_unknown{image="running"} 1"#.to_owned()));
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
            Ok(Response::default())
        );
        assert_eq!(parse(b"<html>"), Err(ParseError::Html));
        assert!(parse(b"[]").is_err());
        assert!(matches!(parse(b"\"x\""), Err(ParseError::Json(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(s) = parse(&b) {
                let db = Advisories::builtin();
                samples(&s, &posture(&db, Product::Ics), &mut Samples::new());
            }
        }

        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json()) {
            for body in [
                v.clone(),
                serde_json::json!({"system-information": v}),
                serde_json::json!({"system-information": {"host-name": v, "machine-id": w, "cluster-node": v}}),
                serde_json::json!({"system-information": {"os-version": v},
                    "software-inventory": {"software": w}, "rollback-partition-information": {"os-version": v, "build": w}}),
            ] {
                if let Ok(s) = parse(body.to_string().as_bytes()) {
                    let db = Advisories::builtin();
                    samples(&s, &posture(&db, Product::Ics), &mut Samples::new());
                }
            }
            // Any value in a field is accepted: it is a string or empty.
            let body = serde_json::json!({"system-information": {"host-name": v, "serial-number": w}});
            prop_assert!(parse(body.to_string().as_bytes()).is_ok());
        }
    }
}

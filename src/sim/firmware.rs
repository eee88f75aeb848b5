//! Firmware generations operators still run, each with the one behaviour
//! in which it differs from the guide's 22.x examples (README "Firmware
//! generations"). Set per appliance with [`super::Appliance::set_firmware`]
//! or `simulate --firmware 2=pre-9.1r4,3=ignores-start`.

/// A firmware behaviour of one simulated Connect Secure appliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Firmware {
    /// 22.x as the guide shows it.
    #[default]
    Current,
    /// Before 9.1R4: no REST healthcheck (`/api/v1/system/healthcheck` is
    /// a 404); the unauthenticated `/dana-na/healthcheck/healthcheck.cgi`
    /// answers `KEY=value;` lines.
    Pre914,
    /// 9.x guides document only `number`: `start=` is ignored and the
    /// first page comes back again.
    IgnoresStart,
    /// An expired (revoked) login key is refused with 403, not 401.
    ForbiddenOnExpiry,
    /// `POST /api/v1/realm_auth` is answered by a redirect to the sign-in
    /// page; the legacy `GET /api/v1/auth` works.
    RealmAuthRedirect,
}

impl Firmware {
    /// Every behaviour and its `--firmware` name.
    pub const ALL: &'static [(&'static str, Firmware)] = &[
        ("current", Firmware::Current),
        ("pre-9.1r4", Firmware::Pre914),
        ("ignores-start", Firmware::IgnoresStart),
        ("403-on-expiry", Firmware::ForbiddenOnExpiry),
        ("realm-auth-redirect", Firmware::RealmAuthRedirect),
    ];

    /// Parse a `--firmware` name.
    pub fn parse(name: &str) -> Result<Firmware, String> {
        Firmware::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let known: Vec<_> = Firmware::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown firmware {name:?} (known: {})", known.join(", "))
            })
    }
}

/// `--firmware 2=pre-9.1r4,3=ignores-start`: appliance number and behaviour.
pub fn parse_firmware(spec: &str) -> Result<Vec<(usize, Firmware)>, String> {
    spec.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (i, name) = p
                .split_once('=')
                .ok_or_else(|| format!("{p:?}: expected N=firmware"))?;
            let i = i
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{p:?}: {i:?} is not an appliance number"))?;
            Ok((i, Firmware::parse(name.trim())?))
        })
        .collect()
}

/// The firmware an appliance reports in `GET /api/v1/system/system-information`:
/// the running image (`software-inventory`, and `os-version`) and the
/// rollback partition (`rollback-partition-information`). Builds are the
/// public build lists' (advisories.yml `builds:`) or absent: the simulator
/// does not invent a build it cannot source, and an appliance without one
/// is judged on its version alone. Set per appliance with
/// [`super::Appliance::set_firmware_version`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareVersion {
    /// `os-version` as the appliance prints it (`22.7R2.3`, `22.7.2.3431`).
    pub version: &'static str,
    /// `software-inventory.software.build`, if any.
    pub build: Option<&'static str>,
    /// Version and build of the rollback partition, if it holds an image.
    pub rollback: Option<(&'static str, Option<&'static str>)>,
}

impl FirmwareVersion {
    /// A running image with a build and a rollback image with one.
    pub const fn new(
        version: &'static str,
        build: Option<&'static str>,
        rollback: Option<(&'static str, Option<&'static str>)>,
    ) -> FirmwareVersion {
        FirmwareVersion {
            version,
            build,
            rollback,
        }
    }

    /// The matrix of firmware the posture is tested against (issue 21):
    /// each train's before/after of a fix, the end-of-support train, the
    /// traps. Name, firmware. The CVE sets are worked by hand in
    /// tests/integration/firmware.rs.
    pub const MATRIX: &'static [(&'static str, FirmwareVersion)] = &[
        // The REST API guide's sample (seed 000): 9.1R7 build 6087,
        // rollback 9.1R6 build 5801.
        (
            "9.1r7",
            FirmwareVersion::new("9.1R7", Some("6087"), Some(("9.1R6", Some("5801")))),
        ),
        // The first January 2024 patch of the 9.1R14 train, rolled back
        // would be 9.1R13.1 (a train with no patch in the data).
        (
            "9.1r14.4",
            FirmwareVersion::new("9.1R14.4", None, Some(("9.1R13.1", None))),
        ),
        // 9.1R15 before its patch 9.1R15.2: the "< 9.1R18.3" trap.
        ("9.1r15", FirmwareVersion::new("9.1R15", None, None)),
        ("9.1r18.3", FirmwareVersion::new("9.1R18.3", None, None)),
        // Build 3431 is 22.7R2.3's, 3191 22.7R2.1's (public build list).
        (
            "22.7r2.3",
            FirmwareVersion::new("22.7R2.3", Some("3431"), Some(("22.7R2.1", Some("3191")))),
        ),
        (
            "22.7r2.5",
            FirmwareVersion::new("22.7R2.5", None, Some(("22.7R2.4", Some("3597")))),
        ),
        // Patched, but one rollback away from 22.7R2.4.
        (
            "22.7r2.6-vulnerable-rollback",
            FirmwareVersion::new("22.7R2.6", Some("3981"), Some(("22.7R2.4", Some("3597")))),
        ),
        // Policy Secure (kind_options.product: ips) 22.7R1.2.
        ("ips-22.7r1.2", FirmwareVersion::new("22.7R1.2", None, None)),
        // A train the data does not know (ICS 22.8).
        (
            "unknown-train",
            FirmwareVersion::new("22.8R2", None, Some(("22.7R2.6", Some("3981")))),
        ),
        // A fake upgrade: says 22.7R2.6, runs 22.7R2.4's build 3597.
        (
            "mismatched-build",
            FirmwareVersion::new("22.7R2.6", Some("3597"), Some(("22.7R2.3", Some("3431")))),
        ),
        // The dotted form major.minor.R.build: 22.7R2.3 by its build, not
        // "22.7.2.x >= 22.7.2.6" as a public checker reads it.
        (
            "dotted-22.7.2.3431",
            FirmwareVersion::new("22.7.2.3431", None, None),
        ),
    ];

    /// A [`FirmwareVersion::MATRIX`] entry by name.
    pub fn named(name: &str) -> Option<FirmwareVersion> {
        FirmwareVersion::MATRIX
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// What appliance `index` of a fleet runs unless set: a mix, so that
    /// the demo's posture dashboard has something in every panel. The
    /// 9.x profile runs the guide's 9.1R7; the others, by index: 22.7R2.3
    /// (exposed to two KEV CVEs), 22.7R2.6 with 22.7R2.3 in its rollback
    /// partition, 22.7R2.4 (exposed), 22.7R2.6 with 22.7R2.4 as rollback,
    /// and ICS 22.8R2, a train the data does not know.
    pub fn default_for(index: usize, old: bool) -> FirmwareVersion {
        if old {
            return FirmwareVersion::new("9.1R7", Some("6087"), Some(("9.1R6", Some("5801"))));
        }
        match index % 6 {
            1 => FirmwareVersion::new("22.7R2.6", Some("3981"), Some(("22.7R2.3", Some("3431")))),
            2 => FirmwareVersion::new("22.7R2.4", Some("3597"), Some(("22.7R2.3", Some("3431")))),
            3 => FirmwareVersion::new("22.7R2.6", Some("3981"), Some(("22.7R2.4", Some("3597")))),
            4 => FirmwareVersion::new("22.8R2", None, Some(("22.7R2.6", Some("3981")))),
            _ => FirmwareVersion::new("22.7R2.3", Some("3431"), Some(("22.7R2.1", Some("3191")))),
        }
    }
}

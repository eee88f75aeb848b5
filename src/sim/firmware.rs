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

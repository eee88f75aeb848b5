//! `GET /api/v1/system/healthcheck` (`?status=all`, `?status=sbr`): no
//! authentication. Utilizations are percent, `-1` means "not available";
//! firmware sends numbers or numeric strings, and the CPU key is
//! `CPU-UTILIZATION` or (in the guide) `CPU-UTILIZATION4`.

use super::lenient::{value_bool, value_f64};
use super::{status_error, IcsAppliance, HEALTHCHECK, HEALTHCHECK_CGI, SBR_EVERY};
use crate::client::Auth;
use crate::error::{looks_like_html, CollectError};
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use tokio::time::Instant;

/// `ivanti_gateway_accessible`
pub static GATEWAY_ACCESSIBLE: Desc = Desc::gauge(
    "ivanti_gateway_accessible",
    "1 when GET /api/v1/system/healthcheck answers 2xx (Security Gateway is accessible), 0 when it answers 5xx",
    &[],
);
/// `ivanti_cpu_utilization_ratio`
pub static CPU: Desc = Desc::gauge(
    "ivanti_cpu_utilization_ratio",
    "CPU utilization from CPU-UTILIZATION, 0 to 1; absent when the appliance reports -1",
    &[],
);
/// `ivanti_swap_utilization_ratio`
pub static SWAP: Desc = Desc::gauge(
    "ivanti_swap_utilization_ratio",
    "Swap utilization from SWAP-UTILIZATION, 0 to 1; absent when the appliance reports -1",
    &[],
);
/// `ivanti_disk_utilization_ratio`
pub static DISK: Desc = Desc::gauge(
    "ivanti_disk_utilization_ratio",
    "Disk utilization from DISK-UTILIZATION, 0 to 1; absent when the appliance reports -1",
    &[],
);
/// `ivanti_signed_in_users`
pub static USERS: Desc = Desc::gauge(
    "ivanti_signed_in_users",
    "Signed-in users from USER-COUNT; on a cluster this can be the cluster-wide count repeated on every node",
    &[],
);
/// `ivanti_vpn_tunnels`
pub static TUNNELS: Desc = Desc::gauge(
    "ivanti_vpn_tunnels",
    "VPN tunnels from VPN-TUNNEL-COUNT",
    &[],
);
/// `ivanti_ssl_connections`
pub static SSL: Desc = Desc::gauge(
    "ivanti_ssl_connections",
    "SSL connections from SSL-CONNECTION-COUNT",
    &[],
);
/// `ivanti_max_licensed_users_reached`
pub static MAX_LICENSED: Desc = Desc::gauge(
    "ivanti_max_licensed_users_reached",
    "1 when MAX-LICENSED-USERS-REACHED is YES: no further users can sign in",
    &[],
);
/// `ivanti_sbr_available`
pub static SBR: Desc = Desc::gauge(
    "ivanti_sbr_available",
    "SBR-AVAILABLE from the healthcheck with status=sbr",
    &[],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[
    &GATEWAY_ACCESSIBLE,
    &CPU,
    &SWAP,
    &DISK,
    &USERS,
    &TUNNELS,
    &SSL,
    &MAX_LICENSED,
    &SBR,
];

/// `?status=all`, decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// CPU, percent.
    pub cpu_percent: Option<f64>,
    /// Swap, percent.
    pub swap_percent: Option<f64>,
    /// Disk, percent.
    pub disk_percent: Option<f64>,
    /// USER-COUNT.
    pub user_count: Option<f64>,
    /// VPN-TUNNEL-COUNT.
    pub vpn_tunnels: Option<f64>,
    /// SSL-CONNECTION-COUNT.
    pub ssl_connections: Option<f64>,
    /// MAX-LICENSED-USERS-REACHED.
    pub max_licensed_users_reached: Option<bool>,
}

/// A percentage or a count: `-1` (any negative) means "not available".
fn non_negative(v: Option<&Value>) -> Option<f64> {
    v.and_then(value_f64).filter(|p| *p >= 0.0)
}

fn get<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Parse `?status=all`. Keys are matched case-insensitively; the CPU key is
/// `CPU-UTILIZATION`, else any key starting with it (`CPU-UTILIZATION4`).
/// Negative values (`-1`, "not available") become `None`. A JSON object with
/// none of the known keys (e.g. the plain healthcheck's `message`) is an error.
pub fn parse_status(body: &[u8]) -> Result<Status, ParseError> {
    let v: Value = parse_json(body)?;
    let Value::Object(m) = v else {
        return Err(ParseError::Json("expected a JSON object".into()));
    };
    status_from_map(&m)
}

/// Parse the unauthenticated page of firmware before 9.1R4,
/// `/dana-na/healthcheck/healthcheck.cgi?status=all`: the same keys as
/// `?status=all` as `KEY=value;` pairs (`CPU-UTILIZATION=2;`, shared/ics-api.md).
/// The vendor documents no exact layout, so pairs may be separated by `;`,
/// line breaks or HTML tags (`<br>`), and anything that is not `KEY=value`
/// is ignored. A page with none of the known keys is an error.
pub fn parse_cgi(body: &[u8]) -> Result<Status, ParseError> {
    let text = String::from_utf8_lossy(body);
    let mut m = Map::new();
    let mut plain = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(';');
            }
            _ if in_tag => {}
            _ => plain.push(c),
        }
    }
    for pair in plain.split([';', '\n', '\r']) {
        if let Some((k, v)) = pair.split_once('=') {
            let k = k.trim();
            if !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                m.insert(k.to_owned(), Value::String(v.trim().to_owned()));
            }
        }
    }
    status_from_map(&m)
}

fn status_from_map(m: &Map<String, Value>) -> Result<Status, ParseError> {
    let cpu = get(m, "CPU-UTILIZATION").or_else(|| {
        m.iter()
            .find(|(k, _)| k.to_ascii_uppercase().starts_with("CPU-UTILIZATION"))
            .map(|(_, v)| v)
    });
    let s = Status {
        cpu_percent: non_negative(cpu),
        swap_percent: non_negative(get(m, "SWAP-UTILIZATION")),
        disk_percent: non_negative(get(m, "DISK-UTILIZATION")),
        user_count: non_negative(get(m, "USER-COUNT")),
        vpn_tunnels: non_negative(get(m, "VPN-TUNNEL-COUNT")),
        ssl_connections: non_negative(get(m, "SSL-CONNECTION-COUNT")),
        max_licensed_users_reached: get(m, "MAX-LICENSED-USERS-REACHED").and_then(value_bool),
    };
    let known = cpu.is_some()
        || [
            "SWAP-UTILIZATION",
            "DISK-UTILIZATION",
            "USER-COUNT",
            "VPN-TUNNEL-COUNT",
            "SSL-CONNECTION-COUNT",
            "MAX-LICENSED-USERS-REACHED",
        ]
        .iter()
        .any(|k| get(m, k).is_some());
    if !known {
        return Err(ParseError::Field("CPU-UTILIZATION"));
    }
    Ok(s)
}

/// Parse `?status=sbr`: `{"SBR-AVAILABLE": 1}`.
pub fn parse_sbr(body: &[u8]) -> Result<Option<f64>, ParseError> {
    let v: Value = parse_json(body)?;
    match v {
        Value::Object(m) => Ok(get(&m, "SBR-AVAILABLE").and_then(|v| {
            value_f64(v).or_else(|| value_bool(v).map(|b| if b { 1.0 } else { 0.0 }))
        })),
        _ => Err(ParseError::Json("expected a JSON object".into())),
    }
}

/// The series of one healthcheck poll.
pub fn samples(accessible: bool, status: Option<&Status>, sbr: Option<f64>, out: &mut Samples) {
    out.push_bool(&GATEWAY_ACCESSIBLE, &[], accessible);
    if let Some(s) = status {
        let ratios = [
            (&CPU, s.cpu_percent),
            (&SWAP, s.swap_percent),
            (&DISK, s.disk_percent),
        ];
        for (desc, p) in ratios {
            if let Some(p) = p {
                out.push(desc, &[], p / 100.0);
            }
        }
        let counts = [
            (&USERS, s.user_count),
            (&TUNNELS, s.vpn_tunnels),
            (&SSL, s.ssl_connections),
        ];
        for (desc, n) in counts {
            if let Some(n) = n {
                out.push(desc, &[], n);
            }
        }
        if let Some(b) = s.max_licensed_users_reached {
            out.push_bool(&MAX_LICENSED, &[], b);
        }
    }
    if let Some(v) = sbr {
        out.push(&SBR, &[], v);
    }
}

/// The `healthcheck` collector.
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "healthcheck",
        default_enabled: true,
        default_interval: None,
        endpoints: &[
            "GET /api/v1/system/healthcheck",
            "GET /api/v1/system/healthcheck?status=all",
            "GET /api/v1/system/healthcheck?status=sbr",
        ],
        metrics: METRICS,
        // Unauthenticated (ics-api.md, "GET /api/v1/system/healthcheck"; healthcheck.cgi too).
        needs_credentials: false,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

/// Plain healthcheck (accessibility), `?status=all` (figures), and
/// `?status=sbr` every [`SBR_EVERY`]: 2 requests in a steady poll.
/// Firmware without the REST healthcheck (404, a redirect, an HTML
/// page) is read from healthcheck.cgi instead, from then on.
async fn poll(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    if a.legacy_healthcheck.load(Ordering::Relaxed) {
        return healthcheck_cgi(a, out).await;
    }
    let plain = a.api.get(HEALTHCHECK, Auth::None).await?;
    let accessible = match plain.status {
        200..=299 if looks_like_html(&plain.body) => {
            return fall_back_to_cgi(a, out, ParseError::Html.into()).await;
        }
        200..=299 => true,
        500..=599 => false,
        404 | 300..=399 => return fall_back_to_cgi(a, out, status_error(&plain)).await,
        _ => return Err(status_error(&plain)),
    };
    let all = a
        .api
        .get("/api/v1/system/healthcheck?status=all", Auth::None)
        .await?;
    let status = match all.status {
        200..=299 => Some(parse_status(&all.body)?),
        404 => None,
        _ if !accessible => None,
        _ => return Err(status_error(&all)),
    };
    let sbr = sbr(a).await?;
    samples(accessible, status.as_ref(), sbr, out);
    Ok(())
}

/// `?status=sbr`, from a cache refreshed every [`SBR_EVERY`].
async fn sbr(a: &IcsAppliance) -> Result<Option<f64>, CollectError> {
    let cached = *a.sbr.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, v)) = cached {
        if at.elapsed() < SBR_EVERY {
            return Ok(v);
        }
    }
    let resp = a
        .api
        .get("/api/v1/system/healthcheck?status=sbr", Auth::None)
        .await?;
    let v = match resp.status {
        200..=299 => parse_sbr(&resp.body)?,
        _ => None,
    };
    *a.sbr.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), v));
    Ok(v)
}

/// The REST healthcheck is missing: try healthcheck.cgi; if that is
/// missing too, the REST answer's error stands.
async fn fall_back_to_cgi(
    a: &IcsAppliance,
    out: &mut Samples,
    rest_error: CollectError,
) -> Result<(), CollectError> {
    let resp = a.api.get(HEALTHCHECK_CGI, Auth::None).await?;
    let parsed = match resp.status {
        200..=299 => parse_cgi(&resp.body).ok(),
        _ => None,
    };
    let Some(status) = parsed else {
        return Err(rest_error);
    };
    tracing::info!(target = %a.target.name, "no REST healthcheck (firmware before 9.1R4?): reading /dana-na/healthcheck/healthcheck.cgi");
    a.legacy_healthcheck.store(true, Ordering::Relaxed);
    samples(true, Some(&status), None, out);
    Ok(())
}

/// healthcheck.cgi: 200 with the figures, 5xx when the gateway is not
/// accessible (as the REST healthcheck's plain answer).
async fn healthcheck_cgi(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let resp = a.api.get(HEALTHCHECK_CGI, Auth::None).await?;
    match resp.status {
        200..=299 => {
            let status = parse_cgi(&resp.body)?;
            samples(true, Some(&status), None, out);
        }
        500..=599 => samples(false, None, None, out),
        _ => return Err(status_error(&resp)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::lenient::testing::{arb_json, lines};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_pre_9_1r4_page_gives_the_same_status_as_the_json() {
        // The guide's ?status=all sample, written the way healthcheck.cgi does.
        let page = b"CPU-UTILIZATION=8;\nSSL-CONNECTION-COUNT=0;\nMAX-LICENSED-USERS-REACHED=NO;\n\
SWAP-UTILIZATION=1;\nDISK-UTILIZATION=-1;\nUSER-COUNT=0;\nVPN-TUNNEL-COUNT=0;\n";
        let json = br#"{ "CPU-UTILIZATION4": 8, "SSL-CONNECTION-COUNT": 0, "MAX-LICENSED-USERS-REACHED": "NO",
  "SWAP-UTILIZATION": 1, "DISK-UTILIZATION": -1, "USER-COUNT": 0, "VPN-TUNNEL-COUNT": 0 }"#;
        assert_eq!(parse_cgi(page).unwrap(), parse_status(json).unwrap());
        let s = parse_cgi(page).unwrap();
        assert_eq!((s.cpu_percent, s.disk_percent), (Some(8.0), None));
        // One line, or wrapped in HTML with <br>: the same values.
        let html = b"<html><body>CPU-UTILIZATION=2;<br>USER-COUNT=41;<br/>VPN-TUNNEL-COUNT=40</body></html>";
        let s = parse_cgi(html).unwrap();
        assert_eq!(
            (s.cpu_percent, s.user_count, s.vpn_tunnels),
            (Some(2.0), Some(41.0), Some(40.0))
        );
        assert!(parse_cgi(b"Security Gateway is accessible").is_err());
        assert!(parse_cgi(b"<html>Sign In</html>").is_err());
    }

    proptest! {
        #[test]
        fn the_cgi_parser_never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_cgi(&b);
        }
    }

    const GUIDE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/healthcheck__status=all.json");
    const STRINGS: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/healthcheck__status=all__22x-strings.json"
    );
    const NOT_AVAILABLE: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/healthcheck__status=all__not-available.json"
    );
    const PLAIN: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/healthcheck.json");
    const SBR: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/healthcheck__status=sbr.json");

    fn render(accessible: bool, status: Option<&Status>, sbr: Option<f64>) -> Vec<String> {
        let mut out = Samples::new();
        samples(accessible, status, sbr, &mut out);
        lines(&out)
    }

    #[test]
    fn guide_sample_with_its_quirks() {
        let s = parse_status(GUIDE).unwrap();
        assert_eq!(
            s,
            Status {
                cpu_percent: Some(8.0), // from CPU-UTILIZATION4
                swap_percent: Some(1.0),
                disk_percent: None, // -1: not available
                user_count: Some(0.0),
                vpn_tunnels: Some(0.0),
                ssl_connections: Some(0.0),
                max_licensed_users_reached: Some(false),
            }
        );
        let sbr = parse_sbr(SBR).unwrap();
        assert_eq!(
            render(true, Some(&s), sbr),
            [
                "ivanti_gateway_accessible 1",
                "ivanti_cpu_utilization_ratio 0.08",
                "ivanti_swap_utilization_ratio 0.01",
                "ivanti_signed_in_users 0",
                "ivanti_vpn_tunnels 0",
                "ivanti_ssl_connections 0",
                "ivanti_max_licensed_users_reached 0",
                "ivanti_sbr_available 1",
            ]
        );
    }

    #[test]
    fn numbers_as_strings_and_yes() {
        let s = parse_status(STRINGS).unwrap();
        assert_eq!(
            render(true, Some(&s), None),
            [
                "ivanti_gateway_accessible 1",
                "ivanti_cpu_utilization_ratio 0.12",
                "ivanti_swap_utilization_ratio 0",
                "ivanti_disk_utilization_ratio 0.415",
                "ivanti_signed_in_users 1520",
                "ivanti_vpn_tunnels 1204",
                "ivanti_ssl_connections 310",
                "ivanti_max_licensed_users_reached 1",
            ]
        );
    }

    #[test]
    fn not_available_values_are_absent_not_zero() {
        let s = parse_status(NOT_AVAILABLE).unwrap();
        assert_eq!(
            render(true, Some(&s), None),
            [
                "ivanti_gateway_accessible 1",
                "ivanti_signed_in_users 17",
                "ivanti_vpn_tunnels 12",
                "ivanti_max_licensed_users_reached 1",
            ]
        );
    }

    #[test]
    fn inaccessible_gateway_without_status() {
        assert_eq!(render(false, None, None), ["ivanti_gateway_accessible 0"]);
    }

    #[test]
    fn any_cpu_utilization_key_and_any_case() {
        let s = parse_status(br#"{"cpu-utilization": "3"}"#).unwrap();
        assert_eq!(s.cpu_percent, Some(3.0));
        let s = parse_status(br#"{"CPU-UTILIZATION1": 5, "USER-COUNT": "-1"}"#).unwrap();
        assert_eq!((s.cpu_percent, s.user_count), (Some(5.0), None));
        // The exact key wins over a suffixed one.
        let s = parse_status(br#"{"CPU-UTILIZATION4": 5, "CPU-UTILIZATION": 7}"#).unwrap();
        assert_eq!(s.cpu_percent, Some(7.0));
    }

    #[test]
    fn html_and_unknown_shapes_are_errors() {
        assert_eq!(
            parse_status(b"<html><body>Sign In</body></html>"),
            Err(ParseError::Html)
        );
        assert_eq!(
            parse_status(PLAIN),
            Err(ParseError::Field("CPU-UTILIZATION"))
        );
        assert_eq!(
            parse_status(b"{}"),
            Err(ParseError::Field("CPU-UTILIZATION"))
        );
        assert!(matches!(parse_status(b"[1,2]"), Err(ParseError::Json(_))));
        assert!(matches!(parse_status(b"{\"CPU"), Err(ParseError::Json(_))));
        assert_eq!(parse_sbr(br#"{"SBR-AVAILABLE": "0"}"#), Ok(Some(0.0)));
        assert_eq!(parse_sbr(br#"{"SBR-AVAILABLE": "YES"}"#), Ok(Some(1.0)));
        assert_eq!(parse_sbr(b"{}"), Ok(None));
        assert_eq!(parse_sbr(b"<html>"), Err(ParseError::Html));
        assert!(matches!(parse_sbr(b"1"), Err(ParseError::Json(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_status(&b);
            let _ = parse_sbr(&b);
        }

        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json()) {
            let _ = parse_status(v.to_string().as_bytes());
            let _ = parse_sbr(v.to_string().as_bytes());
            let body = serde_json::json!({"CPU-UTILIZATION4": v, "USER-COUNT": w, "MAX-LICENSED-USERS-REACHED": v}).to_string();
            if let Ok(s) = parse_status(body.as_bytes()) {
                prop_assert!(s.cpu_percent.is_none_or(|p| p >= 0.0));
                samples(true, Some(&s), None, &mut Samples::new());
            }
        }
    }
}

//! EPMM's request half against a scripted transport: one count query per
//! series, values percent-encoded, the configured device space in every
//! query, and a role without the device-space right is not an error.

use super::devices::{count_queries, PLATFORMS, STATUSES};
use super::Epmm;
use crate::exposition::Samples;
use crate::kinds::transport::testing::{get, ScriptedTransport, Step};
use crate::kinds::{Appliance, Credentials, Kind, Options, Target, Transport};
use crate::secret::Secret;
use std::sync::Arc;

fn appliance(space: u32, steps: Vec<Step>) -> (Arc<dyn Appliance>, Arc<ScriptedTransport>) {
    let transport = Arc::new(ScriptedTransport::new(steps));
    let target = Target {
        name: "epmm".into(),
        credentials: Credentials::Basic {
            username: "api".into(),
            password: Secret::new("pw"),
        },
        options: Options::new(super::Options {
            admin_device_space_id: space,
        }),
    };
    (
        Epmm.appliance(target, transport.clone() as Arc<dyn Transport>),
        transport,
    )
}

/// RFC 3986: everything but the unreserved characters is encoded.
const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn total(n: u32) -> String {
    format!(r#"{{"totalCount": {n}, "results": []}}"#)
}

#[tokio::test(start_paused = true)]
async fn devices_are_counted_with_one_encoded_query_per_series() {
    // The first query is the empty one (every device), then one per
    // status, one per platform (active devices), and non-compliant.
    let queries = count_queries();
    assert_eq!(queries.len(), 1 + STATUSES.len() + PLATFORMS.len() + 1);
    let path = |q: &str| {
        format!(
            "/api/v2/devices?adminDeviceSpaceId=7&query={q}&fields=common.uuid&limit=1&offset=0"
        )
    };
    let mut steps = vec![get(&path(""), 200, total(120)).auth("basic:api")];
    // `common.status = "ACTIVE"` as RFC 3986 encodes it.
    steps.push(get(
        &path("common.status%20%3D%20%22ACTIVE%22"),
        200,
        total(100),
    ));
    for (i, _) in queries.iter().enumerate().skip(2) {
        let q = &queries[i].query;
        let encoded = percent_encoding::utf8_percent_encode(q, UNRESERVED_KEPT).to_string();
        steps.push(get(&path(&encoded), 200, total(i as u32)));
    }
    let (a, t) = appliance(7, steps);
    let mut out = Samples::default();
    a.collect("devices", &mut out).await.unwrap();
    t.finish();
    assert_eq!(out.value_of("ivanti_epmm_devices", ""), Some(120.0));
    assert_eq!(
        out.value_of("ivanti_epmm_devices_by_status", "\"ACTIVE\""),
        Some(100.0)
    );
    // Every query went to device space 7, with no raw space or quote.
    assert!(t
        .calls()
        .iter()
        .all(|c| c.path.contains("adminDeviceSpaceId=7&") && !c.path.contains([' ', '"'])));
}

#[tokio::test(start_paused = true)]
async fn a_role_without_device_spaces_is_not_an_error() {
    let (a, t) = appliance(
        1,
        vec![get(
            "/api/v2/device_spaces?adminDeviceSpaceId=1&limit=10000&offset=0",
            403,
            "{}",
        )],
    );
    let mut out = Samples::default();
    a.collect("device_spaces", &mut out).await.unwrap();
    t.finish();
    assert!(out.is_empty());
}

//! Ivanti EPMM: basic auth, `totalCount` of device searches, device spaces.

use super::faults::Fault;
use super::fleet::{Shared, State};
use super::products::{modelled_or_fixture, Answer, Req, SimKind};
use super::request::{json_response, query_number, query_value};
use axum::body::Body;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// Devices of every simulated EPMM.
const DEVICES: u64 = 2000;

/// Devices per `common.status`, one per status the Ivanti EPMM V2 API guide
/// documents (they add up to [`DEVICES`]); any other status has none.
const BY_STATUS: &[(&str, u64)] = &[
    ("ACTIVE", 1700),
    ("IENROLL_VERIFIED", 12),
    ("IENROLL_INPROGRESS", 8),
    ("IENROLL_COMPLETE", 5),
    ("INFECTED", 3),
    ("LOST", 4),
    ("RETIRED", 150),
    ("VERIFIED", 30),
    ("VERIFICATION_PENDING", 40),
    ("EXPIRED", 20),
    ("WIPED", 28),
];

/// Active devices per `common.platform` (they add up to the 1,700 active).
const BY_PLATFORM: &[(&str, u64)] = &[
    ("iOS", 935),
    ("Android", 680),
    ("Windows", 51),
    ("macOS", 34),
];

/// Active devices with `common.compliant = false`.
const NONCOMPLIANT: u64 = 51;

/// Ivanti EPMM.
pub(super) fn epmm(shared: &Shared, state: &State, req: &Req<'_>) -> Answer {
    check(shared, state, req)?;
    let total = DEVICES;
    let modelled = match req.path {
        "/api/v2/devices" => Some(Ok(devices(req, shared.seed))),
        "/api/v2/device_spaces" => {
            let contractors = total / 10;
            Some(Ok(json!({
                "results": [
                    { "id": 1, "name": "Global", "criteria": "", "status": "ACTIVE", "priority": 0, "deviceCount": total - contractors, "admins": [] },
                    { "id": 2, "name": "Contractors", "criteria": "", "status": "ACTIVE", "priority": 1, "deviceCount": contractors.to_string(), "admins": [] }
                ],
                "totalCount": 2, "resultCount": 2, "hasMore": false
            })))
        }
        _ => None,
    };
    modelled_or_fixture(SimKind::Epmm, req.path, req.query, modelled, || {
        json_response(StatusCode::NOT_FOUND, &json!({ "messages": [] }))
    })
}

/// The basic credentials, and the faults that refuse them.
fn check(shared: &Shared, state: &State, req: &Req<'_>) -> Result<(), Response<Body>> {
    let (_, user, pass) = &shared.fleet.admin;
    let ok = req
        .basic
        .as_ref()
        .is_some_and(|(u, p)| u == user && p == pass);
    if !ok || state.fault == Fault::Unauthorized {
        return Err(Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"MobileIron\"")
            .body(Body::empty())
            .unwrap_or_default());
    }
    if state.fault == Fault::Forbidden {
        return Err(json_response(
            StatusCode::FORBIDDEN,
            &json!({ "messages": [ { "type": "Error", "messageKey": "com.mobileiron.vsp.messages.http.403", "message": "Access denied" } ] }),
        ));
    }
    if req.method != "GET" {
        return Err(json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({})));
    }
    if query_number::<u32>(req.query, "adminDeviceSpaceId").is_none() {
        return Err(json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "messages": [ { "type": "Error", "message": "adminDeviceSpaceId is required" } ] }),
        ));
    }
    Ok(())
}

/// `GET /api/v2/devices?query=...`: the `totalCount` of the query, with
/// one record (what `limit=1` asks for). Queries name fields bare
/// (`common.status = "ACTIVE" AND common.platform = "iOS"`); a quoted field
/// name is not understood and matches nothing.
fn devices(req: &Req<'_>, seed: u64) -> Value {
    let q = query_value(req.query, "query").unwrap_or_default();
    let field = |f: &str| {
        q.split(" AND ")
            .find_map(|c| c.trim().strip_prefix(f)?.trim_start().strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
    };
    let lookup = |table: &[(&str, u64)], v: Option<String>| {
        v.and_then(|v| table.iter().find(|(k, _)| *k == v).map(|(_, n)| *n))
            .unwrap_or(0)
    };
    let status = field("common.status");
    let count = if q.trim().is_empty() {
        DEVICES
    } else if status.is_none() {
        0 // a quoted field name, or an unknown field
    } else if field("common.compliant").as_deref() == Some("false") {
        if status.as_deref() == Some("ACTIVE") {
            NONCOMPLIANT
        } else {
            0
        }
    } else if let Some(p) = field("common.platform") {
        if status.as_deref() == Some("ACTIVE") {
            lookup(BY_PLATFORM, Some(p))
        } else {
            0
        }
    } else {
        lookup(BY_STATUS, status)
    };
    json!({
        "results": [ { "common.uuid": format!("{:032x}", seed) } ],
        "totalCount": count,
        "resultCount": count.min(1),
        "hasMore": count > 1,
    })
}

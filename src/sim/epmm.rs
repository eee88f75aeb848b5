//! Ivanti EPMM: basic auth, `totalCount` of device searches, device spaces.

use super::*;

/// Ivanti EPMM.
pub(super) fn epmm(shared: &Shared, state: &State, req: &Req<'_>) -> Answer {
    check(shared, state, req)?;
    let seed = shared.seed;
    let total = 200 + (unit((seed, "devices")) * 3000.0) as u64;
    let share = |what: &str, lo: f64, hi: f64| {
        ((lo + (hi - lo) * unit((seed, what))) * total as f64) as u64
    };
    let active = share("ACTIVE", 0.8, 0.9);
    match req.path {
        "/api/v2/devices" => Ok(devices(req, seed, total, active, &share)),
        "/api/v2/device_spaces" => {
            let contractors = total / 10;
            Ok(json!({
                "results": [
                    { "id": 1, "name": "Global", "criteria": "", "status": "ACTIVE", "priority": 0, "deviceCount": total - contractors, "admins": [] },
                    { "id": 2, "name": "Contractors", "criteria": "", "status": "ACTIVE", "priority": 1, "deviceCount": contractors.to_string(), "admins": [] }
                ],
                "totalCount": 2, "resultCount": 2, "hasMore": false
            }))
        }
        _ => Err(json_response(
            StatusCode::NOT_FOUND,
            &json!({ "messages": [] }),
        )),
    }
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
    if param(req.query, "adminDeviceSpaceId")
        .and_then(|v| v.parse::<u32>().ok())
        .is_none()
    {
        return Err(json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "messages": [ { "type": "Error", "message": "adminDeviceSpaceId is required" } ] }),
        ));
    }
    Ok(())
}

/// `GET /api/v2/devices?query=...`: the `totalCount` of the query, with
/// one record (what `limit=1` asks for).
fn devices(
    req: &Req<'_>,
    seed: u64,
    total: u64,
    active: u64,
    share: &dyn Fn(&str, f64, f64) -> u64,
) -> Value {
    let q = super::data::url_decode(param(req.query, "query").unwrap_or(""));
    let field = |f: &str| {
        q.split(&format!("\"{f}\" = \""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_owned)
    };
    let count = if q.contains("common.compliant") {
        share("noncompliant", 0.01, 0.05)
    } else if let Some(p) = field("common.platform") {
        let w: f64 = match p.as_str() {
            "iOS" => 0.55,
            "Android" => 0.4,
            "Windows" => 0.03,
            "macOS" => 0.02,
            _ => 0.0,
        };
        (w * active as f64) as u64
    } else if let Some(s) = field("common.status") {
        match s.as_str() {
            "ACTIVE" => active,
            "PENDING" => share("PENDING", 0.01, 0.05),
            "RETIRED" => share("RETIRED", 0.02, 0.08),
            "WIPED" => share("WIPED", 0.0, 0.01),
            "LOST" => share("LOST", 0.0, 0.005),
            _ => 0,
        }
    } else {
        total
    };
    json!({
        "results": [ { "common.uuid": format!("{:032x}", seed) } ],
        "totalCount": count,
        "resultCount": count.min(1),
        "hasMore": count > 1,
    })
}

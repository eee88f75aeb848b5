//! Connect Secure: the `realm_auth` login (and the legacy `GET
//! /api/v1/auth`), API-key checks, and the REST routes of the guide
//! (shared/ics-api.md), with the firmware behaviours of [`Firmware`].

use super::data;
use super::faults::Fault;
use super::firmware::Firmware;
use super::fleet::{Profile, Shared, State};
use super::products::SimKind;
use super::products::{modelled_or_fixture, Answer, Modelled};
use super::request::{basic_auth, ics_error, json_response, query_number, query_value};
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

/// Where the sign-in page is; firmware redirects there.
const SIGN_IN: &str = "/dana-na/auth/url_default/welcome.cgi";

/// Answer one Connect Secure request.
pub(super) async fn ics(
    shared: &Shared,
    state: &State,
    req: Request<hyper::body::Incoming>,
) -> Answer {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let creds = basic_auth(&req);
    if path == "/api/v1/realm_auth" || path == "/api/v1/auth" {
        return Err(login(shared, state, req, &path, creds).await);
    }
    if req.method() != hyper::Method::GET {
        return Err(ics_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ));
    }
    let public = matches!(
        path.as_str(),
        "/api/v1/system/healthcheck" | "/dana-na/healthcheck/healthcheck.cgi"
    );
    if !public {
        authorize(shared, state, creds.as_ref())?;
    }
    let q = query.as_deref();
    modelled_or_fixture(
        SimKind::Ics,
        &path,
        q,
        route(shared, state, &path, q),
        || ics_error(StatusCode::NOT_FOUND, "Not found"),
    )
}

/// `POST /api/v1/realm_auth` (body `{"realm": ...}`) or the legacy
/// `GET /api/v1/auth`, with the admin's basic credentials.
async fn login(
    shared: &Shared,
    state: &State,
    req: Request<hyper::body::Incoming>,
    path: &str,
    creds: Option<(String, String)>,
) -> Response<Body> {
    let legacy = path == "/api/v1/auth";
    let method = req.method().clone();
    if !legacy && state.firmware == Firmware::RealmAuthRedirect {
        return redirect(SIGN_IN);
    }
    let allowed = if legacy {
        method == hyper::Method::GET
    } else {
        method == hyper::Method::POST && state.profile != Profile::OldFirmware
    };
    if !allowed {
        return ics_error(StatusCode::NOT_FOUND, "Not found");
    }
    shared.count_login();
    let fleet = &shared.fleet;
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let realm_ok = legacy
        || serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("realm").and_then(Value::as_str).map(str::to_owned))
            .is_some_and(|r| r == fleet.admin.0);
    let (_, user, pass) = &fleet.admin;
    let ok = realm_ok && creds.as_ref().is_some_and(|(u, p)| u == user && p == pass);
    if !ok {
        return ics_error(StatusCode::UNAUTHORIZED, "Invalid username or password");
    }
    if state.fault == Fault::SecondFactor && !legacy {
        return json_response(
            StatusCode::OK,
            &json!({ "resume_id": format!("{:032x}", rand::random::<u128>()) }),
        );
    }
    let key = format!("{:032x}", rand::random::<u128>());
    shared.update_state(|s| {
        s.keys.insert(key.clone());
    });
    json_response(StatusCode::OK, &json!({ "api_key": key }))
}

/// The API key (user name, empty password): the static one or one a
/// login issued. A revoked key is 401, or 403 on [`Firmware::ForbiddenOnExpiry`].
fn authorize(
    shared: &Shared,
    state: &State,
    creds: Option<&(String, String)>,
) -> Result<(), Response<Body>> {
    let key = creds.filter(|(_, p)| p.is_empty()).map(|(u, _)| u.as_str());
    let authed = key.is_some_and(|k| k == shared.fleet.api_key || state.keys.contains(k));
    if key.is_some_and(|k| state.revoked.contains(k))
        && state.firmware == Firmware::ForbiddenOnExpiry
    {
        return Err(ics_error(StatusCode::FORBIDDEN, "Access denied"));
    }
    if !authed || state.fault == Fault::Unauthorized {
        return Err(ics_error(StatusCode::UNAUTHORIZED, "Authentication failed"));
    }
    if state.fault == Fault::Forbidden {
        return Err(ics_error(
            StatusCode::FORBIDDEN,
            "Admin role has no access to REST APIs",
        ));
    }
    Ok(())
}

/// The modelled REST routes; `None` for any other path.
fn route(shared: &Shared, state: &State, path: &str, q: Option<&str>) -> Modelled {
    let fleet = &shared.fleet;
    let view = data::View {
        seed: shared.seed,
        name: &shared.name,
        index: shared.index,
        t: fleet.started.elapsed().as_secs_f64(),
        started_unix: fleet.started_unix,
        mean_sessions: fleet.mean_sessions,
        state,
    };
    let pre_914 = state.firmware == Firmware::Pre914;
    Some(match (path, query_value(q, "status").as_deref()) {
        ("/api/v1/system/healthcheck", _) if pre_914 => {
            Err(ics_error(StatusCode::NOT_FOUND, "Not found"))
        }
        ("/dana-na/healthcheck/healthcheck.cgi", _) => Err(healthcheck_cgi(&view)),
        ("/api/v1/system/healthcheck", None) => {
            Ok(json!({ "message": "Security Gateway is accessible." }))
        }
        ("/api/v1/system/healthcheck", Some("all")) => Ok(view.health_all()),
        ("/api/v1/system/healthcheck", Some("sbr")) => Ok(json!({ "SBR-AVAILABLE": 1 })),
        ("/api/v1/system/healthcheck", Some(_)) => {
            Err(ics_error(StatusCode::NOT_FOUND, "Not found"))
        }
        ("/api/v1/system/active-users", _) => Ok(view.active_users(
            query_number(q, "number"),
            query_number(q, "start"),
            query_value(q, "name").as_deref(),
        )),
        ("/api/v1/cluster", _) => view
            .cluster()
            .ok_or_else(|| ics_error(StatusCode::NOT_FOUND, "Node is not part of a cluster")),
        ("/api/v1/license/license-server-lease-information", _) => view
            .leases()
            .ok_or_else(|| ics_error(StatusCode::NOT_FOUND, "Not a license server")),
        ("/api/v1/license/named-users", _) => Ok(view.named_users()),
        ("/api/v1/system/system-information", _) => Ok(view.system_information()),
        ("/api/v1/system/user-stats", _) => Ok(view.user_stats()),
        ("/api/v1/system/status/ntp", _) => view
            .ntp()
            .ok_or_else(|| ics_error(StatusCode::NOT_FOUND, "Not found")),
        ("/api/v1/configuration/authentication/endpoint/host-checker/esaps", _) => Ok(view.esaps()),
        ("/api/v1/system/status/overview", _) => Ok(view.overview()),
        _ => return None,
    })
}

/// healthcheck.cgi?status=all: the `?status=all` figures as `KEY=value;`
/// lines of text (shared/ics-api.md), numbers as the firmware prints them.
fn healthcheck_cgi(view: &data::View<'_>) -> Response<Body> {
    let mut text = String::new();
    if let Value::Object(m) = view.health_all() {
        for (k, v) in m {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            text.push_str(&format!("{k}={v};\n"));
        }
    }
    Response::builder()
        .header("content-type", "text/plain")
        .body(Body::from(text))
        .unwrap_or_default()
}

/// A 302 to `location`.
pub(super) fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .body(Body::empty())
        .unwrap_or_default()
}

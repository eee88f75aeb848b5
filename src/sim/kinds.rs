//! The neighbouring products the simulator also plays, each with its own
//! authentication flow and the payload shapes of its public guide:
//!
//! - **SPS**: `GET /api/authentication` with basic auth sets a `session_id`
//!   cookie that expires after [`super::FleetOptions::sps_session_ttl`]
//!   (about 20 minutes on a real box); `/api/health_status`,
//!   `/api/cluster/status` (three nodes; `set_member_unreachable` takes one
//!   down). Every other path, and every method but GET, is refused.
//! - **EPMM**: basic auth on every call; `/api/v2/devices` answers the
//!   `totalCount` of the query (counts derived from the seed, consistent
//!   between queries), `/api/v2/device_spaces` two spaces; both require
//!   `adminDeviceSpaceId`.
//!
//! Faults are applied by the caller exactly as for Connect Secure.

use super::data::unit;
use super::{json_response, Fault, Shared, State};
use axum::body::Body;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::time::Instant;

/// What a simulated appliance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimKind {
    /// Ivanti Connect Secure / Policy Secure.
    Ics,
    /// One Identity Safeguard for Privileged Sessions.
    Sps,
    /// Ivanti EPMM.
    Epmm,
    /// Ivanti Security Controls.
    Isec,
}

impl SimKind {
    /// The exporter's `kind:` value.
    pub fn name(self) -> &'static str {
        match self {
            SimKind::Ics => "ics",
            SimKind::Sps => "sps",
            SimKind::Epmm => "epmm",
            SimKind::Isec => "isec",
        }
    }

    /// Parse a `kind:` value.
    pub fn parse(s: &str) -> Option<SimKind> {
        [SimKind::Ics, SimKind::Sps, SimKind::Epmm, SimKind::Isec]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// A request as the kinds need it.
pub(super) struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub basic: Option<(String, String)>,
    pub cookie: Option<String>,
    pub authorization: Option<String>,
}

/// The JSON to send (faults may still spoil it), or a finished response.
// A response is large, but it is built once per request: boxing buys nothing.
#[allow(clippy::result_large_err)]
type Answer = Result<Value, Response<Body>>;

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({ "error": { "type": kind, "message": message, "details": {} } }),
    )
}

fn param<'a>(q: Option<&'a str>, key: &str) -> Option<&'a str> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// One Identity SPS.
#[allow(clippy::result_large_err)]
pub(super) fn sps(shared: &Shared, state: &State, t: f64, req: &Req<'_>) -> Answer {
    let fleet = &shared.fleet;
    if req.method != "GET" {
        return Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the monitor must only read",
        ));
    }
    let (_, user, pass) = &fleet.admin;
    if req.path == "/api/authentication" {
        shared.count_login();
        let ok = req
            .basic
            .as_ref()
            .is_some_and(|(u, p)| u == user && p == pass);
        if !ok {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationFailure",
                "Authenticating the user with the given credentials has failed.",
            ));
        }
        let id = format!("{:040x}", rand::random::<u128>());
        shared.update_state(|s| {
            s.cookies
                .retain(|_, at| at.elapsed() < fleet.sps_session_ttl);
            s.cookies.insert(id.clone(), Instant::now());
        });
        let mut resp = json_response(StatusCode::OK, &json!({ "key": id, "meta": {} }));
        if let Ok(v) = hyper::header::HeaderValue::from_str(&format!(
            "session_id={id}; Path=/; Secure; HttpOnly"
        )) {
            resp.headers_mut().insert(hyper::header::SET_COOKIE, v);
        }
        return Err(resp);
    }
    let valid = req.cookie.as_ref().is_some_and(|c| {
        state
            .cookies
            .get(c)
            .is_some_and(|at| at.elapsed() < fleet.sps_session_ttl)
    });
    if !valid || state.fault == Fault::Unauthorized {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Unauthenticated",
            "The requested resource cannot be retrieved because the client is not authenticated.",
        ));
    }
    if state.fault == Fault::Forbidden {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "The requested resource cannot be retrieved because the client is not authorized to access it.",
        ));
    }
    let seed = shared.seed;
    let minute = (t / 60.0) as u64;
    let pct = |what: &str, lo: f64, hi: f64| {
        let v = lo + (hi - lo) * unit((seed, what, minute));
        (v * 10.0).round() / 10.0
    };
    let sessions = |node: u64| {
        json!({
            "http": (unit((seed, node, "http", minute)) * 5.0) as u64,
            "rdp": (unit((seed, node, "rdp", minute)) * 20.0) as u64,
            "ssh": (unit((seed, node, "ssh", minute)) * 40.0) as u64,
            "vnc": 0,
        })
    };
    match req.path {
        "/api/health_status" => Ok(json!({
            "health_status": {
                "cpu": pct("cpu", 2.0, 35.0),
                "memory": pct("memory", 30.0, 70.0),
                "disk": pct("disk", 20.0, 60.0),
                "swap": pct("swap", 0.0, 4.0),
                "load1": pct("load1", 0.1, 2.0),
                "load5": pct("load5", 0.1, 1.5),
                "load15": pct("load15", 0.1, 1.0),
                "firmware": {
                    "integrity": { "boot": "OK", "core": "OK" },
                    "tainted_files": { "boot": 0, "core": 0, "ha_other": 0 }
                },
                "indexer": { "indexer_status": [
                    { "capabilities": ["index"], "workers_count": 2, "idle_workers_count": 1,
                      "indexer_jobs": (unit((seed, "jobs", minute)) * 6.0) as u64,
                      "screenshot_jobs": 0, "video_jobs": 0, "ip": "127.0.0.1" },
                    { "capabilities": ["screenshot", "video"], "workers_count": 1, "idle_workers_count": 1,
                      "indexer_jobs": 0, "screenshot_jobs": 0, "video_jobs": 0, "ip": "127.0.0.1" }
                ], "processing_tasks": [], "remaining_tasks": [], "worker_warnings": [] },
                "pipeline_queues": {
                    "session_events": pct("q1", 0.0, 20.0),
                    "indexer_events": pct("q2", 0.0, 20.0)
                },
                "raid": {
                    "disks": { "252:0": { "status": "OK" }, "252:1": { "status": "OK" } },
                    "status": { "status": "OK", "detailed_status": "OK", "operation_progress": 0 }
                },
                "sessions": sessions(0),
            }
        })),
        "/api/cluster/status" => {
            let now = fleet.started_unix + t;
            let ts = |secs: f64| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs.max(0.0)),
                )
                .to_string()
            };
            let items: Vec<Value> = (0..3u64)
                .map(|n| {
                    let key = format!("{:08x}-0000-4000-8000-{:012x}", seed as u32, n);
                    let down = n == 2 && state.member_unreachable;
                    json!({
                        "key": key,
                        "fqdn": format!("{}-node{}.sps.example", shared.name, n + 1),
                        "last_seen": ts(if down { now - 900.0 } else { now - 20.0 }),
                        "health_status": if down { Value::Null } else { json!({
                            "memory": pct("nm", 30.0, 70.0), "disk": pct("nd", 20.0, 60.0), "swap": 0,
                            "load1": pct("nl", 0.1, 2.0), "load5": 0.5, "load15": 0.4,
                            "sessions": sessions(n)
                        }) },
                        "sync_status": if n == 0 { "n/a" } else if down { "pending" } else { "in sync" },
                        "configuration_sync": { "issues": { "warnings": [] } },
                        "meta": { "href": format!("/api/cluster/status/{key}") }
                    })
                })
                .collect();
            Ok(
                json!({ "items": items, "meta": { "href": "/api/cluster/status", "parent": "/api/cluster" } }),
            )
        }
        _ => Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested object does not exist.",
        )),
    }
}

/// Ivanti EPMM.
#[allow(clippy::result_large_err)]
pub(super) fn epmm(shared: &Shared, state: &State, req: &Req<'_>) -> Answer {
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
    let seed = shared.seed;
    let total = 200 + (unit((seed, "devices")) * 3000.0) as u64;
    let share = |what: &str, lo: f64, hi: f64| {
        ((lo + (hi - lo) * unit((seed, what))) * total as f64) as u64
    };
    let active = share("ACTIVE", 0.8, 0.9);
    match req.path {
        "/api/v2/devices" => {
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
            Ok(json!({
                "results": [ { "common.uuid": format!("{:032x}", seed) } ],
                "totalCount": count,
                "resultCount": count.min(1),
                "hasMore": count > 1,
            }))
        }
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

/// Windows authentication state of one connection (Security Controls).
#[derive(Default)]
pub(super) enum ConnAuth {
    /// Nothing yet.
    #[default]
    None,
    /// CHALLENGE sent; the server context waits for AUTHENTICATE.
    Challenged(
        Box<(
            sspi::Ntlm,
            <sspi::Ntlm as sspi::SspiImpl>::CredentialsHandle,
        )>,
    ),
    /// Authenticated: later requests on this connection need no header.
    Authenticated,
}

/// The Windows account the simulated console accepts: `SIM\<admin user>`.
pub fn isec_user(admin_user: &str) -> String {
    format!("SIM\\{admin_user}")
}

fn www_authenticate(values: &[String]) -> Response<Body> {
    let mut b = Response::builder().status(StatusCode::UNAUTHORIZED);
    for v in values {
        b = b.header(hyper::header::WWW_AUTHENTICATE, v.as_str());
    }
    b.body(Body::from(
        "401 - Unauthorized: Access is denied due to invalid credentials.",
    ))
    .unwrap_or_default()
}

/// One NTLM step on the server side; `Ok(Some(challenge))`, `Ok(None)` when
/// authenticated, `Err` when rejected.
fn ntlm_step(
    conn: &mut ConnAuth,
    shared: &Shared,
    token: &[u8],
) -> Result<Option<Vec<u8>>, String> {
    use sspi::{
        AuthIdentity, BufferType, CredentialUse, DataRepresentation, SecurityBuffer,
        SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
    };
    let (mut ntlm, mut handle) = match std::mem::take(conn) {
        ConnAuth::Challenged(b) => *b,
        _ => {
            let (_, user, pass) = &shared.fleet.admin;
            let mut ntlm = sspi::Ntlm::new();
            let identity = AuthIdentity {
                username: Username::parse(&isec_user(user)).map_err(|e| e.to_string())?,
                password: sspi::Secret::from(pass.clone()),
            };
            let acquired = ntlm
                .acquire_credentials_handle()
                .with_credential_use(CredentialUse::Inbound)
                .with_auth_data(&identity)
                .execute(&mut ntlm)
                .map_err(|e| e.to_string())?;
            (ntlm, acquired.credentials_handle)
        }
    };
    let mut input = vec![SecurityBuffer::new(token.to_vec(), BufferType::Token)];
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = ntlm
        .accept_security_context()
        .with_credentials_handle(&mut handle)
        .with_context_requirements(ServerRequestFlags::empty())
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    let result = ntlm
        .accept_security_context_impl(builder)
        .and_then(|mut g| g.resolve_to_result())
        .map_err(|e| e.to_string())?;
    match result.status {
        SecurityStatus::ContinueNeeded => {
            let challenge = std::mem::take(&mut output[0].buffer);
            *conn = ConnAuth::Challenged(Box::new((ntlm, handle)));
            Ok(Some(challenge))
        }
        SecurityStatus::CompleteNeeded | SecurityStatus::CompleteAndContinue => {
            shared.count_login();
            ntlm.complete_auth_token(&mut output)
                .map_err(|e| e.to_string())?;
            *conn = ConnAuth::Authenticated;
            Ok(None)
        }
        SecurityStatus::Ok => {
            shared.count_login();
            *conn = ConnAuth::Authenticated;
            Ok(None)
        }
        other => Err(format!("{other:?}")),
    }
}

/// Ivanti Security Controls: NTLM (or Negotiate with a raw NTLM token),
/// connection-based like IIS.
#[allow(clippy::result_large_err)]
pub(super) fn isec(
    shared: &Shared,
    state: &State,
    t: f64,
    req: &Req<'_>,
    conn: &std::sync::Mutex<ConnAuth>,
) -> Answer {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let offer = || www_authenticate(&["Negotiate".to_owned(), "NTLM".to_owned()]);
    let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    if state.fault == Fault::Unauthorized {
        *conn = ConnAuth::None;
        return Err(offer());
    }
    if !matches!(*conn, ConnAuth::Authenticated) {
        let Some((scheme, token)) = req.authorization.as_deref().and_then(|h| h.split_once(' '))
        else {
            return Err(offer());
        };
        if !scheme.eq_ignore_ascii_case("NTLM") && !scheme.eq_ignore_ascii_case("Negotiate") {
            return Err(offer());
        }
        let Ok(token) = b64.decode(token.trim()) else {
            *conn = ConnAuth::None;
            return Err(offer());
        };
        match ntlm_step(&mut conn, shared, &token) {
            Ok(Some(challenge)) => {
                return Err(www_authenticate(&[format!(
                    "{scheme} {}",
                    b64.encode(challenge)
                )]));
            }
            Ok(None) => {}
            Err(_) => {
                *conn = ConnAuth::None;
                return Err(offer());
            }
        }
    }
    if state.fault == Fault::Forbidden {
        return Err(json_response(
            StatusCode::FORBIDDEN,
            &json!({ "message": "The user is not a Security Controls administrator." }),
        ));
    }
    if req.method != "GET" {
        return Err(json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({ "message": "read only" }),
        ));
    }
    let seed = shared.seed;
    let agents = 50 + (unit((seed, "agents")) * 2000.0) as u64;
    let api = "/st/console/api/v1.0";
    let Some(resource) = req.path.strip_prefix(api) else {
        return Err(json_response(
            StatusCode::NOT_FOUND,
            &json!({ "message": "Not found" }),
        ));
    };
    match resource {
        "/configuration/version" => {
            Ok(json!({ "version": format!("2024.1.0.{}", 1000 + shared.index) }))
        }
        "/agents" => Ok(json!({
            "count": agents,
            "value": (0..agents.min(3)).map(|i| json!({ "agentId": format!("{seed:08x}-{i:04}"), "status": "Online" })).collect::<Vec<_>>(),
        })),
        "/machines" => Ok(json!({ "count": agents + agents / 5, "value": [] })),
        "/operations" => {
            let epoch = (t / 60.0) as u64;
            let statuses = ["Succeeded", "Succeeded", "Succeeded", "Running", "Failed"];
            let n = 3 + (unit((seed, "ops", epoch)) * 8.0) as usize;
            let value: Vec<Value> = (0..n)
                .map(|i| {
                    json!({ "operationId": format!("{epoch}-{i}"), "operation": "PatchScan",
                                 "status": statuses[(i + epoch as usize) % statuses.len()] })
                })
                .collect();
            Ok(json!({ "count": n, "value": value }))
        }
        _ => Err(json_response(
            StatusCode::NOT_FOUND,
            &json!({ "message": "Not found" }),
        )),
    }
}

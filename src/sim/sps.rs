//! One Identity SPS: a `session_id` cookie from `GET /api/authentication`,
//! health and cluster status.

use super::data::unit;
use super::faults::Fault;
use super::fleet::{Shared, State};
use super::products::{error, modelled_or_fixture, Answer, Req, SimKind};
use super::request::json_response;
use axum::body::Body;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::time::Instant;

/// One Identity SPS: `GET /api/authentication` issues the cookie; the
/// other GETs need it.
pub(super) fn sps(shared: &Shared, state: &State, t: f64, req: &Req<'_>) -> Answer {
    if req.method != "GET" {
        return Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the monitor must only read",
        ));
    }
    if req.path == "/api/authentication" {
        return Err(login(shared, req));
    }
    check_session(shared, state, req)?;
    let g = Gauges {
        seed: shared.seed,
        minute: (t / 60.0) as u64,
    };
    let modelled = match req.path {
        "/api/health_status" => Some(Ok(health_status(&g))),
        "/api/cluster/status" => Some(Ok(cluster_status(shared, state, t, &g))),
        _ => None,
    };
    modelled_or_fixture(SimKind::Sps, req.path, req.query, modelled, || {
        error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested object does not exist.",
        )
    })
}

/// Basic auth in, a `session_id` cookie out.
fn login(shared: &Shared, req: &Req<'_>) -> Response<Body> {
    let fleet = &shared.fleet;
    let (_, user, pass) = &fleet.admin;
    shared.count_login();
    let ok = req
        .basic
        .as_ref()
        .is_some_and(|(u, p)| u == user && p == pass);
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailure",
            "Authenticating the user with the given credentials has failed.",
        );
    }
    let id = format!("{:040x}", rand::random::<u128>());
    shared.update_state(|s| {
        s.cookies
            .retain(|_, at| at.elapsed() < fleet.sps_session_ttl);
        s.cookies.insert(id.clone(), Instant::now());
    });
    let mut resp = json_response(StatusCode::OK, &json!({ "key": id, "meta": {} }));
    if let Ok(v) =
        hyper::header::HeaderValue::from_str(&format!("session_id={id}; Path=/; Secure; HttpOnly"))
    {
        resp.headers_mut().insert(hyper::header::SET_COOKIE, v);
    }
    resp
}

/// The cookie must be one issued and not expired.
fn check_session(shared: &Shared, state: &State, req: &Req<'_>) -> Result<(), Response<Body>> {
    let fleet = &shared.fleet;
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
    Ok(())
}

/// Values that change every minute, the same for every reader.
struct Gauges {
    seed: u64,
    minute: u64,
}

impl Gauges {
    fn pct(&self, what: &str, lo: f64, hi: f64) -> f64 {
        let v = lo + (hi - lo) * unit((self.seed, what, self.minute));
        (v * 10.0).round() / 10.0
    }

    fn sessions(&self, node: u64) -> Value {
        let (seed, minute) = (self.seed, self.minute);
        json!({
            "http": (unit((seed, node, "http", minute)) * 5.0) as u64,
            "rdp": (unit((seed, node, "rdp", minute)) * 20.0) as u64,
            "ssh": (unit((seed, node, "ssh", minute)) * 40.0) as u64,
            "vnc": 0,
        })
    }
}

/// `GET /api/health_status`.
fn health_status(g: &Gauges) -> Value {
    let (seed, minute) = (g.seed, g.minute);
    let pct = |what: &str, lo: f64, hi: f64| g.pct(what, lo, hi);
    let sessions = |node: u64| g.sessions(node);
    json!({
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
    })
}

/// `GET /api/cluster/status`: three nodes, as the REST API Reference
/// Guide's sample shows them: the answering node (`meta.self`) with
/// `sync_status: "n/a"`, no `last_seen` and `health_status: null` (its
/// health is at `/api/health_status`); `set_member_unreachable` makes node 3
/// a member last seen 15 minutes ago with `health_status: null`.
fn cluster_status(shared: &Shared, state: &State, t: f64, g: &Gauges) -> Value {
    let fleet = &shared.fleet;
    let seed = g.seed;
    let pct = |what: &str, lo: f64, hi: f64| g.pct(what, lo, hi);
    let sessions = |node: u64| g.sessions(node);

    let now = fleet.started_unix + t;
    let ts = |secs: f64| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs.max(0.0)),
        )
        .to_string()
    };
    let key = |n: u64| format!("{:08x}-0000-4000-8000-{:012x}", seed as u32, n);
    let items: Vec<Value> = (0..3u64)
        .map(|n| {
            let key = key(n);
            let fqdn = format!("{}-node{}.sps.example", shared.name, n + 1);
            let href = format!("/api/cluster/status/{key}");
            if n == 0 {
                return json!({
                    "key": key, "fqdn": fqdn, "health_status": null, "sync_status": "n/a",
                    "meta": { "configuration": format!("/api/cluster/nodes/{key}"), "href": href }
                });
            }
            let down = n == 2 && state.member_unreachable;
            json!({
                "key": key,
                "fqdn": fqdn,
                "last_seen": ts(if down { now - 900.0 } else { now - 20.0 }),
                "health_status": if down { Value::Null } else { json!({
                    "memory": pct("nm", 30.0, 70.0), "disk": pct("nd", 20.0, 60.0), "swap": 0,
                    "load1": pct("nl", 0.1, 2.0), "load5": 0.5, "load15": 0.4,
                    "sessions": sessions(n)
                }) },
                "sync_status": if down { "pending" } else { "in sync" },
                "configuration_sync": { "issues": { "warnings": [] } },
                "meta": { "configuration": format!("/api/cluster/nodes/{key}"), "href": href }
            })
        })
        .collect();
    json!({ "items": items, "meta": {
        "href": "/api/cluster/status", "parent": "/api/cluster",
        "self": format!("/api/cluster/status/{}", key(0))
    } })
}

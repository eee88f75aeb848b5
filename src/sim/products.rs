//! What a simulated appliance is, and the request view the neighbouring
//! products share. The neighbouring products the simulator also plays, each with its own
//! authentication flow and the payload shapes of its public guide:
//!
//! - **SPS**: `GET /api/authentication` with basic auth sets a `session_id`
//!   cookie that expires after [`super::FleetOptions::sps_session_ttl`]
//!   (about 20 minutes on a real box); `/api/health_status`,
//!   `/api/cluster/status` (three nodes like the guide's sample: the
//!   answering one with `health_status: null`; `set_member_unreachable`
//!   takes a member down, last seen 15 minutes ago). Every other path, and every method but GET, is refused.
//! - **EPMM**: basic auth on every call; `/api/v2/devices` answers the
//!   `totalCount` of the query (2,000 devices, a fixed count per documented
//!   `common.status`, e.g. 1,700 `ACTIVE`, 40 `VERIFICATION_PENDING`; bare
//!   field names only), `/api/v2/device_spaces` two spaces; both require
//!   `adminDeviceSpaceId`.
//!
//! Faults are applied by the caller exactly as for Connect Secure.

use super::request::{basic_auth, json_response};
use axum::body::Body;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
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

impl<'a> Req<'a> {
    /// The view of a request that the neighbour products read.
    pub(super) fn of(req: &'a Request<hyper::body::Incoming>) -> Req<'a> {
        let header = |name| {
            req.headers()
                .get_all(name)
                .iter()
                .filter_map(|v: &hyper::header::HeaderValue| v.to_str().ok())
        };
        Req {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            basic: basic_auth(req),
            cookie: header(hyper::header::COOKIE)
                .flat_map(|v| v.split(';'))
                .find_map(|c| c.trim().strip_prefix("session_id=").map(str::to_owned)),
            authorization: header(hyper::header::AUTHORIZATION)
                .next()
                .map(str::to_owned),
        }
    }
}

/// The JSON to send (faults may still spoil it), or a finished response.
// A response is large, but it is built once per request: boxing buys nothing.
#[allow(clippy::result_large_err)]
pub(super) type Answer = Result<Value, Response<Body>>;

pub(super) fn error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({ "error": { "type": kind, "message": message, "details": {} } }),
    )
}

//! What every simulated product reads of a request and how it answers.

use axum::body::Body;
use base64::Engine as _;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::str::FromStr;

pub(super) fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap_or_default()
}

pub(super) fn ics_error(status: StatusCode, msg: &str) -> Response<Body> {
    json_response(
        status,
        &json!({ "result": { "errors": [ { "message": msg } ] } }),
    )
}

pub(super) fn basic_auth<B>(req: &Request<B>) -> Option<(String, String)> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let b64 = h.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The first value of `key` in a query string, decoded as a form
/// (`+` is a space, `%XX` a byte; invalid UTF-8 replaced): the one query
/// codec of the simulator, `url`'s.
pub(super) fn query_value(q: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(q?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The first value of `key` as a number; `None` when absent or not one.
pub(super) fn query_number<N: FromStr>(q: Option<&str>, key: &str) -> Option<N> {
    query_value(q, key)?.parse().ok()
}

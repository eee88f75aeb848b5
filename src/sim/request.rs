//! What every simulated product reads of a request and how it answers.

use super::*;

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

pub(super) fn basic_auth(req: &Request<hyper::body::Incoming>) -> Option<(String, String)> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let b64 = h.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

pub(super) fn query_param(q: Option<&str>, key: &str) -> Option<usize> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

//! Faults injected per appliance: what happens before an answer (hang,
//! latency, refusing), answers that replace any other (5xx, an HTML page,
//! a redirect), and what is done to an answer (cut, huge, truncated).

use super::ics::redirect;
use super::products::Reply;
use super::request::ics_error;
use axum::body::Body;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::time::Duration;

/// A fault injected into one appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Healthy.
    None,
    /// Answer correctly, after a delay.
    Latency(Duration),
    /// Read the request, never answer.
    Hang,
    /// Stop listening (connection refused) and drop open connections.
    Refuse,
    /// Alternate between `Refuse` and healthy every period: a host that
    /// keeps dropping off the network and coming back.
    Flap(Duration),
    /// 401 on every authenticated call.
    Unauthorized,
    /// 403 on every authenticated call.
    Forbidden,
    /// 500 with an ICS error body.
    ServerError,
    /// 503.
    ServiceUnavailable,
    /// 200 with the appliance's HTML sign-in page.
    HtmlLogin,
    /// 302 to the sign-in page.
    Redirect,
    /// 200 with truncated JSON.
    BrokenJson,
    /// 200 with a 64 MiB JSON array, streamed.
    HugeBody,
    /// A Content-Length larger than the body, then the connection closes.
    TruncatedBody,
    /// `realm_auth` answers with a `resume_id` (second factor required).
    SecondFactor,
}

impl Fault {
    /// Parse a fault name as used by `--faults`.
    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s {
            "none" => Fault::None,
            "latency" => Fault::Latency(Duration::from_secs(2)),
            "hang" | "timeout" => Fault::Hang,
            "refuse" | "refused" => Fault::Refuse,
            "flap" => Fault::Flap(Duration::from_secs(3)),
            "unauthorized" | "401" => Fault::Unauthorized,
            "forbidden" | "403" => Fault::Forbidden,
            "server_error" | "500" => Fault::ServerError,
            "unavailable" | "503" => Fault::ServiceUnavailable,
            "html_login" | "html" => Fault::HtmlLogin,
            "redirect" => Fault::Redirect,
            "broken_json" => Fault::BrokenJson,
            "huge_body" => Fault::HugeBody,
            "truncated_body" => Fault::TruncatedBody,
            "second_factor" => Fault::SecondFactor,
            _ => {
                if let Some(d) = s.strip_prefix("latency:") {
                    Fault::Latency(humantime::parse_duration(d).ok()?)
                } else if let Some(d) = s.strip_prefix("flap:") {
                    Fault::Flap(
                        humantime::parse_duration(d)
                            .ok()?
                            .max(Duration::from_millis(100)),
                    )
                } else {
                    return None;
                }
            }
        })
    }

    /// The faults `--faults ratio=` cycles through.
    pub const CYCLE: &'static [&'static str] = &[
        "hang",
        "refuse",
        "flap",
        "unauthorized",
        "server_error",
        "unavailable",
        "html_login",
        "broken_json",
        "huge_body",
        "truncated_body",
        "latency",
    ];
}

pub(super) const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Ivanti Connect Secure</title></head>\
<body><form name=\"frmLogin\" action=\"login.cgi\" method=\"POST\"><input type=\"text\" name=\"username\">\
<input type=\"password\" name=\"password\"><input type=\"submit\" value=\"Sign In\"></form></body></html>\n";

/// Number of 64 KiB chunks in a [`Fault::HugeBody`] answer (64 MiB).
pub(super) const HUGE_BODY_CHUNKS: usize = 1024;

/// Head, 64 KiB middle chunk and tail of a [`Fault::HugeBody`] answer: a
/// valid-looking active-users document whose record list never ends.
pub(super) fn huge_body_parts() -> (Bytes, Bytes, Bytes) {
    static CHUNK: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let chunk = CHUNK.get_or_init(|| {
        let rec = br#"{"active-user-name":"user00000","authentication-realm":"Users","events":0,"login-node":"node","session-id":"sid0000000000000000000000000000000000000000000000"},"#;
        let mut v = Vec::with_capacity(64 * 1024 + rec.len());
        while v.len() + rec.len() <= 64 * 1024 {
            v.extend_from_slice(rec);
        }
        // Pad with whitespace to exactly 64 KiB.
        v.resize(64 * 1024, b' ');
        Bytes::from(v)
    });
    (
        Bytes::from_static(br#"{"active-users":{"active-user-records":{"active-user-record":["#),
        chunk.clone(),
        Bytes::from_static(
            br#"{"events":0}]},"total-matched-record-number":1,"total-returned-record-number":1}}"#,
        ),
    )
}

/// An answer that replaces any other: 5xx, the sign-in page, a redirect.
pub(super) fn replacing_answer(fault: &Fault) -> Option<Response<Body>> {
    Some(match fault {
        Fault::ServerError => ics_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
        Fault::ServiceUnavailable => {
            let mut resp = ics_error(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable");
            resp.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("30"),
            );
            resp
        }
        Fault::HtmlLogin => Response::builder()
            .header("content-type", "text/html; charset=utf-8")
            .body(Body::from(LOGIN_PAGE))
            .unwrap_or_default(),
        Fault::Redirect => redirect("/dana-na/auth/url_default/welcome.cgi"),
        _ => return None,
    })
}

/// The answer as sent, spoiled by the fault if it is one that does.
pub(super) fn shape_answer(fault: &Fault, answer: Reply) -> Response<Body> {
    use futures_util::StreamExt as _;
    match fault {
        Fault::BrokenJson => {
            let text = answer.into_bytes();
            let cut = text.len() / 2;
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from(text.slice(..cut)))
                .unwrap_or_default()
        }
        Fault::HugeBody => {
            // ~64 MiB of session records, the same 64 KiB chunk over and over.
            let (head, chunk, tail) = huge_body_parts();
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(head)])
                .chain(futures_util::stream::iter(
                    (0..HUGE_BODY_CHUNKS).map(move |_| Ok(chunk.clone())),
                ))
                .chain(futures_util::stream::iter([Ok(tail)]));
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(body))
                .unwrap_or_default()
        }
        Fault::TruncatedBody => {
            let text = answer.into_bytes();
            let cut = text.len() / 2;
            // Headers and half the body go out (the pause lets them be
            // flushed), then the connection is closed.
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(text.slice(..cut))])
                .chain(futures_util::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(std::io::Error::other("connection lost"))
                }));
            Response::builder()
                .header("content-type", "application/json")
                .header("content-length", text.len().to_string())
                .body(Body::from_stream(body))
                .unwrap_or_default()
        }
        _ => Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(answer.into_bytes()))
            .unwrap_or_default(),
    }
}

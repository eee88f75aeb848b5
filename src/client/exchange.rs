//! One request and its whole response over one connection (hyper's
//! connection-level HTTP/1.1 client), with the body cap.

use super::errors::{describe, hyper_error};
use super::{ApiClient, ApiResponse, Auth, Stream, USER_AGENT};
use crate::error::CollectError;
use crate::secret::Secret;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{
    HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE,
    COOKIE, HOST, PROXY_AUTHORIZATION, RETRY_AFTER, SET_COOKIE, USER_AGENT as USER_AGENT_HEADER,
    WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Version};
use hyper_util::rt::TokioIo;

/// Aborts a spawned task when dropped (a timed-out request must not leave
/// its connection task behind).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A failed exchange, and whether the appliance saw any of it answered.
pub(super) enum Failure {
    /// Nothing came back (a stale kept-alive connection looks like this).
    BeforeResponse(CollectError),
    /// A response started, then failed or was refused.
    After(CollectError),
}

impl Failure {
    pub(super) fn into_error(self) -> CollectError {
        match self {
            Failure::BeforeResponse(e) | Failure::After(e) => e,
        }
    }
}

impl ApiClient {
    pub(super) fn request(
        &self,
        method: &Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Bytes>,
    ) -> Result<Request<Full<Bytes>>, CollectError> {
        let ep = &self.endpoint;
        // Through a proxy, plain HTTP goes in absolute form; HTTPS is
        // tunnelled, so the appliance sees the usual origin form.
        let target = if self.transport.proxy.is_some() && !ep.tls {
            format!("{}{}", ep.base, path)
        } else {
            format!("{}{}", ep.prefix, path)
        };
        let mut b = Request::builder()
            .method(method.clone())
            .uri(target)
            .header(HOST, ep.authority.clone())
            .header(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT))
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let (Some(p), false) = (&self.transport.proxy, ep.tls) {
            if let Some(a) = &p.authorization {
                b = b.header(PROXY_AUTHORIZATION, sensitive(a.expose())?);
            }
        }
        let credential = match auth {
            Auth::None => None,
            Auth::ApiKey(key) => Some((AUTHORIZATION, basic(key.expose(), ""))),
            Auth::Basic(user, pass) => Some((AUTHORIZATION, basic(user, pass.expose()))),
            Auth::Cookie(name, value) => Some((COOKIE, format!("{name}={}", value.expose()))),
            Auth::Authorization(value) => Some((AUTHORIZATION, value.expose().to_owned())),
        };
        if let Some((name, value)) = credential {
            b = b.header::<HeaderName, HeaderValue>(name, sensitive(&value)?);
        }
        if body.is_some() {
            b = b.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        b.body(Full::new(body.unwrap_or_default()))
            .map_err(|e| CollectError::Connect(format!("{}{path}: invalid request: {e}", ep.base)))
    }

    /// One request and its whole response on `stream`; the stream goes back
    /// to the idle list when the response allows it.
    pub(super) async fn exchange(
        &self,
        stream: Stream,
        req: Request<Full<Bytes>>,
        url: &str,
    ) -> Result<ApiResponse, Failure> {
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::BeforeResponse(hyper_error(url, &e)))?;
        let mut conn = AbortOnDrop(tokio::spawn(conn.without_shutdown()));
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                // The connection task usually holds the better reason (a TLS alert).
                let err = match (&mut conn.0).await {
                    Ok(Err(ce)) => hyper_error(url, &ce),
                    _ => hyper_error(url, &e),
                };
                return Err(Failure::BeforeResponse(err));
            }
        };
        let (head, mut body) = resp.into_parts();
        let headers = &head.headers;
        let all = |name| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v: &HeaderValue| v.to_str().ok())
        };
        let content_type = all(CONTENT_TYPE).next().map(str::to_owned);
        let retry_after = all(RETRY_AFTER).next().and_then(retry_after_seconds);
        let set_cookie = all(SET_COOKIE).map(|v| Secret::new(v.to_owned())).collect();
        let www_authenticate = all(WWW_AUTHENTICATE).map(str::to_owned).collect();
        let declared = all(CONTENT_LENGTH)
            .next()
            .and_then(|v| v.parse::<u64>().ok());
        let keep_alive = head.version == Version::HTTP_11
            && !all(CONNECTION).any(|v| v.to_ascii_lowercase().contains("close"));
        if declared.is_some_and(|n| n > self.body_limit as u64) {
            return Err(Failure::After(CollectError::TooLarge {
                limit: self.body_limit,
            }));
        }
        let mut data = Vec::with_capacity(declared.unwrap_or(0).min(1 << 20) as usize);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                Failure::After(CollectError::Connect(format!(
                    "response body cut off: {}",
                    describe(url, &e).1
                )))
            })?;
            if let Ok(chunk) = frame.into_data() {
                if data.len() + chunk.len() > self.body_limit {
                    return Err(Failure::After(CollectError::TooLarge {
                        limit: self.body_limit,
                    }));
                }
                data.extend_from_slice(&chunk);
            }
        }
        drop(sender);
        if keep_alive {
            if let Ok(Ok(parts)) = (&mut conn.0).await {
                if parts.read_buf.is_empty() {
                    self.put_idle(parts.io.into_inner());
                }
            }
        }
        Ok(ApiResponse {
            status: head.status.as_u16(),
            content_type,
            body: data,
            retry_after,
            set_cookie,
            www_authenticate,
        })
    }
}

/// `Basic base64(user:password)`.
pub(super) fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A header value marked sensitive (never printed by hyper's debug output).
fn sensitive(v: &str) -> Result<HeaderValue, CollectError> {
    let mut h = HeaderValue::from_str(v)
        .map_err(|_| CollectError::Auth("credential is not a valid header value".into()))?;
    h.set_sensitive(true);
    Ok(h)
}

/// `Retry-After` in seconds: its delay form (`120`), or its HTTP-date form
/// (`Wed, 21 Oct 2026 07:28:00 GMT`, RFC 9110 section 10.2.3) as the
/// seconds from now to then (0 when it is past).
pub(super) fn retry_after_seconds(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .map_or(0, |d| d.as_secs_f64().ceil() as u64),
    )
}

#[cfg(test)]
mod retry_after_tests {
    use super::retry_after_seconds;
    use std::time::{Duration, SystemTime};

    #[test]
    fn both_forms_of_retry_after_are_read() {
        assert_eq!(retry_after_seconds("120"), Some(120));
        assert_eq!(retry_after_seconds(" 0 "), Some(0));
        // An HTTP-date 90 s from now: 89 or 90 s (the second it was made in).
        let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
        let secs = retry_after_seconds(&at).unwrap();
        assert!((89..=90).contains(&secs), "{at}: {secs}");
        assert_eq!(
            retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(0)
        );
        assert_eq!(retry_after_seconds("soon"), None);
    }
}

//! `http_server_config.headers` and `rate_limit`: the header set and the
//! token bucket of exporter-toolkit `web/handler.go`, and the middleware
//! that applies both to every response.

use super::{WebConfig, UNAUTHENTICATED};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The headers the toolkit lets a file set, with the values it accepts
/// (empty: any); `extraHTTPHeaders` in exporter-toolkit `web/handler.go`.
const ALLOWED: [(&str, &[&str]); 5] = [
    ("Content-Security-Policy", &[]),
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
];

/// Check `http_server_config.headers` as the toolkit does; a blank
/// free-form value leaves the header unset (the toolkit's "Unset if blank").
pub(super) fn headers(
    wanted: &BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut out = Vec::new();
    for (name, value) in wanted {
        let at = format!("http_server_config.headers.{name}");
        let Some((_, values)) = ALLOWED.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "{at}: this header can not be configured (the exporter-toolkit allows only {})",
                names.join(", ")
            ));
        };
        if !values.is_empty() && !values.contains(&value.as_str()) {
            return Err(format!("{at}: {value:?} is not one of {values:?}"));
        }
        if value.is_empty() {
            continue;
        }
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("{at}: not a valid header value"))?;
        out.push((HeaderName::from_static(static_name(name)), value));
    }
    Ok(out)
}

/// The `'static` lower-case name of an allowed header.
fn static_name(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        _ => "x-xss-protection",
    }
}

/// `rate_limit`: a token bucket of `burst` tokens, one more every
/// `interval` (Go's `rate.NewLimiter(rate.Every(interval), burst)`, which
/// starts full); a request without a token is answered 429.
#[derive(Debug)]
pub struct RateLimit {
    /// One token per this long.
    pub interval: Duration,
    /// Bucket size.
    pub burst: u32,
    /// Tokens left (fractional) and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub(super) fn new(interval: Duration, burst: u32) -> RateLimit {
        RateLimit {
            interval,
            burst,
            state: Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    /// Take a token at `now`, if there is one.
    pub fn allow_at(&self, now: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(s.1).as_secs_f64();
        let tokens = (s.0 + elapsed / self.interval.as_secs_f64()).min(f64::from(self.burst));
        *s = (tokens, now.max(s.1));
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The rate limit (probes exempt, as from basic auth: a kubelet probe
/// answered 429 would restart the pod), then the configured headers on
/// whatever the inner layers answer, 429 and 401 included.
pub async fn middleware(
    axum::extract::State(web): axum::extract::State<WebConfig>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limited = match &web.rate_limit {
        Some(limit) if !UNAUTHENTICATED.contains(&req.uri().path()) => {
            !limit.allow_at(Instant::now())
        }
        _ => false,
    };
    let mut resp = if limited {
        (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response()
    } else {
        next.run(req).await
    };
    for (name, value) in web.headers.iter() {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

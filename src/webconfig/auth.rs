//! `basic_auth_users`: the bcrypt check of `Authorization: Basic ...` and
//! the middleware that asks for it on every endpoint but
//! [`UNAUTHENTICATED`](super::UNAUTHENTICATED).

use super::{WebConfig, UNAUTHENTICATED};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

impl WebConfig {
    /// True when `Authorization: Basic ...` matches a configured user (or none are configured).
    pub fn authorized(&self, header: Option<&str>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        use base64::Engine as _;
        let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(raw) = String::from_utf8(raw) else {
            return false;
        };
        let Some((user, password)) = raw.split_once(':') else {
            return false;
        };
        match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash.expose()).unwrap_or(false),
            // Spend the same time for unknown users as for wrong passwords.
            None => {
                let _ = bcrypt::verify(password, DUMMY_HASH);
                false
            }
        }
    }
}

/// bcrypt("x", cost 10), used to equalise timing for unknown users.
const DUMMY_HASH: &str = "$2b$10$3euPcmQFCiblsZeEu5s7p.9OVHgeHWFDk9nhMqZ0m/3pd/lhwZgES";

/// Basic authentication when `basic_auth_users` is set: 401 with a
/// `WWW-Authenticate` challenge unless the request carries a configured
/// user and password.
pub async fn require_auth(
    axum::extract::State(web): axum::extract::State<WebConfig>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if web.users.is_empty() || UNAUTHENTICATED.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // bcrypt is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || web.authorized(header.as_deref()))
        .await
        .unwrap_or(false);
    if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(
                axum::http::header::WWW_AUTHENTICATE,
                "Basic realm=\"ivanti-exporter\"",
            )],
            "Unauthorized\n",
        )
            .into_response()
    }
}

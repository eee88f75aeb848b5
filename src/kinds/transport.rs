//! The seam between a kind and HTTP: the calls a kind makes of an
//! appliance (a `GET`, the documented login `POST`, the base URL and the
//! request timeout). [`ApiClient`] is the real one; the crate's own tests
//! use `testing::FixtureTransport` (answers from `tests/fixtures/<kind>/`,
//! records the calls) and `testing::ScriptedTransport` (answers in the
//! order a test scripts, and fails on any call it was not given), as
//! snmp_exporter's `scraper.Scraper` and its mock do. (Plain names, not
//! links: `testing` is compiled only under `cfg(test)`, so `cargo doc`
//! has no page to link to.)

use super::BoxFuture;
use crate::client::{ApiClient, ApiResponse, Auth};
use crate::error::CollectError;
use std::time::Duration;

/// What a kind asks of an appliance's HTTP client.
pub trait Transport: Send + Sync + 'static {
    /// `GET base + path_and_query`.
    fn get<'a>(
        &'a self,
        path: &'a str,
        auth: Auth<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, CollectError>>;
    /// `POST` a JSON body to one of the kind's declared login paths.
    fn post_login<'a>(
        &'a self,
        path: &'static str,
        auth: Auth<'a>,
        json: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<ApiResponse, CollectError>>;
    /// The appliance's base URL (`https://host:port`).
    fn base_url(&self) -> &str;
    /// The request timeout.
    fn timeout(&self) -> Duration;
}

impl Transport for ApiClient {
    fn get<'a>(
        &'a self,
        path: &'a str,
        auth: Auth<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, CollectError>> {
        Box::pin(ApiClient::get(self, path, auth))
    }

    fn post_login<'a>(
        &'a self,
        path: &'static str,
        auth: Auth<'a>,
        json: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<ApiResponse, CollectError>> {
        Box::pin(ApiClient::post_login(self, path, auth, json))
    }

    fn base_url(&self) -> &str {
        ApiClient::base_url(self)
    }

    fn timeout(&self) -> Duration {
        ApiClient::timeout(self)
    }
}

/// Test transports (compiled for the crate's own tests only).
#[cfg(test)]
pub mod testing {
    use super::Transport;
    use crate::client::{ApiResponse, Auth};
    use crate::error::CollectError;
    use crate::kinds::BoxFuture;
    use crate::sim::fixtures::fixture_candidates;
    use std::collections::VecDeque;
    use std::path::PathBuf;
    use std::sync::Mutex;
    use std::time::Duration;

    /// One call a kind made: method, path with query, and how it
    /// authenticated (`none`, `key:<key>`, `basic:<user>`, `cookie:<name>`,
    /// `authorization:<scheme>`; secrets are shown so tests can check which
    /// key was sent).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Call {
        /// `GET` or `POST`.
        pub method: &'static str,
        /// Path and query.
        pub path: String,
        /// How it authenticated.
        pub auth: String,
        /// The JSON body of a `POST`.
        pub body: Option<serde_json::Value>,
    }

    fn describe(auth: &Auth<'_>) -> String {
        match auth {
            Auth::None => "none".into(),
            Auth::ApiKey(k) => format!("key:{}", k.expose()),
            Auth::Basic(u, _) => format!("basic:{u}"),
            Auth::Cookie(name, v) => format!("cookie:{name}={}", v.expose()),
            Auth::Authorization(v) => {
                let v = v.expose();
                format!("authorization:{}", v.split(' ').next().unwrap_or(""))
            }
        }
    }

    /// A response with `status` and `body`.
    pub fn response(status: u16, body: impl Into<Vec<u8>>) -> ApiResponse {
        ApiResponse {
            status,
            content_type: Some("application/json".into()),
            body: body.into(),
            retry_after: None,
            set_cookie: Vec::new(),
            www_authenticate: Vec::new(),
        }
    }

    /// Answers every `GET` from the vendor fixtures of one kind
    /// (`tests/fixtures/<kind>/`, [`fixture_candidates`]), optionally
    /// preferring one variant; a request with no fixture is a 404 and is
    /// listed by [`FixtureTransport::missing`], so a test can name the
    /// file to add. A login `POST` gets `login`'s answer.
    #[derive(Debug)]
    pub struct FixtureTransport {
        root: PathBuf,
        variant: Option<String>,
        login: Option<serde_json::Value>,
        routes: Vec<(String, ApiResponse)>,
        calls: Mutex<Vec<Call>>,
        missing: Mutex<Vec<String>>,
    }

    impl FixtureTransport {
        /// The fixtures of `kind` (`ics`, `sps`, `epmm`, `isec`).
        pub fn new(kind: &str) -> Self {
            FixtureTransport {
                root: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures")
                    .join(kind),
                variant: None,
                login: None,
                routes: Vec::new(),
                calls: Mutex::default(),
                missing: Mutex::default(),
            }
        }

        /// Prefer `<path>__<variant>.json` where it exists.
        pub fn variant(mut self, variant: &str) -> Self {
            self.variant = Some(variant.to_owned());
            self
        }

        /// Answer a login `POST` with this JSON (200).
        pub fn login(mut self, answer: serde_json::Value) -> Self {
            self.login = Some(answer);
            self
        }

        /// Answer `GET path` (exactly, query included) with `answer`
        /// instead of a fixture: what no vendor document shows as a body
        /// (a login that only sets a cookie).
        pub fn route(mut self, path: &str, answer: ApiResponse) -> Self {
            self.routes.push((path.to_owned(), answer));
            self
        }

        /// Every call so far.
        pub fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }

        /// The fixture files that were asked for and do not exist (the
        /// bare-path name of each).
        pub fn missing(&self) -> Vec<String> {
            self.missing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        }

        fn answer(&self, path: &str) -> ApiResponse {
            if let Some((_, r)) = self.routes.iter().find(|(p, _)| p == path) {
                return r.clone();
            }
            let candidates = fixture_candidates(path, self.variant.as_deref());
            for c in &candidates {
                if let Ok(body) = std::fs::read(self.root.join(c)) {
                    return response(200, body);
                }
            }
            let wanted = self.root.join(candidates.last().map_or("", String::as_str));
            self.missing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(wanted.display().to_string());
            response(404, r#"{"result":{"errors":[{"message":"no fixture"}]}}"#)
        }

        fn record(&self, call: Call) {
            self.calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(call);
        }
    }

    impl Transport for FixtureTransport {
        fn get<'a>(
            &'a self,
            path: &'a str,
            auth: Auth<'a>,
        ) -> BoxFuture<'a, Result<ApiResponse, CollectError>> {
            self.record(Call {
                method: "GET",
                path: path.to_owned(),
                auth: describe(&auth),
                body: None,
            });
            let resp = self.answer(path);
            Box::pin(async move { Ok(resp) })
        }

        fn post_login<'a>(
            &'a self,
            path: &'static str,
            auth: Auth<'a>,
            json: &'a serde_json::Value,
        ) -> BoxFuture<'a, Result<ApiResponse, CollectError>> {
            self.record(Call {
                method: "POST",
                path: path.to_owned(),
                auth: describe(&auth),
                body: Some(json.clone()),
            });
            let resp = match &self.login {
                Some(v) => response(200, v.to_string()),
                None => response(404, "{}"),
            };
            Box::pin(async move { Ok(resp) })
        }

        fn base_url(&self) -> &str {
            "https://127.0.0.1:1"
        }

        fn timeout(&self) -> Duration {
            Duration::from_secs(5)
        }
    }

    /// One scripted exchange: the call the kind must make, and the answer.
    #[derive(Debug)]
    pub struct Step {
        method: &'static str,
        path: String,
        auth: Option<String>,
        answer: Result<ApiResponse, CollectError>,
    }

    /// `GET path` answered with `status` and `body`.
    pub fn get(path: &str, status: u16, body: impl Into<Vec<u8>>) -> Step {
        Step {
            method: "GET",
            path: path.to_owned(),
            auth: None,
            answer: Ok(response(status, body)),
        }
    }

    /// `POST path` answered with `status` and `body`.
    pub fn post(path: &str, status: u16, body: impl Into<Vec<u8>>) -> Step {
        Step {
            method: "POST",
            path: path.to_owned(),
            auth: None,
            answer: Ok(response(status, body)),
        }
    }

    impl Step {
        /// The call must authenticate so ([`Call::auth`]'s form).
        pub fn auth(mut self, auth: &str) -> Self {
            self.auth = Some(auth.to_owned());
            self
        }

        /// Answer with a transport error instead.
        pub fn fails(mut self, error: CollectError) -> Self {
            self.answer = Err(error);
            self
        }

        /// Change the scripted answer (headers such as `Set-Cookie`).
        pub fn with(mut self, f: impl FnOnce(&mut ApiResponse)) -> Self {
            if let Ok(r) = &mut self.answer {
                f(r);
            }
            self
        }

        /// Answer with these `WWW-Authenticate` headers too.
        pub fn www_authenticate(mut self, values: &[&str]) -> Self {
            if let Ok(r) = &mut self.answer {
                r.www_authenticate = values.iter().map(|v| (*v).to_owned()).collect();
            }
            self
        }
    }

    /// Answers the calls in the scripted order; a call that is not the
    /// next step panics with what was expected, so a test proves the
    /// exact sequence of requests. [`ScriptedTransport::finish`] checks
    /// that every step was used.
    #[derive(Debug)]
    pub struct ScriptedTransport {
        steps: Mutex<VecDeque<Step>>,
        calls: Mutex<Vec<Call>>,
    }

    impl ScriptedTransport {
        /// A transport that expects exactly these calls.
        pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
            ScriptedTransport {
                steps: Mutex::new(steps.into_iter().collect()),
                calls: Mutex::default(),
            }
        }

        /// Add steps at the end.
        pub fn then(&self, steps: impl IntoIterator<Item = Step>) {
            self.steps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(steps);
        }

        /// Every call so far.
        pub fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }

        /// Panics when scripted steps are left.
        pub fn finish(&self) {
            let left = self.steps.lock().unwrap_or_else(|p| p.into_inner());
            assert!(
                left.is_empty(),
                "steps not requested: {:?}",
                left.iter()
                    .map(|s| format!("{} {}", s.method, s.path))
                    .collect::<Vec<_>>()
            );
        }

        fn next(&self, call: Call) -> Result<ApiResponse, CollectError> {
            let step = self
                .steps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            let Some(step) = step else {
                panic!(
                    "unexpected call {} {} ({})",
                    call.method, call.path, call.auth
                );
            };
            assert_eq!(
                (step.method, step.path.as_str()),
                (call.method, call.path.as_str()),
                "the call made (right) is not the one scripted next (left)"
            );
            if let Some(auth) = &step.auth {
                assert_eq!(
                    auth, &call.auth,
                    "{} {}: authentication",
                    call.method, call.path
                );
            }
            self.calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(call);
            step.answer
        }
    }

    impl Transport for ScriptedTransport {
        fn get<'a>(
            &'a self,
            path: &'a str,
            auth: Auth<'a>,
        ) -> BoxFuture<'a, Result<ApiResponse, CollectError>> {
            let r = self.next(Call {
                method: "GET",
                path: path.to_owned(),
                auth: describe(&auth),
                body: None,
            });
            Box::pin(async move { r })
        }

        fn post_login<'a>(
            &'a self,
            path: &'static str,
            auth: Auth<'a>,
            json: &'a serde_json::Value,
        ) -> BoxFuture<'a, Result<ApiResponse, CollectError>> {
            let r = self.next(Call {
                method: "POST",
                path: path.to_owned(),
                auth: describe(&auth),
                body: Some(json.clone()),
            });
            Box::pin(async move { r })
        }

        fn base_url(&self) -> &str {
            "https://127.0.0.1:1"
        }

        fn timeout(&self) -> Duration {
            Duration::from_secs(5)
        }
    }
}

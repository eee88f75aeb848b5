//! The exporter's HTTP endpoints.
//!
//! | path | what |
//! |---|---|
//! | `/metrics` (`--web.telemetry-path`) | every target plus the exporter's own metrics |
//! | `/probe?target=<name>` | one configured target, from the cache; anything else is a 4xx and no request leaves |
//! | `/targets` | the configured targets for probe mode, in Prometheus `http_sd` JSON |
//! | `/-/healthy`, `/-/ready` | liveness; readiness once a configuration is applied |
//! | `/-/reload` (POST or PUT, as Prometheus) | reload the configuration file, with `--web.enable-lifecycle` (403 without) |
//! | `/` | the landing page ([`crate::landing`]): summary, one row per target, failing first |
//!
//! Every path is below `--web.route-prefix` ([`Paths`]); the links the
//! exporter writes (the page's, `/targets`') are built from
//! `--web.external-url`, never from the request's `Host`.

use crate::exposition::Format;
use crate::landing;
use crate::render;
use crate::store::Store;
use crate::webconfig::{self, WebConfig};
use axum::extract::{Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A reload request; the answer is `Err(problems)` when the new config was rejected.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The results.
    pub store: Arc<Store>,
    /// Set once the first configuration is applied.
    pub ready: Arc<AtomicBool>,
    /// Where `POST /-/reload` sends its request.
    pub reload: mpsc::Sender<ReloadRequest>,
    /// `POST /-/reload` allowed (`--web.enable-lifecycle`).
    pub lifecycle: bool,
    /// The external URL and route prefix.
    pub paths: Arc<Paths>,
}

/// `--web.external-url` and `--web.route-prefix`, with Prometheus' meaning:
/// the external URL is where users and Prometheus reach the exporter (a
/// reverse proxy's, say `https://proxy/ivanti/`); every link the exporter
/// writes (the page's, `/targets`') is built from it, never from the
/// request's `Host`. The route prefix is the path the exporter serves
/// under; by default the external URL's path (a proxy that strips the
/// prefix wants `--web.route-prefix=/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The external URL, its path without a trailing `/`.
    pub external: url::Url,
    /// "" (serve at `/`) or `/prefix`, without a trailing `/`.
    pub route_prefix: String,
}

impl Paths {
    /// From the flags; without `--web.external-url`, as Prometheus:
    /// `http://<hostname>:<port of the first listener>/` (`https` with TLS).
    pub fn new(
        external_url: Option<&str>,
        route_prefix: Option<&str>,
        port: u16,
        tls: bool,
    ) -> Result<Paths, String> {
        let mut external = match external_url {
            Some(u) => {
                let parsed =
                    url::Url::parse(u).map_err(|e| format!("--web.external-url {u:?}: {e}"))?;
                if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
                    return Err(format!(
                        "--web.external-url {u:?}: not an http:// or https:// URL with a host"
                    ));
                }
                parsed
            }
            None => {
                let scheme = if tls { "https" } else { "http" };
                let host = hostname();
                url::Url::parse(&format!("{scheme}://{host}:{port}/"))
                    .map_err(|e| format!("the default --web.external-url ({host}): {e}"))?
            }
        };
        external.set_query(None);
        external.set_fragment(None);
        let path = trim_path(external.path());
        external.set_path(&path);
        let route_prefix = match route_prefix {
            Some(p) => trim_path(p),
            None => path,
        };
        Ok(Paths {
            external,
            route_prefix,
        })
    }

    /// The external path: "" or `/prefix`, for links.
    pub fn base(&self) -> &str {
        self.external.path().trim_end_matches('/')
    }

    /// `host:port` of the external URL (the `targets` of `/targets`).
    fn authority(&self) -> String {
        let host = self.external.host_str().unwrap_or("localhost");
        match self.external.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

/// `/a/b/` and `a/b` as `/a/b`; `/` and "" as "".
fn trim_path(p: &str) -> String {
    let p = p.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("/{p}")
    }
}

/// The machine's name (Linux: `/proc/sys/kernel/hostname`), else `localhost`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The router, with the telemetry path as configured, under the route
/// prefix of `state.paths` (then `/` redirects to it); every endpoint but
/// [`webconfig::UNAUTHENTICATED`] requires basic authentication when `web` has users.
pub fn router(state: AppState, telemetry_path: &str, web: WebConfig) -> Router {
    let prefix = state.paths.route_prefix.clone();
    if prefix.is_empty() {
        return endpoints(state, telemetry_path, web, "/");
    }
    // Nested, the endpoints see their paths without the prefix (so do the
    // middlewares); `<prefix>/`, the page, reaches them unchanged.
    let home = format!("{prefix}/");
    let app = endpoints(state, telemetry_path, web, &home);
    Router::new()
        .route(
            "/",
            get(move || async move { axum::response::Redirect::to(&home) }),
        )
        .route_service(&format!("{prefix}/"), app.clone().into_service())
        .nest(&prefix, app)
}

/// The endpoints, the page at `/` and at `home`.
fn endpoints(state: AppState, telemetry_path: &str, web: WebConfig, home: &str) -> Router {
    let link = Arc::<str>::from(telemetry_path);
    let page = get(move |s, q| landing(s, q, link));
    let routes = match home {
        "/" => Router::new().route("/", page),
        home => Router::new().route("/", page.clone()).route(home, page),
    };
    routes
        .route(telemetry_path, get(metrics))
        .route("/probe", get(probe))
        .route("/targets", get(targets))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .with_state(state)
        // Compressed as it streams, when the client accepts gzip: a
        // 10,000-appliance /metrics is ~56 MB of text. At the fastest level
        // (deflate level 1): the default (6) made a gzip scrape 2.6 x as
        // slow as a plain one for a body barely smaller (docs/performance.md).
        .layer(
            tower_http::compression::CompressionLayer::new()
                .gzip(true)
                .quality(tower_http::compression::CompressionLevel::Fastest),
        )
        .layer(from_fn_with_state(web.clone(), webconfig::require_auth))
        // Rate limit and http_server_config.headers, outside authentication.
        .layer(from_fn_with_state(web, webconfig::middleware))
}

/// `GET /`: the page ([`landing::render`]) for the current inventory,
/// rendered off the async workers (10,000 rows are a few milliseconds of
/// CPU); 400 for a bad `?state=` or `?limit=`.
async fn landing(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    telemetry_path: Arc<str>,
) -> Response {
    let sel = match landing::Selection::from_query(&q) {
        Ok(sel) => sel,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let inv = s.store.inventory();
    let now = std::time::SystemTime::now();
    let page = tokio::task::spawn_blocking(move || {
        landing::render(&inv, now, s.paths.base(), &telemetry_path, &sel)
    })
    .await;
    match page {
        Ok(page) => Html(page).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering / failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n").into_response()
        }
    }
}

fn exposition(body: String, format: Format) -> Response {
    ([(CONTENT_TYPE, format.content_type())], body).into_response()
}

fn format_of(headers: &HeaderMap) -> Format {
    Format::negotiate(headers.get(ACCEPT).and_then(|v| v.to_str().ok()))
}

/// Chunks of `/metrics` handed from the renderer to the connection.
const METRICS_CHUNK: usize = 1 << 20;

async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let format = format_of(&headers);
    s.store.stats.scrapes.fetch_add(1, Ordering::Relaxed);
    let inv = s.store.inventory();
    let store = s.store.clone();
    // Rendering a large fleet is CPU work: keep it off the async workers,
    // and stream it in chunks as it is rendered (a few MiB in flight, not
    // the whole exposition); the renderer stops if the scraper goes away.
    let (tx, rx) = mpsc::channel::<String>(2);
    let renderer = tokio::task::spawn_blocking(move || {
        render::render_chunks(
            &inv,
            Some(&store.stats),
            None,
            format,
            METRICS_CHUNK,
            |chunk| tx.blocking_send(chunk).is_ok(),
        );
    });
    // A renderer that failed midway must not end the body cleanly (a
    // scraper would take a truncated exposition for a whole one): the
    // stream ends with an error and the connection is cut.
    let body =
        futures_util::stream::unfold((rx, Some(renderer)), |(mut rx, renderer)| async move {
            if let Some(chunk) = rx.recv().await {
                return Some((Ok(chunk), (rx, renderer)));
            }
            match renderer?.await {
                Ok(()) => None,
                Err(e) => {
                    tracing::error!(error = %e, "rendering /metrics failed");
                    Some((Err(std::io::Error::other("rendering failed")), (rx, None)))
                }
            }
        });
    (
        [(CONTENT_TYPE, format.content_type())],
        // Fused: a body layer (gzip) may poll once more after the end.
        axum::body::Body::from_stream(futures_util::StreamExt::fuse(body)),
    )
        .into_response()
}

async fn probe(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(name) = q.get("target") else {
        return (
            StatusCode::BAD_REQUEST,
            "missing ?target=<configured target name>\n",
        )
            .into_response();
    };
    let inv = s.store.inventory();
    let Some(target) = inv.get(name) else {
        // Never a URL, never an outbound request: only configured names.
        return (
            StatusCode::NOT_FOUND,
            "unknown target: /probe only serves targets configured by name\n",
        )
            .into_response();
    };
    let format = format_of(&headers);
    exposition(render::render(&inv, None, Some(target), format), format)
}

/// Prometheus HTTP service discovery (`http_sd_configs`): one group per
/// configured target, scraped at this exporter's external URL (never the
/// request's `Host`) on `/probe` with `?target=<name>`; its kind and static
/// labels as target labels.
async fn targets(State(s): State<AppState>) -> Response {
    let host = s.paths.authority();
    let probe = format!("{}/probe", s.paths.base());
    let https = s.paths.external.scheme() == "https";
    let inv = s.store.inventory();
    let groups: Vec<serde_json::Value> = inv
        .targets
        .iter()
        .map(|t| {
            let mut labels = serde_json::Map::new();
            for (k, v) in &t.config.labels {
                labels.insert(k.clone(), v.clone().into());
            }
            labels.insert("kind".into(), t.config.kind.name().into());
            labels.insert("__metrics_path__".into(), probe.clone().into());
            if https {
                labels.insert("__scheme__".into(), "https".into());
            }
            labels.insert("__param_target".into(), t.config.name.clone().into());
            serde_json::json!({ "targets": [host], "labels": labels })
        })
        .collect();
    (
        [(CONTENT_TYPE, "application/json")],
        serde_json::Value::from(groups).to_string(),
    )
        .into_response()
}

async fn ready(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        "OK\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn reload(State(s): State<AppState>) -> Response {
    if !s.lifecycle {
        // As Prometheus and Alertmanager: the HTTP lifecycle API is opt-in.
        return (
            StatusCode::FORBIDDEN,
            "lifecycle API is not enabled: start with --web.enable-lifecycle (SIGHUP always reloads)\n",
        )
            .into_response();
    }
    let (tx, rx) = oneshot::channel();
    if s.reload.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match rx.await {
        Ok(Ok(())) => "configuration reloaded\n".into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("configuration rejected, previous one still in force:\n{e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "reload not possible\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
    use std::io::Read as _;

    /// The router on a loopback port; `reload` answers every reload request Ok.
    async fn serve(lifecycle: bool) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        serve_with(lifecycle, Paths::new(None, None, 9959, false).unwrap()).await
    }

    async fn serve_with(
        lifecycle: bool,
        paths: Paths,
    ) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        serve_store(lifecycle, paths, Arc::new(Store::new())).await
    }

    /// The router over `store` on a loopback port.
    async fn serve_store(
        lifecycle: bool,
        paths: Paths,
        store: Arc<Store>,
    ) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let (reload, mut rx) = mpsc::channel::<ReloadRequest>(1);
        let reloads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = reloads.clone();
        tokio::spawn(async move {
            while let Some(answer) = rx.recv().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = answer.send(Ok(()));
            }
        });
        let state = AppState {
            store,
            ready: Arc::new(AtomicBool::new(true)),
            reload,
            lifecycle,
            paths: Arc::new(paths),
        };
        let app = router(state, "/metrics", WebConfig::default());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        (addr, reloads)
    }

    fn http() -> reqwest::Client {
        crate::tls::install_crypto_provider();
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    #[test]
    fn external_url_and_route_prefix_as_prometheus_reads_them() {
        let p = Paths::new(Some("https://proxy.example/ivanti/"), None, 9959, false).unwrap();
        assert_eq!(
            (p.base(), p.route_prefix.as_str(), p.authority().as_str()),
            ("/ivanti", "/ivanti", "proxy.example:443")
        );
        let p = Paths::new(Some("http://proxy.example:8080/a/b"), Some("/"), 1, false).unwrap();
        assert_eq!((p.base(), p.route_prefix.as_str()), ("/a/b", ""));
        let p = Paths::new(None, Some("inner/"), 9959, true).unwrap();
        assert_eq!(
            p.external.as_str(),
            format!("https://{}:9959/", hostname()),
            "Prometheus' default: this host's name and the listen port"
        );
        assert_eq!((p.base(), p.route_prefix.as_str()), ("", "/inner"));
        for bad in ["proxy.example/ivanti", "ftp://x/", "not a url", "/ivanti"] {
            assert!(Paths::new(Some(bad), None, 1, false).is_err(), "{bad}");
        }
    }

    async fn get(url: &str, host: Option<&str>) -> (u16, String, String) {
        let mut r = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(url);
        if let Some(h) = host {
            r = r.header("host", h);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, r.text().await.unwrap())
    }

    /// Behind a proxy at `https://proxy.example:8443/ivanti/` that forwards
    /// the path as it is: every endpoint is served under `/ivanti`, and the
    /// page's and `/targets`' links point at the proxy, whatever `Host` says.
    #[tokio::test]
    async fn endpoints_and_links_follow_external_url_and_route_prefix() {
        crate::tls::install_crypto_provider();
        let paths = Paths::new(Some("https://proxy.example:8443/ivanti/"), None, 1, false).unwrap();
        let (addr, _) = serve_with(false, paths).await;
        let at = |p: &str| format!("http://{addr}{p}");
        assert_eq!(get(&at("/ivanti/-/healthy"), None).await.0, 200);
        assert_eq!(get(&at("/ivanti/metrics"), None).await.0, 200);
        assert_eq!(get(&at("/-/healthy"), None).await.0, 404);
        assert_eq!(get(&at("/metrics"), None).await.0, 404);
        let (status, location, _) = get(&at("/"), None).await;
        assert_eq!((status, location.as_str()), (303, "/ivanti/"));
        let (status, _, page) = get(&at("/ivanti/"), Some("evil.example")).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("<a href=\"/ivanti/metrics\">Metrics</a>"),
            "{page}"
        );
        assert!(page.contains("href=\"/ivanti/targets\""), "{page}");
        assert!(!page.contains("evil"), "{page}");
        let (status, _, body) = get(&at("/ivanti/targets"), Some("evil.example")).await;
        assert_eq!(status, 200);
        assert_eq!(body, "[]");
    }

    /// A proxy that strips `/ivanti` before forwarding: `--web.route-prefix=/`.
    #[tokio::test]
    async fn a_stripping_proxy_gets_root_routes_and_prefixed_links() {
        crate::tls::install_crypto_provider();
        let paths = Paths::new(Some("https://proxy.example/ivanti"), Some("/"), 1, false).unwrap();
        let (addr, _) = serve_with(false, paths).await;
        let (status, _, page) = get(&format!("http://{addr}/"), Some("evil.example")).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("<a href=\"/ivanti/metrics\">Metrics</a>"),
            "{page}"
        );
        assert_eq!(get(&format!("http://{addr}/-/ready"), None).await.0, 200);
    }

    /// Prometheus' `/-/reload` takes PUT and POST; so does this one.
    #[tokio::test]
    async fn reload_takes_put_and_post_only_with_the_lifecycle_flag() {
        let (addr, reloads) = serve(true).await;
        let url = format!("http://{addr}/-/reload");
        let http = http();
        for method in [reqwest::Method::PUT, reqwest::Method::POST] {
            let r = http.request(method.clone(), &url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{method}");
            assert_eq!(r.text().await.unwrap(), "configuration reloaded\n");
        }
        assert_eq!(reloads.load(Ordering::SeqCst), 2);
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            let r = http.request(method.clone(), &url).send().await.unwrap();
            assert_eq!(r.status(), 405, "{method}");
        }
        assert_eq!(reloads.load(Ordering::SeqCst), 2);
        let (addr, reloads) = serve(false).await;
        let r = http
            .put(format!("http://{addr}/-/reload"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(reloads.load(Ordering::SeqCst), 0);
    }

    /// A /metrics of several chunks (the renderer hands over 1 MiB at a
    /// time), gzipped as it streams: one gzip stream over the whole body,
    /// the same text as the plain answer, `Vary` on both, and the plain
    /// answer when gzip is refused (`q=0`).
    #[tokio::test]
    async fn a_body_of_several_chunks_is_one_gzip_stream() {
        let config = crate::config::Config::from_yaml(
            &(0..5000).fold(
                String::from("defaults:\n  api_key: k\ntargets:\n"),
                |mut y, i| {
                    y.push_str(&format!(
                        "  - name: vpn-{i:04}\n    url: https://vpn-{i:04}.example.net\n"
                    ));
                    y
                },
            ),
            std::path::Path::new("."),
        )
        .unwrap();
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ics/api/v1/system/healthcheck__status=all.json"
        ))
        .unwrap();
        let status = crate::kinds::ics::healthcheck::parse_status(&raw).unwrap();
        let mut samples = crate::exposition::Samples::new();
        crate::kinds::ics::healthcheck::samples(true, Some(&status), Some(1.0), &mut samples);
        let samples = samples.into_vec();
        let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let targets = config
            .targets
            .iter()
            .map(|t| {
                let st = Arc::new(crate::store::TargetState::new(t.clone()));
                let ok = crate::store::PollOutcome {
                    result: Ok(()),
                    duration: std::time::Duration::from_millis(20),
                    at,
                };
                st.record(0, ok, samples.clone(), 3);
                st
            })
            .collect();
        let store = Arc::new(Store::new());
        store.set_inventory(crate::store::Inventory::new(targets));
        let paths = Paths::new(None, None, 9959, false).unwrap();
        let (addr, _) = serve_store(false, paths, store).await;
        let http = http();
        let url = format!("http://{addr}/metrics");
        let get = |encoding: &'static str| http.get(&url).header(ACCEPT_ENCODING, encoding).send();

        let plain = get("identity").await.unwrap();
        assert_eq!(plain.headers().get(CONTENT_ENCODING), None);
        assert_eq!(plain.headers()[VARY], "accept-encoding");
        let plain = plain.text().await.unwrap();
        assert!(
            plain.len() > 3 * METRICS_CHUNK,
            "{} bytes: more than three chunks",
            plain.len()
        );
        let zipped = get("gzip").await.unwrap();
        assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(zipped.headers()[VARY], "accept-encoding");
        let bytes = zipped.bytes().await.unwrap();
        // One member: the decoder reads the whole text and nothing follows.
        let mut decoder = flate2::read::GzDecoder::new(&bytes[..]);
        let mut text = String::new();
        decoder.read_to_string(&mut text).unwrap();
        assert_eq!(
            decoder.into_inner().len(),
            0,
            "bytes after the gzip trailer"
        );
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("process_"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&text), strip(&plain));
        assert!(
            text.contains("vpn-4999"),
            "the last target is in the gzip body"
        );
        // Level 1 on this repetitive text: well under a tenth of the size.
        assert!(
            bytes.len() * 10 < text.len(),
            "{} of {}",
            bytes.len(),
            text.len()
        );

        let refused = get("gzip;q=0, identity").await.unwrap();
        assert_eq!(refused.headers().get(CONTENT_ENCODING), None);
        assert!(refused.text().await.unwrap().contains("vpn-4999"));
    }

    /// `/metrics` over a real loopback connection, as Prometheus asks for it
    /// (`Accept-Encoding: gzip`) and as curl without `--compressed` does.
    #[tokio::test]
    async fn metrics_are_gzipped_when_the_scraper_asks() {
        let (addr, _) = serve(false).await;
        let http = http();
        let url = format!("http://{addr}/metrics");
        let om = "application/openmetrics-text; version=1.0.0";
        let get = |gzip: bool| {
            let mut r = http.get(&url).header(ACCEPT, om);
            if gzip {
                r = r.header("accept-encoding", "gzip");
            }
            r.send()
        };
        let plain = get(false).await.unwrap();
        assert_eq!(plain.headers().get("content-encoding"), None);
        let plain = plain.text().await.unwrap();
        let zipped = get(true).await.unwrap();
        assert_eq!(zipped.headers()["content-encoding"], "gzip");
        let bytes = zipped.bytes().await.unwrap();
        // The gzip header's XFL byte (RFC 1952): 4 = the fastest level, the
        // one a scrape can afford at 10,000 appliances; 0 was the default 6.
        assert_eq!(bytes[..2], [0x1f, 0x8b]);
        assert_eq!(bytes[8], 4, "compressed at the fastest level");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        // The same exposition (process_* readings aside, which move).
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("process_"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&text), strip(&plain));
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(bytes.len() < text.len());
    }
}

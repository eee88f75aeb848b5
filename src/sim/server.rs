//! Serving: the TLS acceptor, the accept loop (refusing and flapping),
//! connections, and the request handler that counts, applies faults and
//! dispatches to the product.

use super::*;

pub(super) fn tls_acceptor(listen: IpAddr) -> std::io::Result<(tokio_rustls::TlsAcceptor, String)> {
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "ivanti-exporter simulated fleet CA",
    );
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
    let mut sans = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !sans.contains(&listen.to_string()) {
        sans.push(listen.to_string());
    }
    let mut leaf_params = rcgen::CertificateParams::new(sans).map_err(err)?;
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "simulated appliance");
    let leaf_key = rcgen::KeyPair::generate().map_err(err)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(err)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
    .map_err(std::io::Error::other)?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem()))
}

pub(super) fn fault_of(shared: &Shared) -> Fault {
    shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .fault
        .clone()
}

pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    loop {
        if *stop.borrow() {
            return;
        }
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let (refusing, flips_in) = refusing(&shared);
        if refusing {
            listener = None;
            tokio::select! {
                _ = changed => continue,
                _ = tokio::time::sleep(flips_in.unwrap_or(Duration::MAX)) => continue,
                _ = stop.changed() => return,
            }
        }
        let Some(l) = listener.as_ref() else {
            // Listen again on the same port after a Refuse fault.
            match TcpListener::bind(shared.addr).await {
                Ok(l) => listener = Some(l),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(shared.clone(), stream, tls.clone(), stop.clone()));
            }
            _ = changed => {}
            _ = tokio::time::sleep(flips_in.unwrap_or(Duration::MAX)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Whether the appliance refuses connections now, and when a flapping one
/// changes its mind.
pub(super) fn refusing(shared: &Shared) -> (bool, Option<Duration>) {
    match fault_of(shared) {
        Fault::Refuse => (true, None),
        Fault::Flap(period) => {
            let t = shared.fleet.started.elapsed().as_nanos();
            let p = period.as_nanos().max(1);
            let down = (t / p) % 2 == 1;
            let left = Duration::from_nanos((p - t % p) as u64);
            (down, Some(left))
        }
        _ => (false, None),
    }
}

pub(super) async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let service = {
        let shared = shared.clone();
        // Per-connection state: Windows authentication is connection-based.
        let conn: Arc<Mutex<ConnAuth>> = Arc::default();
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let shared = shared.clone();
            let conn = conn.clone();
            async move { handle(shared, req, conn).await }
        })
    };
    let builder = hyper::server::conn::http1::Builder::new();
    match tls {
        Some(acceptor) => {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            shared.tls_handshakes.fetch_add(1, Ordering::Relaxed);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
        }
        None => {
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
        }
    }
}

pub(super) struct InFlight<'a>(pub(super) &'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
    conn: Arc<Mutex<ConnAuth>>,
) -> Result<Response<Body>, std::io::Error> {
    let n = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = InFlight(&shared);
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    {
        let mut st = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
        st.requests += 1;
        st.max_in_flight = st.max_in_flight.max(n);
        *st.by_method_path
            .entry((method.clone(), path.clone()))
            .or_default() += 1;
    }
    let state = shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if refusing(&shared).0 {
        return Err(std::io::Error::other("refusing"));
    }
    match &state.fault {
        Fault::Hang => std::future::pending::<()>().await,
        Fault::Latency(d) => tokio::time::sleep(*d).await,
        _ => {}
    }
    let fleet = &shared.fleet;
    let query = req.uri().query().map(str::to_owned);
    let q = query.as_deref();
    let is_login = path == "/api/v1/realm_auth" || path == "/api/v1/auth";
    let public = path == "/api/v1/system/healthcheck";
    // Faults that replace any answer.
    match state.fault {
        Fault::ServerError => {
            return Ok(ics_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
            ))
        }
        Fault::ServiceUnavailable => {
            let mut resp = ics_error(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable");
            resp.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("30"),
            );
            return Ok(resp);
        }
        Fault::HtmlLogin => {
            return Ok(Response::builder()
                .header("content-type", "text/html; charset=utf-8")
                .body(Body::from(LOGIN_PAGE))
                .unwrap_or_default())
        }
        Fault::Redirect => {
            return Ok(Response::builder()
                .status(StatusCode::FOUND)
                .header("location", "/dana-na/auth/url_default/welcome.cgi")
                .body(Body::empty())
                .unwrap_or_default())
        }
        _ => {}
    }
    let creds = basic_auth(&req);
    let answer = match shared.kind {
        SimKind::Ics => None,
        kind => {
            let cookie = req
                .headers()
                .get_all(hyper::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .find_map(|c| c.trim().strip_prefix("session_id=").map(str::to_owned));
            let r = Req {
                method: &method,
                path: &path,
                query: q,
                basic: creds.clone(),
                cookie,
                authorization: req
                    .headers()
                    .get(hyper::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            let t = fleet.started.elapsed().as_secs_f64();
            Some(match kind {
                SimKind::Sps => sps(&shared, &state, t, &r),
                SimKind::Isec => isec(&shared, &state, t, &r, &conn),
                _ => epmm(&shared, &state, &r),
            })
        }
    };
    let answer = match answer {
        Some(Ok(v)) => Some(v),
        Some(Err(resp)) => return Ok(resp),
        None => None,
    };
    // Authentication (Connect Secure).
    let answer: Option<Value> = match answer {
        Some(v) => Some(v),
        None => {
            if is_login {
                let legacy = path == "/api/v1/auth";
                let allowed = if legacy {
                    method == "GET"
                } else {
                    method == "POST" && state.profile != Profile::OldFirmware
                };
                if !allowed {
                    return Ok(ics_error(StatusCode::NOT_FOUND, "Not found"));
                }
                shared.count_login();
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let realm_ok = legacy
                    || serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v.get("realm").and_then(Value::as_str).map(str::to_owned))
                        .is_some_and(|r| r == fleet.admin.0);
                let (_, user, pass) = &fleet.admin;
                let ok = realm_ok && creds.as_ref().is_some_and(|(u, p)| u == user && p == pass);
                if !ok {
                    return Ok(ics_error(
                        StatusCode::UNAUTHORIZED,
                        "Invalid username or password",
                    ));
                }
                if state.fault == Fault::SecondFactor && !legacy {
                    return Ok(json_response(
                        StatusCode::OK,
                        &json!({ "resume_id": format!("{:032x}", rand::random::<u128>()) }),
                    ));
                }
                let key = format!("{:032x}", rand::random::<u128>());
                shared
                    .state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .keys
                    .insert(key.clone());
                return Ok(json_response(StatusCode::OK, &json!({ "api_key": key })));
            }
            if method != "GET" {
                return Ok(ics_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method not allowed",
                ));
            }
            if !public {
                let authed = creds.as_ref().is_some_and(|(u, p)| {
                    p.is_empty() && (*u == fleet.api_key || state.keys.contains(u))
                });
                if !authed || state.fault == Fault::Unauthorized {
                    return Ok(ics_error(StatusCode::UNAUTHORIZED, "Authentication failed"));
                }
                if state.fault == Fault::Forbidden {
                    return Ok(ics_error(
                        StatusCode::FORBIDDEN,
                        "Admin role has no access to REST APIs",
                    ));
                }
            }
            let view = data::View {
                seed: shared.seed,
                name: &shared.name,
                index: shared.index,
                t: fleet.started.elapsed().as_secs_f64(),
                started_unix: fleet.started_unix,
                mean_sessions: fleet.mean_sessions,
                state: &state,
            };
            let status_param = q.and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("status="))
                    .map(str::to_owned)
            });
            match (path.as_str(), status_param.as_deref()) {
                ("/api/v1/system/healthcheck", None) => {
                    Some(json!({ "message": "Security Gateway is accessible." }))
                }
                ("/api/v1/system/healthcheck", Some("all")) => Some(view.health_all()),
                ("/api/v1/system/healthcheck", Some("sbr")) => Some(json!({ "SBR-AVAILABLE": 1 })),
                ("/api/v1/system/active-users", _) => {
                    let name = q.and_then(|q| {
                        q.split('&')
                            .find_map(|kv| kv.strip_prefix("name="))
                            .map(data::url_decode)
                    });
                    Some(view.active_users(
                        query_param(q, "number"),
                        query_param(q, "start"),
                        name.as_deref(),
                    ))
                }
                ("/api/v1/cluster", _) => match view.cluster() {
                    Some(c) => Some(c),
                    None => {
                        return Ok(ics_error(
                            StatusCode::NOT_FOUND,
                            "Node is not part of a cluster",
                        ))
                    }
                },
                ("/api/v1/license/license-server-lease-information", _) => match view.leases() {
                    Some(l) => Some(l),
                    None => return Ok(ics_error(StatusCode::NOT_FOUND, "Not a license server")),
                },
                ("/api/v1/license/named-users", _) => Some(view.named_users()),
                ("/api/v1/system/system-information", _) => Some(view.system_information()),
                _ => None,
            }
        }
    };
    let Some(answer) = answer else {
        return Ok(ics_error(StatusCode::NOT_FOUND, "Not found"));
    };
    Ok(match state.fault {
        Fault::BrokenJson => {
            let text = answer.to_string();
            let cut = text.len() / 2;
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from(text.as_bytes()[..cut].to_vec()))
                .unwrap_or_default()
        }
        Fault::HugeBody => {
            use futures_util::StreamExt as _;
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
            let text = answer.to_string();
            let cut = text.len() / 2;
            use futures_util::StreamExt as _;
            // Headers and half the body go out (the pause lets them be
            // flushed), then the connection is closed.
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(
                text.as_bytes()[..cut].to_vec(),
            ))])
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
        _ => json_response(StatusCode::OK, &answer),
    })
}

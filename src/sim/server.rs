//! Serving: the TLS acceptor, the accept loop (refusing and flapping),
//! connections, and the request handler that counts, applies faults and
//! dispatches to the product.

use super::epmm::epmm;
use super::faults::{replacing_answer, shape_answer, Fault};
use super::fleet::Shared;
use super::ics::ics;
use super::isec::{isec, ConnAuth};
use super::products::{Req, SimKind};
use super::sps::sps;
use axum::body::Body;
use hyper::{Request, Response};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub(super) fn tls_acceptor(
    listen: IpAddr,
    self_signed: bool,
) -> std::io::Result<(tokio_rustls::TlsAcceptor, String)> {
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    if self_signed {
        return self_signed_acceptor(listen);
    }
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
    let mut leaf_params = rcgen::CertificateParams::new(names(listen)).map_err(err)?;
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "simulated appliance");
    let leaf_key = rcgen::KeyPair::generate().map_err(err)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(err)?;
    let acceptor = acceptor(vec![leaf.der().clone(), ca.der().clone()], &leaf_key)?;
    Ok((acceptor, ca.pem()))
}

/// The names every simulated certificate is valid for.
fn names(listen: IpAddr) -> Vec<String> {
    let mut sans = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !sans.contains(&listen.to_string()) {
        sans.push(listen.to_string());
    }
    sans
}

/// A TLS acceptor presenting `chain` with `key`.
fn acceptor(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(std::io::Error::other)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
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
    let _in_flight = count(&shared, &req);
    let state = shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    before_answer(&shared, &state.fault).await?;
    if let Some(resp) = replacing_answer(&state.fault) {
        return Ok(resp);
    }
    let t = shared.fleet.started.elapsed().as_secs_f64();
    let answer = match shared.kind {
        SimKind::Ics => ics(&shared, &state, req).await,
        SimKind::Sps => sps(&shared, &state, t, &Req::of(&req)),
        SimKind::Epmm => epmm(&shared, &state, &Req::of(&req)),
        SimKind::Isec => isec(&shared, &state, t, &Req::of(&req), &conn),
    };
    Ok(match answer {
        Ok(reply) => shape_answer(&state.fault, reply),
        Err(resp) => resp,
    })
}

/// Count the request (and how many are in flight) in the appliance's stats.
fn count<'a>(shared: &'a Shared, req: &Request<hyper::body::Incoming>) -> InFlight<'a> {
    let n = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let mut st = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
    st.requests += 1;
    st.max_in_flight = st.max_in_flight.max(n);
    *st.by_method_path
        .entry((
            req.method().as_str().to_owned(),
            req.uri().path().to_owned(),
        ))
        .or_default() += 1;
    InFlight(shared)
}

/// Faults that act before any answer: refusing, hanging, latency.
async fn before_answer(shared: &Shared, fault: &Fault) -> Result<(), std::io::Error> {
    if refusing(shared).0 {
        return Err(std::io::Error::other("refusing"));
    }
    match fault {
        Fault::Hang => std::future::pending::<()>().await,
        Fault::Latency(d) => tokio::time::sleep(*d).await,
        _ => {}
    }
    Ok(())
}

/// One self-signed certificate with `basicConstraints CA:TRUE`, as
/// `openssl req -x509 -addext subjectAltName=...` makes it: the certificate
/// an operator pins in `ca_file`.
fn self_signed_acceptor(listen: IpAddr) -> std::io::Result<(tokio_rustls::TlsAcceptor, String)> {
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    let mut params = rcgen::CertificateParams::new(names(listen)).map_err(err)?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "simulated appliance (self-signed)",
    );
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((acceptor(vec![cert.der().clone()], &key)?, cert.pem()))
}

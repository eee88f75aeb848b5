//! Ivanti Security Controls: NTLM per connection (sspi's server side),
//! console version, agents, machines, operations.

use super::data::unit;
use super::faults::Fault;
use super::fleet::{Shared, State};
use super::products::{modelled_or_fixture, Answer, Modelled, Req, SimKind};
use super::request::{json_response, query_number};
use axum::body::Body;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// Windows authentication state of one connection (Security Controls).
#[derive(Default)]
pub(super) enum ConnAuth {
    /// Nothing yet.
    #[default]
    None,
    /// CHALLENGE sent; the server context waits for AUTHENTICATE.
    Challenged(
        Box<(
            sspi::Ntlm,
            <sspi::Ntlm as sspi::SspiImpl>::CredentialsHandle,
        )>,
    ),
    /// Authenticated: later requests on this connection need no header.
    Authenticated,
}

/// The Windows account the simulated console accepts: `SIM\<admin user>`.
pub fn isec_user(admin_user: &str) -> String {
    format!("SIM\\{admin_user}")
}

pub(super) fn www_authenticate(values: &[String]) -> Response<Body> {
    let mut b = Response::builder().status(StatusCode::UNAUTHORIZED);
    for v in values {
        b = b.header(hyper::header::WWW_AUTHENTICATE, v.as_str());
    }
    b.body(Body::from(
        "401 - Unauthorized: Access is denied due to invalid credentials.",
    ))
    .unwrap_or_default()
}

/// One NTLM step on the server side; `Ok(Some(challenge))`, `Ok(None)` when
/// authenticated, `Err` when rejected.
pub(super) fn ntlm_step(
    conn: &mut ConnAuth,
    shared: &Shared,
    token: &[u8],
) -> Result<Option<Vec<u8>>, String> {
    use sspi::{
        AuthIdentity, BufferType, CredentialUse, DataRepresentation, SecurityBuffer,
        SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
    };
    let (mut ntlm, mut handle) = match std::mem::take(conn) {
        ConnAuth::Challenged(b) => *b,
        _ => {
            let (_, user, pass) = &shared.fleet.admin;
            let mut ntlm = sspi::Ntlm::new();
            let identity = AuthIdentity {
                username: Username::parse(&isec_user(user)).map_err(|e| e.to_string())?,
                password: sspi::Secret::from(pass.clone()),
            };
            let acquired = ntlm
                .acquire_credentials_handle()
                .with_credential_use(CredentialUse::Inbound)
                .with_auth_data(&identity)
                .execute(&mut ntlm)
                .map_err(|e| e.to_string())?;
            (ntlm, acquired.credentials_handle)
        }
    };
    let mut input = vec![SecurityBuffer::new(token.to_vec(), BufferType::Token)];
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = ntlm
        .accept_security_context()
        .with_credentials_handle(&mut handle)
        .with_context_requirements(ServerRequestFlags::empty())
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    let result = ntlm
        .accept_security_context_impl(builder)
        .and_then(|mut g| g.resolve_to_result())
        .map_err(|e| e.to_string())?;
    match result.status {
        SecurityStatus::ContinueNeeded => {
            let challenge = std::mem::take(&mut output[0].buffer);
            *conn = ConnAuth::Challenged(Box::new((ntlm, handle)));
            Ok(Some(challenge))
        }
        SecurityStatus::CompleteNeeded | SecurityStatus::CompleteAndContinue => {
            shared.count_login();
            ntlm.complete_auth_token(&mut output)
                .map_err(|e| e.to_string())?;
            *conn = ConnAuth::Authenticated;
            Ok(None)
        }
        SecurityStatus::Ok => {
            shared.count_login();
            *conn = ConnAuth::Authenticated;
            Ok(None)
        }
        other => Err(format!("{other:?}")),
    }
}

/// Ivanti Security Controls: NTLM (or Negotiate with a raw NTLM token),
/// connection-based like IIS.
pub(super) fn isec(
    shared: &Shared,
    state: &State,
    t: f64,
    req: &Req<'_>,
    conn: &std::sync::Mutex<ConnAuth>,
) -> Answer {
    authenticate(shared, state, req, conn)?;
    if state.fault == Fault::Forbidden {
        return Err(json_response(
            StatusCode::FORBIDDEN,
            &json!({ "message": "The user is not a Security Controls administrator." }),
        ));
    }
    if req.method != "GET" {
        return Err(json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({ "message": "read only" }),
        ));
    }
    modelled_or_fixture(
        SimKind::Isec,
        req.path,
        req.query,
        route(shared, state, t, req),
        || json_response(StatusCode::NOT_FOUND, &json!({ "message": "Not found" })),
    )
}

/// The modelled console resources; `None` for any other path.
fn route(shared: &Shared, state: &State, t: f64, req: &Req<'_>) -> Modelled {
    let seed = shared.seed;
    let agents = 50 + (unit((seed, "agents")) * 2000.0) as u64;
    let resource = req.path.strip_prefix("/st/console/api/v1.0")?;
    Some(match resource {
        "/configuration/version" => {
            Ok(json!({ "version": format!("2024.1.0.{}", 1000 + shared.index) }))
        }
        "/agents" => Ok(page(
            shared,
            req,
            "agents",
            agents,
            |i| json!({ "agentId": format!("{seed:08x}-{i:04}"), "status": "Online" }),
        )),
        "/machines" => Ok(page(
            shared,
            req,
            "machines",
            state.isec_machines.unwrap_or(MACHINES),
            |i| json!({ "name": format!("WS-{i:05}"), "domain": "SIM" }),
        )),
        // Undocumented (the help has only `/operations/{id}`); served unless
        // `set_no_operations_list`, as some consoles may.
        "/operations" if state.no_operations_list => Err(json_response(
            StatusCode::NOT_FOUND,
            &json!({ "message": "Not found" }),
        )),
        "/operations" => {
            let epoch = (t / 60.0) as u64;
            let statuses = ["Succeeded", "Succeeded", "Succeeded", "Running", "Failed"];
            let n = 3 + (unit((seed, "ops", epoch)) * 8.0) as usize;
            let value: Vec<Value> = (0..n)
                .map(|i| {
                    json!({ "operationId": format!("{epoch}-{i}"), "operation": "PatchScan",
                                 "status": statuses[(i + epoch as usize) % statuses.len()] })
                })
                .collect();
            Ok(json!({ "count": n, "value": value }))
        }
        _ => return None,
    })
}

/// Machines a simulated console knows unless `set_isec_machines` (three pages of 1,000).
const MACHINES: u64 = 2345;

/// One page of a list, as the REST API help's Agents and Machines pages
/// show it: `count` asks for up to 1000 items (default 10), the answer's
/// `count` is the number of items in `value`, and `links.next.href` (an
/// absolute URL) is the next page, absent on the last one.
fn page(
    shared: &Shared,
    req: &Req<'_>,
    what: &str,
    total: u64,
    item: impl Fn(u64) -> Value,
) -> Value {
    let num = |k: &str| query_number::<u64>(req.query, k);
    let size = num("count").unwrap_or(10).clamp(1, 1000);
    let start = num("start").unwrap_or(0).min(total);
    let end = (start + size).min(total);
    let base = format!("https://{}:3121/st/console/api/v1.0/{what}", shared.name);
    let mut links = json!({ "self": { "href": format!("{base}?count={size}&start={start}") } });
    if end < total {
        links["next"] = json!({ "href": format!("{base}?count={size}&start={end}") });
    }
    json!({ "count": end - start, "value": (start..end).map(item).collect::<Vec<_>>(), "links": links })
}

/// The connection's NTLM state: authenticated once, or the next leg of
/// the handshake (a challenge), or an offer of the schemes.
fn authenticate(
    shared: &Shared,
    state: &State,
    req: &Req<'_>,
    conn: &std::sync::Mutex<ConnAuth>,
) -> Result<(), Response<Body>> {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let kerberos = state.kerberos.clone();
    let ntlm_off = kerberos.as_ref().is_some_and(|k| k.ntlm_disabled);
    let offer = || {
        if ntlm_off {
            www_authenticate(&["Negotiate".to_owned()])
        } else {
            www_authenticate(&["Negotiate".to_owned(), "NTLM".to_owned()])
        }
    };
    let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    if state.fault == Fault::Unauthorized {
        *conn = ConnAuth::None;
        return Err(offer());
    }
    if !matches!(*conn, ConnAuth::Authenticated) {
        let Some((scheme, token)) = req.authorization.as_deref().and_then(|h| h.split_once(' '))
        else {
            return Err(offer());
        };
        if !scheme.eq_ignore_ascii_case("NTLM") && !scheme.eq_ignore_ascii_case("Negotiate") {
            return Err(offer());
        }
        let Ok(token) = b64.decode(token.trim()) else {
            *conn = ConnAuth::None;
            return Err(offer());
        };
        // A GSS-API initial token (ASN.1 [APPLICATION 0]) is Kerberos;
        // NTLM tokens start with "NTLMSSP".
        if token.first() == Some(&0x60) && scheme.eq_ignore_ascii_case("Negotiate") {
            *conn = ConnAuth::None;
            let Some(k) = kerberos else {
                return Err(offer());
            };
            return match k.accept(&token) {
                Ok(()) => {
                    shared.count_login();
                    *conn = ConnAuth::Authenticated;
                    Ok(())
                }
                Err(error) => Err(www_authenticate(&[format!(
                    "Negotiate {}",
                    b64.encode(error)
                )])),
            };
        }
        if ntlm_off {
            *conn = ConnAuth::None;
            return Err(offer());
        }
        match ntlm_step(&mut conn, shared, &token) {
            Ok(Some(challenge)) => {
                return Err(www_authenticate(&[format!(
                    "{scheme} {}",
                    b64.encode(challenge)
                )]));
            }
            Ok(None) => {}
            Err(_) => {
                *conn = ConnAuth::None;
                return Err(offer());
            }
        }
    }
    Ok(())
}

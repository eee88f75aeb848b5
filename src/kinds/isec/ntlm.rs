//! The client side of NTLM over HTTP, with the `sspi` crate (no crypto of
//! our own): a NEGOTIATE token, then the AUTHENTICATE token answering the
//! server's CHALLENGE. The simulator uses the same crate for the server side.

use crate::error::CollectError;
use crate::secret::Secret;
use base64::Engine as _;
use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation, Ntlm,
    SecurityBuffer, Sspi, SspiImpl, Username,
};

/// One handshake (one connection's authentication).
pub struct Handshake {
    ntlm: Ntlm,
    handle: <Ntlm as SspiImpl>::CredentialsHandle,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handshake")
    }
}

fn auth_error(what: &str, e: impl std::fmt::Display) -> CollectError {
    CollectError::Auth(format!("NTLM {what}: {e}"))
}

impl Handshake {
    /// Start with `DOMAIN\user` (or `user@domain`, or a bare user) and a password.
    pub fn new(username: &str, password: &Secret) -> Result<Handshake, CollectError> {
        let mut ntlm = Ntlm::new();
        let identity = AuthIdentity {
            username: Username::parse(username).map_err(|e| auth_error("user name", e))?,
            password: sspi::Secret::from(password.expose().to_owned()),
        };
        let acquired = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&identity)
            .execute(&mut ntlm)
            .map_err(|e| auth_error("credentials", e))?;
        Ok(Handshake {
            ntlm,
            handle: acquired.credentials_handle,
        })
    }

    fn step(&mut self, input: Option<Vec<u8>>) -> Result<String, CollectError> {
        let mut input = vec![SecurityBuffer::new(
            input.unwrap_or_default(),
            BufferType::Token,
        )];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut builder = self
            .ntlm
            .initialize_security_context()
            .with_credentials_handle(&mut self.handle)
            .with_context_requirements(ClientRequestFlags::empty())
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input)
            .with_output(&mut output);
        self.ntlm
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut g| g.resolve_to_result())
            .map_err(|e| auth_error("handshake", e))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(&output[0].buffer))
    }

    /// The NEGOTIATE token (base64).
    pub fn negotiate(&mut self) -> Result<String, CollectError> {
        self.step(None)
    }

    /// The AUTHENTICATE token (base64) answering a base64 CHALLENGE.
    pub fn authenticate(&mut self, challenge: &str) -> Result<String, CollectError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(challenge.trim())
            .map_err(|_| auth_error("challenge", "not base64"))?;
        self.step(Some(raw))
    }
}

/// The scheme to answer a 401 with: `NTLM` when offered, else `Negotiate`
/// (Windows accepts raw NTLM tokens under it), else none.
pub fn scheme(www_authenticate: &[String]) -> Option<&'static str> {
    if offers(www_authenticate, "NTLM") {
        Some("NTLM")
    } else if offers(www_authenticate, "Negotiate") {
        Some("Negotiate")
    } else {
        None
    }
}

/// True when one of the `WWW-Authenticate` values offers `scheme`.
pub fn offers(www_authenticate: &[String], scheme: &str) -> bool {
    www_authenticate.iter().flat_map(|h| h.split(',')).any(|v| {
        v.split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(scheme))
    })
}

/// The challenge token in `WWW-Authenticate: <scheme> <token>`.
pub fn challenge<'a>(www_authenticate: &'a [String], scheme: &str) -> Option<&'a str> {
    www_authenticate.iter().find_map(|h| {
        let (s, token) = h.trim().split_once(' ')?;
        (s.eq_ignore_ascii_case(scheme) && !token.trim().is_empty()).then_some(token.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_challenges() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(scheme(&h(&["Negotiate", "NTLM"])), Some("NTLM"));
        assert_eq!(scheme(&h(&["Negotiate"])), Some("Negotiate"));
        assert_eq!(scheme(&h(&["Basic realm=\"x\""])), None);
        assert_eq!(
            challenge(&h(&["NTLM TlRMTVNTUAAC"]), "NTLM"),
            Some("TlRMTVNTUAAC")
        );
        assert_eq!(challenge(&h(&["NTLM"]), "NTLM"), None);
    }

    #[test]
    fn tokens_are_ntlmssp() {
        let mut hs = Handshake::new("CORP\\svc", &Secret::new("pw")).unwrap();
        let t1 = base64::engine::general_purpose::STANDARD
            .decode(hs.negotiate().unwrap())
            .unwrap();
        assert!(t1.starts_with(b"NTLMSSP\0"));
        assert!(hs.authenticate("not base64!").is_err());
    }
}

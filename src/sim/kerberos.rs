//! Kerberos on the simulated Security Controls console: `Negotiate` with
//! a Kerberos token, checked by `sspi`'s acceptor with the service key of
//! the console's keytab (as IIS does with the machine account's keys), on
//! top of NTLM or instead of it (a domain that turned NTLM off).
//!
//! A refused ticket gets 401 with the KRB-ERROR as the `Negotiate` token
//! (`KRB_AP_ERR_SKEW` for a client clock off by more than five minutes,
//! the Windows default tolerance; `KRB_AP_ERR_TKT_EXPIRED`; otherwise
//! `KRB_AP_ERR_MODIFIED`), as Windows answers a Kerberos failure.

use crate::kinds::isec::kerberos::{error_token, keytab};
use picky_krb::constants::error_codes as code;
use std::time::Duration;

/// Windows' default "maximum tolerance for computer clock synchronization".
const MAX_SKEW: Duration = Duration::from_secs(300);

/// A console's Kerberos acceptor settings.
#[derive(Clone)]
pub struct SimKerberos {
    /// `HTTP`, `<host>`.
    spn: Vec<String>,
    realm: String,
    key: Vec<u8>,
    pub(super) ntlm_disabled: bool,
}

impl std::fmt::Debug for SimKerberos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimKerberos")
            .field("spn", &self.spn)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl SimKerberos {
    /// Accept tickets for `spn` (`HTTP/host@REALM`), decrypted with its
    /// AES-256 (else AES-128) key from a keytab's bytes.
    pub fn from_keytab(bytes: &[u8], spn: &str) -> Result<SimKerberos, String> {
        let keys = keytab::parse(bytes)?;
        let key = keytab::best_key(&keys, spn).ok_or(format!("no AES key for {spn}"))?;
        let (name, realm) = spn
            .rsplit_once('@')
            .ok_or("service principal without @REALM")?;
        Ok(SimKerberos {
            spn: name.split('/').map(str::to_owned).collect(),
            realm: realm.to_owned(),
            key: key.key.clone(),
            ntlm_disabled: false,
        })
    }

    /// Refuse NTLM: offer and accept only Kerberos.
    pub fn without_ntlm(mut self) -> SimKerberos {
        self.ntlm_disabled = true;
        self
    }

    /// Check one AP-REQ token: `Ok` when accepted, else the GSS-wrapped
    /// KRB-ERROR to send back.
    pub(super) fn accept(&self, token: &[u8]) -> Result<(), Vec<u8>> {
        self.accept_inner(token).map_err(|e| self.error_token(e))
    }

    fn accept_inner(&self, token: &[u8]) -> Result<(), sspi::Error> {
        use sspi::kerberos::ServerProperties;
        use sspi::{
            BufferType, DataRepresentation, KdcResolution, Kerberos, KerberosConfig,
            SecurityBuffer, ServerRequestFlags, Sspi, SspiImpl,
        };
        let names: Vec<&str> = self.spn.iter().map(String::as_str).collect();
        let props = ServerProperties::new(&names, None, MAX_SKEW, Some(self.key.clone().into()))?;
        let config = KerberosConfig {
            kdc_resolution: KdcResolution::KdcUrl(None),
            client_computer_name: "sim-console".into(),
        };
        let mut server = Kerberos::new_server_from_config(config, props)?;
        let mut handle = None;
        let mut input = vec![SecurityBuffer::new(token.to_vec(), BufferType::Token)];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let builder = server
            .accept_security_context()
            .with_credentials_handle(&mut handle)
            .with_context_requirements(ServerRequestFlags::empty())
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input)
            .with_output(&mut output);
        server
            .accept_security_context_impl(builder)
            .and_then(|mut g| g.resolve_to_result())
            .map(|_| ())
    }

    fn error_token(&self, e: sspi::Error) -> Vec<u8> {
        let n = match e.error_type {
            sspi::ErrorKind::TimeSkew => code::KRB_AP_ERR_SKEW,
            _ if e.description.contains("expired") => code::KRB_AP_ERR_TKT_EXPIRED,
            _ => code::KRB_AP_ERR_MODIFIED,
        };
        error_token(n, &self.realm, &self.spn)
    }
}

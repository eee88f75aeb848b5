//! Kerberos on the simulated Security Controls console: `Negotiate` with
//! a Kerberos token, checked by `sspi`'s acceptor with the service key of
//! the console's keytab (as IIS does with the machine account's keys), on
//! top of NTLM or instead of it (a domain that turned NTLM off).
//!
//! A refused ticket gets 401 with the KRB-ERROR as the `Negotiate` token
//! (`KRB_AP_ERR_SKEW` for a client clock off by more than five minutes,
//! the Windows default tolerance; `KRB_AP_ERR_TKT_EXPIRED`; otherwise
//! `KRB_AP_ERR_MODIFIED`), as Windows answers a Kerberos failure.

use crate::kinds::isec::kerberos::keytab;
use picky_asn1::wrapper::ObjectIdentifierAsn1;
use picky_krb::constants::error_codes as code;
use picky_krb::data_types::KerberosTime;
use picky_krb::gss_api::{ApplicationTag0, KrbMessage};
use picky_krb::messages::KrbError;
use std::time::Duration;

/// GSS-API Kerberos V5 mechanism (RFC 1964).
const KRB5_OID: &str = "1.2.840.113554.1.2.2";
/// The GSS-API token id of a KRB-ERROR (RFC 4121 §4.1).
const KRB_ERROR_TOKEN_ID: [u8; 2] = [0x03, 0x00];

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

/// A KRB-ERROR with `code` from the acceptor of `spn` (`HTTP`, host) in
/// `realm`, as the GSS-API token a console sends back (the simulator's
/// answer to a refused ticket; the exporter's tests feed it to its parser).
pub(crate) fn error_token(code: u32, realm: &str, spn: &[String]) -> Vec<u8> {
    let error = krb_error(code, realm, spn, None);
    let Ok(oid) = oid::ObjectIdentifier::try_from(KRB5_OID) else {
        return Vec::new();
    };
    picky_asn1_der::to_vec(&ApplicationTag0(KrbMessage {
        krb5_oid: ObjectIdentifierAsn1::from(oid),
        krb5_token_id: KRB_ERROR_TOKEN_ID,
        krb_msg: error,
    }))
    .unwrap_or_default()
}

/// A KRB-ERROR with `code` for the service `spn` in `realm`, with
/// `e_data` (DER of METHOD-DATA) when given: what a console wraps in its
/// refusal token and what a KDC sends as it is.
pub(crate) fn krb_error(
    code: u32,
    realm: &str,
    spn: &[String],
    e_data: Option<Vec<u8>>,
) -> KrbError {
    use picky_asn1::date::GeneralizedTime;
    use picky_asn1::restricted_string::IA5String;
    use picky_asn1::wrapper::{
        Asn1SequenceOf, ExplicitContextTag0, ExplicitContextTag1, ExplicitContextTag10,
        ExplicitContextTag12, ExplicitContextTag4, ExplicitContextTag5, ExplicitContextTag6,
        ExplicitContextTag9, IntegerAsn1, OctetStringAsn1, Optional,
    };
    use picky_krb::data_types::{KerberosStringAsn1, PrincipalName};
    use picky_krb::messages::KrbErrorInner;
    let s = |v: &str| {
        KerberosStringAsn1::from(IA5String::from_string(v.to_owned()).unwrap_or_default())
    };
    KrbError::from(KrbErrorInner {
        pvno: ExplicitContextTag0::from(IntegerAsn1::from(vec![5])),
        msg_type: ExplicitContextTag1::from(IntegerAsn1::from(vec![30])),
        ctime: Optional::from(None),
        cusec: Optional::from(None),
        stime: ExplicitContextTag4::from(KerberosTime::from(GeneralizedTime::from(
            time::OffsetDateTime::now_utc(),
        ))),
        susec: ExplicitContextTag5::from(IntegerAsn1::from(vec![0])),
        error_code: ExplicitContextTag6::from(code),
        crealm: Optional::from(None),
        cname: Optional::from(None),
        realm: ExplicitContextTag9::from(s(realm)),
        sname: ExplicitContextTag10::from(PrincipalName {
            name_type: ExplicitContextTag0::from(IntegerAsn1::from(vec![
                picky_krb::constants::types::NT_SRV_INST,
            ])),
            name_string: ExplicitContextTag1::from(Asn1SequenceOf::from(
                spn.iter().map(|c| s(c)).collect::<Vec<_>>(),
            )),
        }),
        e_text: Optional::from(None),
        e_data: Optional::from(
            e_data.map(|d| ExplicitContextTag12::from(OctetStringAsn1::from(d))),
        ),
    })
}

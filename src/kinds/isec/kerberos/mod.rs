//! Kerberos for Security Controls: the client side of HTTP `Negotiate`
//! (RFC 4559) with a Kerberos token, for consoles in Windows domains that
//! turned NTLM off. The Security Controls REST API help says
//! "Authentication is by Windows challenge/response with Kerberos or NTLM"
//! (`seeds/ivanti-security-controls-api.txt`, Getting started).
//!
//! The exchanges (RFC 4120): an AS exchange with the password (or a keytab
//! key) for a ticket-granting ticket, a TGS exchange for the service ticket
//! of `HTTP/<console host>`, then per connection an AP-REQ built from that
//! ticket, sent as the GSS-API Kerberos token (RFC 4121 §4.1, OID
//! 1.2.840.113554.1.2.2) under `Authorization: Negotiate`. Windows'
//! Negotiate package accepts that token directly, as `sspi`'s own WinRM
//! example sends it. The service ticket is kept and reused until shortly
//! before it expires (one AS and one TGS exchange per ticket lifetime, not
//! per poll); only then does the exporter ask the KDC again.
//!
//! Messages and crypto are `sspi`'s and `picky-krb`'s (the crates NTLM
//! already uses); this module only sequences them, talks to the KDC
//! ([`kdc`]) and turns KDC errors into `reason`s:
//!
//! | KDC / console error | reason |
//! |---|---|
//! | `KDC_ERR_PREAUTH_FAILED` (24), `KDC_ERR_C_PRINCIPAL_UNKNOWN` (6), `KDC_ERR_CLIENT_REVOKED` (18), `KDC_ERR_KEY_EXPIRED` (23), `KDC_ERR_S_PRINCIPAL_UNKNOWN` (7) | `auth` |
//! | `KRB_AP_ERR_SKEW` (37) | `clock_skew` |
//! | `KRB_AP_ERR_TKT_EXPIRED` (32) | `ticket_expired` |
//! | no KDC answers (refused, silent, unreachable) | `kdc_unreachable` |

pub mod config;
pub mod kdc;
pub mod keytab;

use crate::error::CollectError;
use crate::secret::Secret;
use base64::Engine as _;
use picky_asn1::wrapper::ObjectIdentifierAsn1;
use picky_krb::constants::error_codes as code;
use picky_krb::constants::gss_api::{AP_REQ_TOKEN_ID, AUTHENTICATOR_CHECKSUM_TYPE};
use picky_krb::constants::key_usages::{AS_REP_ENC, TGS_REP_ENC_SESSION_KEY};
use picky_krb::crypto::CipherSuite;
use picky_krb::data_types::KerberosTime;
use picky_krb::gss_api::{ApplicationTag0, KrbMessage};
use picky_krb::messages::{AsRep, EncAsRepPart, EncKdcRepPart, EncTgsRepPart, KrbError, TgsRep};
use rand::RngCore as _;
use sspi::kerberos::client::generators::{
    self as gen, ChecksumOptions, ChecksumValues, EncKey, GenerateAsPaDataOptions,
    GenerateAsReqOptions, GenerateAuthenticatorOptions, GenerateKeytabPaDataOptions,
    GenerateTgsReqOptions,
};
use sspi::kerberos::EncryptionParams;
use sspi::ClientRequestFlags;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// GSS-API Kerberos V5 mechanism (RFC 1964).
const KRB5_OID: &str = "1.2.840.113554.1.2.2";
/// The GSS-API token id of a KRB-ERROR (RFC 4121 §4.1).
pub const KRB_ERROR_TOKEN_ID: [u8; 2] = [0x03, 0x00];
/// A ticket is renewed when less than this part of its lifetime is left
/// (at most [`RENEW_MARGIN_MAX`]), so a request never carries an expired one.
const RENEW_FRACTION: u32 = 5;
const RENEW_MARGIN_MAX: Duration = Duration::from_secs(300);

/// The long-term secret of the exporter's principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KerberosSecret {
    /// A password (`password` or `password_file`).
    Password(Secret),
    /// Keys from a keytab (`keytab_file`), for this principal.
    Keytab(Vec<keytab::KeytabKey>),
}

/// A target's `kerberos:` credentials, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct KerberosCredentials {
    /// The user name without the realm (`svc-monitor`).
    pub user: String,
    /// The realm (`CORP.EXAMPLE.COM`).
    pub realm: String,
    /// Password or keytab keys.
    pub secret: KerberosSecret,
    /// `HTTP/<console host>` unless configured.
    pub service_principal: Option<String>,
    /// The realm's KDCs (`host[:port]`), in order.
    pub kdcs: Vec<String>,
}

impl std::fmt::Debug for KerberosCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = match &self.secret {
            KerberosSecret::Password(_) => "password",
            KerberosSecret::Keytab(_) => "keytab",
        };
        f.debug_struct("KerberosCredentials")
            .field("principal", &format_args!("{}@{}", self.user, self.realm))
            .field("secret", &secret)
            .field("service_principal", &self.service_principal)
            .field("kdcs", &self.kdcs)
            .finish()
    }
}

/// A service ticket and what goes with it.
struct ServiceTicket {
    reply: TgsRep,
    session_key: sspi::Secret<Vec<u8>>,
    enctype: CipherSuite,
    renew_at: SystemTime,
}

/// The ticket-granting ticket: the AS reply and its decrypted part.
struct Tgt {
    as_rep: AsRep,
    part: EncKdcRepPart,
    renew_at: SystemTime,
}

/// The cached tickets, or the last failure to get a service ticket. The
/// TGT is kept until it is about to expire, so a failed TGS exchange (an
/// unknown service principal, a KDC that did not answer) is retried
/// without a new AS exchange: the account's password is not tried again.
#[derive(Default)]
struct Cache {
    tgt: Option<Arc<Tgt>>,
    ticket: Option<Arc<ServiceTicket>>,
    failed: Option<(Instant, CollectError)>,
}

/// One console's Kerberos client: the cached service ticket. Getting one
/// is serialised, so collectors that start together share one exchange
/// (and one failed attempt counts once against the account's lockout).
pub struct KerberosClient {
    creds: Arc<KerberosCredentials>,
    spn: String,
    timeout: Duration,
    cache: tokio::sync::Mutex<Cache>,
}

impl std::fmt::Debug for KerberosClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosClient")
            .field("spn", &self.spn)
            .finish_non_exhaustive()
    }
}

fn sspi_error(what: &str, e: impl std::fmt::Display) -> CollectError {
    CollectError::Auth(format!("Kerberos {what}: {e}"))
}

impl KerberosClient {
    /// A client for the console at `host`; `timeout` bounds each KDC exchange.
    pub fn new(creds: Arc<KerberosCredentials>, host: &str, timeout: Duration) -> KerberosClient {
        let spn = creds
            .service_principal
            .clone()
            .unwrap_or_else(|| format!("HTTP/{host}"));
        KerberosClient {
            creds,
            spn,
            timeout,
            cache: tokio::sync::Mutex::new(Cache::default()),
        }
    }

    /// The service principal asked for.
    pub fn service_principal(&self) -> &str {
        &self.spn
    }

    /// Drop the cached ticket (the console rejected it).
    pub async fn forget(&self) {
        self.cache.lock().await.ticket = None;
    }

    /// A fresh `Negotiate` token (base64), from the cached ticket or, when
    /// there is none or it is about to expire, from a new one. A caller
    /// that waited while another's attempt failed gets that failure.
    pub async fn token(&self) -> Result<Secret, CollectError> {
        let asked = Instant::now();
        let mut cache = self.cache.lock().await;
        if let Some((at, e)) = &cache.failed {
            if *at >= asked {
                return Err(e.clone());
            }
        }
        let ticket = match cache
            .ticket
            .clone()
            .filter(|t| SystemTime::now() < t.renew_at)
        {
            Some(t) => t,
            None => match self.new_ticket(&mut cache.tgt).await {
                Ok(t) => {
                    let t = Arc::new(t);
                    cache.ticket = Some(t.clone());
                    cache.failed = None;
                    t
                }
                Err(e) => {
                    cache.failed = Some((Instant::now(), e.clone()));
                    return Err(e);
                }
            },
        };
        drop(cache);
        let token = ap_req_token(&ticket)?;
        Ok(Secret::new(
            base64::engine::general_purpose::STANDARD.encode(token),
        ))
    }

    /// The TGT (cached, or from an AS exchange) then a TGS exchange.
    async fn new_ticket(
        &self,
        cached: &mut Option<Arc<Tgt>>,
    ) -> Result<ServiceTicket, CollectError> {
        let fresh = cached.clone().filter(|t| SystemTime::now() < t.renew_at);
        let t = match fresh {
            Some(t) => t,
            None => {
                let (as_rep, part) = self.as_exchange().await?;
                let t = Arc::new(Tgt {
                    renew_at: renew_at(&part)?,
                    as_rep,
                    part,
                });
                *cached = Some(t.clone());
                t
            }
        };
        let (as_rep, tgt) = (&t.as_rep, &t.part);
        let mut enc = EncryptionParams::default_for_client();
        enc.encryption_type = Some(key_type(&tgt.key.0)?);
        let tgt_key: sspi::Secret<Vec<u8>> = tgt.key.0.key_value.0 .0.clone().into();
        let mut authenticator = gen::generate_authenticator(GenerateAuthenticatorOptions {
            kdc_rep: &as_rep.0,
            seq_num: Some(rand::rng().next_u32() & 0x3fff_ffff),
            sub_key: None,
            checksum: None,
            channel_bindings: None,
            extensions: Vec::new(),
        })
        .map_err(|e| sspi_error("authenticator", e))?;
        let tgs_req = gen::generate_tgs_req(GenerateTgsReqOptions {
            realm: &self.creds.realm,
            service_principal: &self.spn,
            session_key: &tgt_key,
            ticket: as_rep.0.ticket.0.clone(),
            authenticator: &mut authenticator,
            additional_tickets: None,
            enc_params: &enc,
            context_requirements: ClientRequestFlags::empty(),
        })
        .map_err(|e| sspi_error("TGS-REQ", e))?;
        let reply = self.kdc(&der(&tgs_req)?).await?;
        let tgs_rep: TgsRep =
            picky_asn1_der::from_bytes(&reply).map_err(|_| self.tgs_error(&reply))?;
        let cipher = key_type(&tgt.key.0)?.cipher();
        let plain = cipher
            .decrypt(
                tgt_key.as_ref(),
                TGS_REP_ENC_SESSION_KEY,
                &tgs_rep.0.enc_part.0.cipher.0 .0,
            )
            .map_err(|_| CollectError::Auth("Kerberos: TGS-REP does not decrypt".into()))?;
        let part: EncTgsRepPart =
            picky_asn1_der::from_bytes(&plain).map_err(|e| sspi_error("TGS-REP", e))?;
        let part = part.0;
        Ok(ServiceTicket {
            enctype: key_type(&part.key.0)?,
            session_key: part.key.0.key_value.0 .0.clone().into(),
            renew_at: renew_at(&part)?,
            reply: tgs_rep,
        })
    }

    /// A TGS exchange's KRB-ERROR; an unknown service principal is named
    /// (a principal name is not a secret), so the operator sees which one
    /// to register or to set as `kerberos.service_principal`.
    fn tgs_error(&self, reply: &[u8]) -> CollectError {
        match picky_asn1_der::from_bytes::<KrbError>(reply) {
            Ok(e) if e.0.error_code.0 == code::KDC_ERR_S_PRINCIPAL_UNKNOWN => {
                CollectError::Auth(format!(
                    "KDC (TGS exchange): the console's service principal {}@{} is unknown to the KDC: register it for the console's account (setspn -S {} <account>) or set kerberos.service_principal",
                    self.spn, self.creds.realm, self.spn
                ))
            }
            _ => kdc_error(reply, "TGS"),
        }
    }

    /// The AS exchange: first without pre-authentication, to learn the
    /// salt and enctype the KDC wants (`KDC_ERR_PREAUTH_REQUIRED` with
    /// `PA-ETYPE-INFO2`, RFC 4120 §3.1.3; Active Directory always asks),
    /// then with `PA-ENC-TIMESTAMP`.
    async fn as_exchange(&self) -> Result<(AsRep, EncKdcRepPart), CollectError> {
        let c = &self.creds;
        let nonce = rand::rng().next_u32() & 0x7fff_ffff;
        let krbtgt = ["krbtgt", c.realm.as_str()];
        let body = gen::generate_as_req_kdc_body(&GenerateAsReqOptions {
            realm: &c.realm,
            username: &c.user,
            cname_type: picky_krb::constants::types::NT_PRINCIPAL,
            snames: &krbtgt,
            nonce,
            hostname: "ivanti-exporter",
            context_requirements: ClientRequestFlags::empty(),
        })
        .map_err(|e| sspi_error("AS-REQ", e))?;
        let mut salt = format!("{}{}", c.realm, c.user.replace('/', ""));
        let mut enctype = CipherSuite::Aes256CtsHmacSha196;
        let mut pa = self.pa_data(false, &salt, &enctype)?;
        for _ in 0..2 {
            let req = gen::generate_as_req(pa, body.clone());
            let reply = self.kdc(&der(&req)?).await?;
            if let Ok(as_rep) = picky_asn1_der::from_bytes::<AsRep>(&reply) {
                let part = self.decrypt_as_rep(&as_rep, &salt)?;
                return Ok((as_rep, part));
            }
            match picky_asn1_der::from_bytes::<KrbError>(&reply) {
                Ok(e) if e.0.error_code.0 == code::KDC_ERR_PREAUTH_REQUIRED => {
                    if let Ok(Some(s)) = gen_salt(&e) {
                        salt = s;
                    }
                    // Send nothing the KDC did not offer: a timestamp
                    // under a key it does not hold is a failed logon with
                    // the right password, counted toward lockout.
                    let offered = offered_etypes(&e);
                    if !offered.is_empty() {
                        let Some((aes, aes_salt)) =
                            offered.iter().find(|(etype, _)| matches!(etype, 17 | 18))
                        else {
                            return Err(no_aes_keys());
                        };
                        enctype =
                            CipherSuite::try_from(*aes as usize).map_err(|_| no_aes_keys())?;
                        if let Some(s) = aes_salt {
                            salt = s.clone();
                        }
                    }
                    enctype = self.keytab_enctype().unwrap_or(enctype);
                    pa = self.pa_data(true, &salt, &enctype)?;
                }
                _ => return Err(kdc_error(&reply, "AS")),
            }
        }
        Err(CollectError::Auth(
            "Kerberos: the KDC keeps asking for pre-authentication".into(),
        ))
    }

    fn keytab_enctype(&self) -> Option<CipherSuite> {
        match &self.creds.secret {
            KerberosSecret::Keytab(keys) => keys
                .iter()
                .max_by_key(|k| (k.kvno, k.enctype))
                .and_then(|k| CipherSuite::try_from(k.enctype as usize).ok()),
            KerberosSecret::Password(_) => None,
        }
    }

    fn pa_data(
        &self,
        pre_auth: bool,
        salt: &str,
        enctype: &CipherSuite,
    ) -> Result<Vec<picky_krb::data_types::PaData>, CollectError> {
        let r = match &self.creds.secret {
            KerberosSecret::Password(p) => {
                let mut enc = EncryptionParams::default_for_client();
                enc.encryption_type = Some(enctype.clone());
                gen::generate_pa_datas_for_as_req(&GenerateAsPaDataOptions {
                    password: p.expose(),
                    salt: salt.as_bytes().to_vec(),
                    enc_params: enc,
                    with_pre_auth: pre_auth,
                })
            }
            KerberosSecret::Keytab(_) => {
                let key = self.long_term_key(enctype, salt)?;
                gen::generate_pa_datas_for_as_req_with_key(&GenerateKeytabPaDataOptions {
                    key: key.into(),
                    key_enctype: enctype.clone(),
                    with_pre_auth: pre_auth,
                })
            }
        };
        r.map_err(|e| sspi_error("pre-authentication", e))
    }

    /// The principal's key for `enctype`: derived from the password and
    /// salt, or the keytab's.
    fn long_term_key(&self, enctype: &CipherSuite, salt: &str) -> Result<Vec<u8>, CollectError> {
        match &self.creds.secret {
            KerberosSecret::Password(p) => enctype
                .cipher()
                .generate_key_from_password(p.expose().as_bytes(), salt.as_bytes())
                .map_err(|e| sspi_error("key", e)),
            KerberosSecret::Keytab(keys) => {
                let want = usize::from(enctype.clone()) as u16;
                keys.iter()
                    .filter(|k| k.enctype == want)
                    .max_by_key(|k| k.kvno)
                    .map(|k| k.key.clone())
                    .ok_or_else(|| {
                        CollectError::Auth(format!(
                            "Kerberos: the keytab has no key of enctype {want} the KDC asks for"
                        ))
                    })
            }
        }
    }

    /// The AS-REP's encrypted part, with the key of the enctype and salt it
    /// names; a reply that does not decrypt means a wrong password (KDCs
    /// that do not require pre-authentication answer without checking it).
    fn decrypt_as_rep(&self, as_rep: &AsRep, salt: &str) -> Result<EncKdcRepPart, CollectError> {
        let (etype, named_salt) = gen_params(as_rep).unwrap_or((18, String::new()));
        let salt = if named_salt.is_empty() {
            salt
        } else {
            &named_salt
        };
        let enctype = CipherSuite::try_from(usize::from(etype))
            .map_err(|_| CollectError::Auth(format!("Kerberos: unsupported enctype {etype}")))?;
        let key = self.long_term_key(&enctype, salt)?;
        let plain = enctype
            .cipher()
            .decrypt(&key, AS_REP_ENC, &as_rep.0.enc_part.0.cipher.0 .0)
            .map_err(|_| {
                CollectError::Auth(
                    "Kerberos: wrong password (the KDC's answer does not decrypt)".into(),
                )
            })?;
        // RFC 4120 §5.4.2 lets KDCs (MIT among them) tag it EncTGSRepPart.
        picky_asn1_der::from_bytes::<EncAsRepPart>(&plain)
            .map(|p| p.0)
            .or_else(|_| picky_asn1_der::from_bytes::<EncTgsRepPart>(&plain).map(|p| p.0))
            .map_err(|e| sspi_error("AS-REP", e))
    }

    /// Each KDC gets a third of the request timeout (MIT's client waits
    /// 1 s per KDC before the next), so a silent first KDC leaves time for
    /// the others.
    async fn kdc(&self, message: &[u8]) -> Result<Vec<u8>, CollectError> {
        kdc::exchange(&self.creds.kdcs, message, self.timeout / 3).await
    }
}

/// The error for an account whose keys the KDC offers are none of AES's.
fn no_aes_keys() -> CollectError {
    CollectError::Auth(NO_AES_KEYS.to_owned())
}

const NO_AES_KEYS: &str = "Kerberos: this account has no AES keys: enable AES for it (msDS-SupportedEncryptionTypes) and reset its password";

/// The enctypes (with their salts) a KDC offers in the `PA-ETYPE-INFO2`
/// of a `KDC_ERR_PREAUTH_REQUIRED` (RFC 4120 §5.2.7.5), in its order of
/// preference; empty when it names none.
fn offered_etypes(e: &KrbError) -> Vec<(i64, Option<String>)> {
    use picky_asn1::wrapper::Asn1SequenceOf;
    use picky_krb::data_types::{EtypeInfo2, PaData};
    let Some(e_data) = e.0.e_data.0.as_ref() else {
        return Vec::new();
    };
    let Ok(pa_datas) = picky_asn1_der::from_bytes::<Asn1SequenceOf<PaData>>(&e_data.0 .0) else {
        return Vec::new();
    };
    let Some(info) = pa_datas
        .0
        .into_iter()
        .find(|p| p.padata_type.0 .0 == picky_krb::constants::types::PA_ETYPE_INFO2_TYPE)
    else {
        return Vec::new();
    };
    let Ok(entries) = picky_asn1_der::from_bytes::<EtypeInfo2>(&info.padata_data.0 .0) else {
        return Vec::new();
    };
    entries
        .0
        .into_iter()
        .map(|entry| {
            let etype = entry
                .etype
                .0
                .as_unsigned_bytes_be()
                .iter()
                .fold(0i64, |n, b| {
                    n.saturating_mul(256).saturating_add(i64::from(*b))
                });
            let salt = entry.salt.0.map(|s| s.0.to_string());
            (etype, salt)
        })
        .collect()
}

fn gen_salt(e: &KrbError) -> Result<Option<String>, sspi::Error> {
    sspi::kerberos::client::extractors::extract_salt_from_krb_error(e)
}

fn gen_params(as_rep: &AsRep) -> Option<(u8, String)> {
    sspi::kerberos::client::extractors::extract_encryption_params_from_as_rep(as_rep).ok()
}

fn der<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, CollectError> {
    picky_asn1_der::to_vec(v).map_err(|e| sspi_error("encoding", e))
}

fn key_type(k: &picky_krb::data_types::EncryptionKey) -> Result<CipherSuite, CollectError> {
    let t = k.key_type.0 .0.last().copied().unwrap_or_default();
    CipherSuite::try_from(usize::from(t))
        .map_err(|_| CollectError::Auth(format!("Kerberos: unsupported session key type {t}")))
}

fn system_time(t: &KerberosTime) -> Result<SystemTime, CollectError> {
    time::OffsetDateTime::try_from(t.0.clone())
        .map(SystemTime::from)
        .map_err(|_| CollectError::Auth("Kerberos: a ticket time is not valid".into()))
}

/// When to stop using a ticket: its end time less a fifth of its lifetime
/// (at most five minutes).
fn renew_at(part: &EncKdcRepPart) -> Result<SystemTime, CollectError> {
    let end = system_time(&part.end_time.0)?;
    let start = match &part.start_time.0 {
        Some(s) => system_time(&s.0)?,
        None => system_time(&part.auth_time.0)?,
    };
    let lifetime = end.duration_since(start).unwrap_or_default();
    let margin = (lifetime / RENEW_FRACTION).min(RENEW_MARGIN_MAX);
    Ok(end.checked_sub(margin).unwrap_or(end))
}

/// An AP-REQ for the ticket with a new authenticator (its own time and
/// sub-key: consoles keep a replay cache), wrapped as the GSS-API initial
/// context token. The authenticator's checksum is the GSS one (type
/// 0x8003, RFC 4121 §4.1.1) with no flags: no delegation, no mutual
/// authentication asked.
fn ap_req_token(t: &ServiceTicket) -> Result<Vec<u8>, CollectError> {
    let mut sub_key = vec![0u8; t.enctype.cipher().key_size()];
    rand::rng().fill_bytes(&mut sub_key);
    let mut checksum = [0u8; 24];
    checksum[0] = 16;
    let authenticator = gen::generate_authenticator(GenerateAuthenticatorOptions {
        kdc_rep: &t.reply.0,
        seq_num: Some(rand::rng().next_u32() & 0x3fff_ffff),
        sub_key: Some(EncKey {
            key_type: t.enctype.clone(),
            key_value: sub_key,
        }),
        checksum: Some(ChecksumOptions {
            checksum_type: AUTHENTICATOR_CHECKSUM_TYPE.to_vec(),
            checksum_value: ChecksumValues::from(checksum),
        }),
        channel_bindings: None,
        extensions: Vec::new(),
    })
    .map_err(|e| sspi_error("authenticator", e))?;
    let mut enc = EncryptionParams::default_for_client();
    enc.encryption_type = Some(t.enctype.clone());
    let ap_req = gen::generate_ap_req(
        t.reply.0.ticket.0.clone(),
        &t.session_key,
        &authenticator,
        &enc,
        sspi::kerberos::flags::ApOptions::empty(),
    )
    .map_err(|e| sspi_error("AP-REQ", e))?;
    let oid = oid::ObjectIdentifier::try_from(KRB5_OID)
        .map_err(|e| sspi_error("OID", format!("{e:?}")))?;
    der(&ApplicationTag0(KrbMessage {
        krb5_oid: ObjectIdentifierAsn1::from(oid),
        krb5_token_id: AP_REQ_TOKEN_ID,
        krb_msg: ap_req,
    }))
}

/// A KDC answer that is not the reply expected: its KRB-ERROR as a
/// [`CollectError`], or "not Kerberos".
fn kdc_error(reply: &[u8], exchange: &str) -> CollectError {
    match picky_asn1_der::from_bytes::<KrbError>(reply) {
        Ok(e) => krb_error(&e, &format!("KDC ({exchange} exchange)")),
        Err(_) => CollectError::Auth(format!(
            "Kerberos: the KDC's {exchange} answer is not a Kerberos message"
        )),
    }
}

/// A KRB-ERROR from `from` (the KDC or the console) as a [`CollectError`]
/// with its `reason` (see the module table). The KDC's own text is kept,
/// but never a principal name or key.
pub fn krb_error(e: &KrbError, from: &str) -> CollectError {
    let n = e.0.error_code.0;
    let what = match n {
        code::KDC_ERR_PREAUTH_FAILED => "wrong password (pre-authentication failed)",
        code::KDC_ERR_C_PRINCIPAL_UNKNOWN => "the exporter's principal is unknown to the KDC",
        code::KDC_ERR_CLIENT_REVOKED => "the exporter's account is disabled or locked out",
        code::KDC_ERR_KEY_EXPIRED => "the exporter's password has expired",
        // What Active Directory answers an account with only RC4 keys.
        code::KDC_ERR_ETYPE_NOSUPP => NO_AES_KEYS.trim_start_matches("Kerberos: "),
        code::KDC_ERR_S_PRINCIPAL_UNKNOWN => {
            "the console's service principal is unknown to the KDC (set kerberos.service_principal)"
        }
        code::KRB_AP_ERR_SKEW => {
            return CollectError::ClockSkew(format!(
                "{from}: clocks differ by more than the allowed skew (KRB_AP_ERR_SKEW); check NTP on the exporter's host"
            ))
        }
        code::KRB_AP_ERR_TKT_EXPIRED => {
            return CollectError::TicketExpired(format!(
                "{from}: the ticket has expired (KRB_AP_ERR_TKT_EXPIRED)"
            ))
        }
        _ => "",
    };
    let what = if what.is_empty() {
        format!("Kerberos error {n}")
    } else {
        what.to_owned()
    };
    CollectError::Auth(format!("{from}: {what}"))
}

/// The KRB-ERROR a console sent back in `WWW-Authenticate: Negotiate
/// <token>` (a GSS-API token with id `03 00`, RFC 4121 §4.1), if any.
pub fn console_error(token_b64: &str) -> Option<KrbError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token_b64.trim())
        .ok()?;
    let m = KrbMessage::<KrbError>::decode_application_krb_message(&raw).ok()?;
    (m.0.krb5_token_id == KRB_ERROR_TOKEN_ID).then_some(m.0.krb_msg)
}

#[cfg(test)]
mod tests;

//! The `kerberos:` block of a Security Controls target, read by the kind
//! (the config passes it through as written): `user@REALM`, exactly one
//! of password, password_file and keytab_file, the service principal, and
//! the KDCs from the block or from `krb5.conf`.

use super::{kdc, keytab, KerberosCredentials, KerberosSecret};
use crate::kinds::ConfigContext;
use crate::secret::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// The block's keys.
pub(crate) const KEYS: &[&str] = &[
    "principal",
    "password",
    "password_file",
    "keytab_file",
    "service_principal",
    "kdc",
];

/// `kerberos`: a Kerberos principal (Security Controls consoles in a
/// Windows domain that refuses NTLM).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KerberosFileConfig {
    /// `user@REALM`, e.g. `svc-monitor@CORP.EXAMPLE.COM`.
    pub principal: Option<String>,
    /// Password, inline.
    pub password: Option<Secret>,
    /// Password, read from a file.
    pub password_file: Option<PathBuf>,
    /// The principal's keys, from a keytab file (instead of a password).
    pub keytab_file: Option<PathBuf>,
    /// The console's service principal; `HTTP/<console host>` by default.
    pub service_principal: Option<String>,
    /// The realm's KDCs (`host[:port]`); by default the realm's `kdc`
    /// entries in `krb5.conf` (`$KRB5_CONFIG` or `/etc/krb5.conf`).
    pub kdc: Option<Vec<String>>,
}

/// `kerberos:`: `user@REALM`, exactly one of password, password_file
/// and keytab_file (the keytab must hold an AES key of the principal),
/// and KDCs from the block or from `krb5.conf`.
pub(crate) fn credentials(
    path: &str,
    k: &KerberosFileConfig,
    cx: &mut dyn ConfigContext,
) -> Option<KerberosCredentials> {
    let principal = k.principal.as_deref().unwrap_or_default();
    let Some((user, realm)) = principal
        .rsplit_once('@')
        .filter(|(u, r)| !u.is_empty() && !r.is_empty())
    else {
        cx.problem(
            &format!("{path}.principal"),
            "missing or not user@REALM (e.g. svc-monitor@CORP.EXAMPLE.COM)",
        );
        return None;
    };
    let secret = match (&k.keytab_file, &k.password, &k.password_file) {
        (Some(f), None, None) => {
            let at = format!("{path}.keytab_file");
            let full = cx.full_path(f);
            let keys = keytab::parse(&cx.read_credential_file(&at, f)?)
                .map_err(|e| cx.problem(&at, &format!("{}: {e}", full.display())))
                .ok()?;
            if keytab::best_key(&keys, principal).is_none() {
                cx.problem(
                    &at,
                    &format!("{} has no AES key for {principal}", full.display()),
                );
                return None;
            }
            let mine = keys
                .into_iter()
                .filter(|key| key.principal == principal)
                .collect();
            KerberosSecret::Keytab(mine)
        }
        (Some(_), _, _) => {
            cx.problem(
                &format!("{path}.keytab_file"),
                "set either a keytab or a password, not both",
            );
            return None;
        }
        _ => KerberosSecret::Password(cx.password(path, &k.password, &k.password_file)?),
    };
    let kdcs = match &k.kdc {
        Some(list) if !list.is_empty() => list.clone(),
        _ => {
            let conf = kdc::krb5_conf_path();
            let found = std::fs::read_to_string(&conf)
                .map(|text| kdc::realm_kdcs(&text, realm))
                .unwrap_or_default();
            if found.is_empty() {
                cx.problem(
                    &format!("{path}.kdc"),
                    &format!(
                        "no KDC for realm {realm}: set kdc, or a [realms] {realm} kdc entry in {} (DNS SRV lookup is not supported)",
                        conf.display()
                    ),
                );
                return None;
            }
            found
        }
    };
    if let Some(spn) = &k.service_principal {
        if !spn.contains('/') || spn.contains('@') {
            cx.problem(
                &format!("{path}.service_principal"),
                "not service/host (e.g. HTTP/console.corp.example.com), without a realm",
            );
            return None;
        }
    }
    Some(KerberosCredentials {
        user: user.to_owned(),
        realm: realm.to_owned(),
        secret,
        service_principal: k.service_principal.clone(),
        kdcs,
    })
}

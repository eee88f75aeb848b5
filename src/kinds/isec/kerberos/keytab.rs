//! MIT keytab files (format version `0x0502`, what `kadmin ktadd`, `ktutil`
//! and Windows' `ktpass` write): the long-term keys of a principal. Read for
//! the exporter's own principal (`kerberos.keytab_file`) and by the
//! simulated console for its `HTTP/` service key.
//!
//! Layout (MIT krb5 `doc/formats/keytab_file_format.rst`): `05 02`, then
//! entries, each an `i32` size (negative: a hole of that many bytes) and
//! `u16` component count, realm, components (each `u16` length + bytes),
//! `u32` name type, `u32` timestamp, `u8` kvno, `u16` enctype, `u16` key
//! length + key, and an optional `u32` kvno that overrides the 8-bit one.

use std::fmt;

/// One key of a keytab.
#[derive(Clone, PartialEq, Eq)]
pub struct KeytabKey {
    /// `name/components@REALM`.
    pub principal: String,
    /// Key version number.
    pub kvno: u32,
    /// Kerberos encryption type (18 = aes256-cts-hmac-sha1-96, 17 = aes128).
    pub enctype: u16,
    /// The key itself.
    pub key: Vec<u8>,
}

impl fmt::Debug for KeytabKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeytabKey")
            .field("principal", &self.principal)
            .field("kvno", &self.kvno)
            .field("enctype", &self.enctype)
            .field("key", &"<redacted>")
            .finish()
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated keytab".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn text(&mut self) -> Result<String, String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "keytab name is not UTF-8".into())
    }
}

/// Every key in a keytab file's bytes.
pub fn parse(bytes: &[u8]) -> Result<Vec<KeytabKey>, String> {
    let mut r = Reader(bytes);
    match r.u16()? {
        0x0502 => {}
        0x0501 => return Err("keytab format 0x0501 (host byte order) is not supported".into()),
        v => {
            return Err(format!(
                "not a keytab (starts with {v:#06x}, expected 0x0502)"
            ))
        }
    }
    let mut keys = Vec::new();
    while !r.0.is_empty() {
        let size = r.u32()? as i32;
        if size < 0 {
            r.take(size.unsigned_abs() as usize)?;
            continue;
        }
        let mut e = Reader(r.take(size as usize)?);
        let components = e.u16()?;
        let realm = e.text()?;
        let names = (0..components)
            .map(|_| e.text())
            .collect::<Result<Vec<_>, _>>()?;
        let _name_type = e.u32()?;
        let _timestamp = e.u32()?;
        let kvno8 = e.u8()?;
        let enctype = e.u16()?;
        let n = e.u16()? as usize;
        let key = e.take(n)?.to_vec();
        let kvno = if e.0.len() >= 4 {
            e.u32()?
        } else {
            kvno8.into()
        };
        keys.push(KeytabKey {
            principal: format!("{}@{realm}", names.join("/")),
            kvno,
            enctype,
            key,
        });
    }
    Ok(keys)
}

/// The key for `principal` (exact, case-sensitive like Kerberos names) of
/// the newest kvno, preferring AES-256 over AES-128; other enctypes are not
/// used (RC4 and DES are off in current Windows domains).
pub fn best_key<'a>(keys: &'a [KeytabKey], principal: &str) -> Option<&'a KeytabKey> {
    keys.iter()
        .filter(|k| k.principal == principal && matches!(k.enctype, 17 | 18))
        .max_by_key(|k| (k.kvno, k.enctype))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keytab as `kadmin ktadd` writes it: two entries (aes256, aes128)
    /// for `HTTP/console.sim.test@SIM.TEST`, kvno 2, with the 32-bit kvno.
    fn sample() -> Vec<u8> {
        let mut b = vec![0x05, 0x02];
        for (enctype, len) in [(18u16, 32usize), (17, 16)] {
            let mut e = Vec::new();
            e.extend_from_slice(&2u16.to_be_bytes());
            for s in ["SIM.TEST", "HTTP", "console.sim.test"] {
                e.extend_from_slice(&(s.len() as u16).to_be_bytes());
                e.extend_from_slice(s.as_bytes());
            }
            e.extend_from_slice(&1u32.to_be_bytes());
            e.extend_from_slice(&1_796_300_000u32.to_be_bytes());
            e.push(2);
            e.extend_from_slice(&enctype.to_be_bytes());
            e.extend_from_slice(&(len as u16).to_be_bytes());
            e.extend(std::iter::repeat_n(enctype as u8, len));
            e.extend_from_slice(&2u32.to_be_bytes());
            b.extend_from_slice(&(e.len() as u32).to_be_bytes());
            b.extend_from_slice(&e);
        }
        // A hole left by a removed entry.
        b.extend_from_slice(&(-4i32).to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        b
    }

    #[test]
    fn reads_the_entries_and_picks_aes256() {
        let keys = parse(&sample()).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].principal, "HTTP/console.sim.test@SIM.TEST");
        assert_eq!(
            (keys[0].kvno, keys[0].enctype, keys[0].key.len()),
            (2, 18, 32)
        );
        assert_eq!((keys[1].enctype, keys[1].key.len()), (17, 16));
        let best = best_key(&keys, "HTTP/console.sim.test@SIM.TEST").unwrap();
        assert_eq!(best.enctype, 18);
        assert!(best_key(&keys, "HTTP/other@SIM.TEST").is_none());
        assert!(!format!("{best:?}").contains("18, 18"));
    }

    #[test]
    fn refuses_what_is_not_a_keytab() {
        assert!(parse(b"[libdefaults]")
            .unwrap_err()
            .contains("not a keytab"));
        let mut t = sample();
        t.truncate(30);
        assert_eq!(parse(&t).unwrap_err(), "truncated keytab");
    }
}

//! Connect Secure / Policy Secure / ZTA firmware versions: parsing every
//! form appliances and tools print, and the train a version belongs to.
//!
//! A version is `major.minor R release [. patch]` (`22.7R2.3`): the train is
//! `major.minor R release` (`22.7R2`), the patch level orders versions inside
//! it (`9.1R15` is patch 0, before `9.1R15.2`). Builds restart per train, so
//! a build number orders versions only inside one train; the dotted form
//! `22.7.2.3597` is `major.minor.release.build` and carries **no** patch level
//! (its last number is a build, not a patch: comparing it with `22.7.2.6`
//! would call every 22.7R2 build "fixed").

use std::fmt;

/// A release train: `22.7R2`, `9.1R15`. Ordered as the vendor numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Train {
    /// `22` in `22.7R2`.
    pub major: u32,
    /// `7` in `22.7R2`.
    pub minor: u32,
    /// `2` in `22.7R2`.
    pub release: u32,
}

impl fmt::Display for Train {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}R{}", self.major, self.minor, self.release)
    }
}

/// A parsed firmware version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Its train.
    pub train: Train,
    /// Patch level inside the train (`3` in `22.7R2.3`, `0` in `9.1R15`);
    /// `None` for the dotted form, which carries a build instead.
    pub patch: Option<u32>,
    /// A build number written in the version string itself
    /// (`(build 3431)`, `b3597`, the dotted form's last number).
    pub build: Option<u32>,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(0) => write!(f, "{}", self.train),
            Some(p) => write!(f, "{}.{p}", self.train),
            None => write!(f, "{}", self.train),
        }
    }
}

/// Why a string is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a firmware version: {0:?}")]
pub struct VersionError(pub String);

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A build number as `software-inventory` gives it (`"6087"`), or `b6087`.
pub fn parse_build(s: &str) -> Option<u32> {
    let s = s.trim();
    let s = s
        .strip_prefix('b')
        .or_else(|| s.strip_prefix('B'))
        .unwrap_or(s);
    num(s)
}

impl Version {
    /// Parse `9.1R7`, `22.7R2.3 (build 3431)`, `22.7r2.4 b3597`,
    /// `ICS 22.7R2.4` (a product prefix is ignored; the target's
    /// `kind_options.product` says the product) and the dotted
    /// `22.7.2.3597`.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let err = || VersionError(text.chars().take(64).collect());
        let mut words = text.split_whitespace().peekable();
        // A product name in front.
        if let Some(w) = words.peek() {
            if w.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
                words.next();
            }
        }
        let core = words.next().ok_or_else(err)?;
        let rest: Vec<&str> = words.collect();
        let build = match rest.as_slice() {
            [] => None,
            // `(build 3431)`
            [a, b] if a.eq_ignore_ascii_case("(build") => {
                Some(num(b.strip_suffix(')').ok_or_else(err)?).ok_or_else(err)?)
            }
            // `b3597`, `build 3597`
            [b] => Some(parse_build(b).ok_or_else(err)?),
            [a, b] if a.eq_ignore_ascii_case("build") => Some(num(b).ok_or_else(err)?),
            _ => return Err(err()),
        };
        let mut v = match core.find(['R', 'r']) {
            Some(at) => {
                let (mm, rp) = (&core[..at], &core[at + 1..]);
                let (major, minor) = mm.split_once('.').ok_or_else(err)?;
                let (release, patch) = match rp.split_once('.') {
                    Some((r, p)) => (r, num(p).ok_or_else(err)?),
                    None => (rp, 0),
                };
                Version {
                    train: Train {
                        major: num(major).ok_or_else(err)?,
                        minor: num(minor).ok_or_else(err)?,
                        release: num(release).ok_or_else(err)?,
                    },
                    patch: Some(patch),
                    build: None,
                }
            }
            None => {
                let parts: Vec<&str> = core.split('.').collect();
                let [major, minor, release, b] = parts.as_slice() else {
                    return Err(err());
                };
                Version {
                    train: Train {
                        major: num(major).ok_or_else(err)?,
                        minor: num(minor).ok_or_else(err)?,
                        release: num(release).ok_or_else(err)?,
                    },
                    patch: None,
                    build: Some(num(b).ok_or_else(err)?),
                }
            }
        };
        if let Some(b) = build {
            if v.build.is_some_and(|d| d != b) {
                return Err(err());
            }
            v.build = Some(b);
        }
        Ok(v)
    }
}

impl Train {
    /// Parse `22.7R2` (a train) or the train of a version (`22.7R2.3`).
    pub fn parse(text: &str) -> Result<Train, VersionError> {
        Version::parse(text).map(|v| v.train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, release: u32, patch: Option<u32>, build: Option<u32>) -> Version {
        Version {
            train: Train {
                major,
                minor,
                release,
            },
            patch,
            build,
        }
    }

    #[test]
    fn every_form_seen_in_practice() {
        let cases = [
            // Seed 000's system-information: the build is a separate field.
            ("9.1R7", v(9, 1, 7, Some(0), None)),
            ("22.7R2.3 (build 3431)", v(22, 7, 2, Some(3), Some(3431))),
            ("22.7r2.4 b3597", v(22, 7, 2, Some(4), Some(3597))),
            ("ICS 22.7R2.4", v(22, 7, 2, Some(4), None)),
            // major.minor.R.build: 3597 is a build, there is no patch level.
            ("22.7.2.3597", v(22, 7, 2, None, Some(3597))),
            ("  9.1R18.3  ", v(9, 1, 18, Some(3), None)),
            ("22.7R2 build 1379", v(22, 7, 2, Some(0), Some(1379))),
        ];
        for (text, want) in cases {
            assert_eq!(Version::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_guess() {
        for text in [
            "",
            "9.1",
            "R7",
            "9.1R",
            "9.1Rx",
            "22.7.2",
            "22.7.2.3597.1",
            "22.7R2.3 (build x)",
            "22.7R2.3 (build 3431",
            "22.7.2.3597 b3598",
            "9.1R7 and more words",
            "99999999999.1R1",
        ] {
            assert!(Version::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn trains_order_as_the_vendor_numbers_them() {
        let t = |s| Train::parse(s).unwrap();
        assert!(t("9.1R15") < t("9.1R18"));
        assert!(t("9.1R9") < t("9.1R10"), "numeric, not lexical");
        assert!(t("9.1R18") < t("22.1R6"));
        assert!(t("22.6R2") < t("22.7R1"));
        assert_eq!(t("22.7R2.4").to_string(), "22.7R2");
    }

    #[test]
    fn builds() {
        assert_eq!(parse_build("6087"), Some(6087));
        assert_eq!(parse_build(" b3597 "), Some(3597));
        assert_eq!(parse_build(""), None);
        assert_eq!(parse_build("-1"), None);
    }
}

//! Dates as Connect Secure prints them, read tolerantly: the ESAP list's
//! `"Sun 17 Mar 2019 23:54:12 PDT"`, `date`-style `"Sun Mar 17 23:54:12 PDT
//! 2019"`, `"2019/03/17 23:54:12"`, ISO 8601 with `T`, `Z` or `+02:00`, and
//! Unix seconds. Words for weekdays are skipped; the zone may be an
//! abbreviation (a fixed table; an ambiguous one such as `IST` is not
//! guessed), a numeric offset, or absent.

use time::{Date, Month, PrimitiveDateTime, Time};

/// A date the appliance printed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApplianceDate {
    /// Unix seconds, reading the printed wall time as UTC when the zone is
    /// not known.
    pub unix: f64,
    /// The zone's offset from UTC in seconds, when the text names one this
    /// table knows (or a numeric offset, or Unix seconds).
    pub offset: Option<i64>,
}

impl ApplianceDate {
    /// Unix seconds when the zone is known, else `None`.
    pub fn known(&self) -> Option<f64> {
        self.offset.map(|_| self.unix)
    }
}

/// Zone abbreviations with one meaning (seconds east of UTC).
const ZONES: &[(&str, i64)] = &[
    ("UTC", 0),
    ("UT", 0),
    ("GMT", 0),
    ("Z", 0),
    ("WET", 0),
    ("WEST", 3600),
    ("BST", 3600),
    ("CET", 3600),
    ("MET", 3600),
    ("CEST", 7200),
    ("MEST", 7200),
    ("EET", 7200),
    ("EEST", 10800),
    ("MSK", 10800),
    ("SGT", 8 * 3600),
    ("HKT", 8 * 3600),
    ("AWST", 8 * 3600),
    ("JST", 9 * 3600),
    ("KST", 9 * 3600),
    ("ACST", 9 * 3600 + 1800),
    ("AEST", 10 * 3600),
    ("AEDT", 11 * 3600),
    ("NZST", 12 * 3600),
    ("NZDT", 13 * 3600),
    ("HST", -10 * 3600),
    ("AKST", -9 * 3600),
    ("AKDT", -8 * 3600),
    ("PST", -8 * 3600),
    ("PDT", -7 * 3600),
    ("MST", -7 * 3600),
    ("MDT", -6 * 3600),
    ("CST", -6 * 3600),
    ("CDT", -5 * 3600),
    ("EST", -5 * 3600),
    ("EDT", -4 * 3600),
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Default)]
struct Parts {
    year: Option<i32>,
    month: Option<u8>,
    day: Option<u8>,
    hms: Option<(u8, u8, u8)>,
    pm: Option<bool>,
    offset: Option<i64>,
    unknown_zone: bool,
}

/// `+0200`, `-07:00`, `+05:30`.
fn numeric_offset(t: &str) -> Option<i64> {
    let sign = match t.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = t[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// `23:54:12`, `23:54`, `23:54:12.5`, with a `Z` or offset glued on.
fn clock(t: &str, p: &mut Parts) -> Option<()> {
    let (t, zone) = match t.find(['Z', 'z', '+', '-']) {
        Some(i) => (&t[..i], Some(&t[i..])),
        None => (t, None),
    };
    let mut it = t.split(':');
    let h: u8 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let s: u8 = match it.next() {
        Some(s) => s.split('.').next()?.parse().ok()?,
        None => 0,
    };
    if it.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    p.hms = Some((h, m, s.min(59)));
    match zone {
        Some("Z" | "z") => p.offset = Some(0),
        Some(z) => p.offset = Some(numeric_offset(z)?),
        None => {}
    }
    Some(())
}

/// `2019-03-17`, `2019/03/17` (year first).
fn ymd(t: &str, p: &mut Parts) -> Option<()> {
    let mut it = t.split(['-', '/']);
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1000..=9999).contains(&y) {
        return None;
    }
    (p.year, p.month, p.day) = (Some(y), Some(m), Some(d));
    Some(())
}

fn token(t: &str, p: &mut Parts) -> Option<()> {
    let lower = t.to_ascii_lowercase();
    let alpha = t.chars().all(|c| c.is_ascii_alphabetic());
    if alpha {
        if let Some(m) = MONTHS.iter().position(|m| lower.starts_with(m)) {
            p.month = Some(m as u8 + 1);
            return Some(());
        }
        if WEEKDAYS.iter().any(|w| lower.starts_with(w)) {
            return Some(());
        }
        match lower.as_str() {
            "am" => p.pm = Some(false),
            "pm" => p.pm = Some(true),
            _ => match ZONES.iter().find(|(z, _)| z.eq_ignore_ascii_case(t)) {
                Some((_, off)) => p.offset = Some(*off),
                // One unknown word is a zone this table does not know; a
                // second one is not a date.
                None if p.unknown_zone => return None,
                None => p.unknown_zone = true,
            },
        }
        return Some(());
    }
    if let Some((date, time)) = t.split_once(['T', 't']) {
        ymd(date, p)?;
        return clock(time, p);
    }
    if t.contains(':') && t.as_bytes().first()?.is_ascii_digit() {
        return clock(t, p);
    }
    if let Some(off) = numeric_offset(t) {
        p.offset = Some(off);
        return Some(());
    }
    if t.contains(['-', '/']) {
        return ymd(t, p);
    }
    let n: u32 = t.parse().ok()?;
    match t.len() {
        4 => p.year = Some(n as i32),
        1 | 2 => p.day = Some(n as u8),
        _ => return None,
    }
    Some(())
}

/// Read a date; `None` when it has no year, month and day (or they do
/// not make a date), or a word that is neither a month, a weekday nor a
/// zone abbreviation stands where a zone would not.
pub fn parse(text: &str) -> Option<ApplianceDate> {
    let text = text.trim();
    if let Ok(n) = text.parse::<f64>() {
        // Unix seconds, or milliseconds.
        let secs = if n > 1.0e11 { n / 1000.0 } else { n };
        return (secs.is_finite() && secs > 0.0).then_some(ApplianceDate {
            unix: secs,
            offset: Some(0),
        });
    }
    let mut p = Parts::default();
    for t in text.split([' ', ',', '\t']).filter(|t| !t.is_empty()) {
        token(t, &mut p)?;
    }
    let month = Month::try_from(p.month?).ok()?;
    let date = Date::from_calendar_date(p.year?, month, p.day?).ok()?;
    let (mut h, m, s) = p.hms.unwrap_or((0, 0, 0));
    match p.pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    let wall = PrimitiveDateTime::new(date, Time::from_hms(h, m, s).ok()?);
    let offset = if p.unknown_zone { None } else { p.offset };
    let unix = wall.assume_utc().unix_timestamp() - offset.unwrap_or(0);
    Some(ApplianceDate {
        unix: unix as f64,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2019-03-18T06:54:12Z, the ESAP sample's activation.
    const ESAP: f64 = 1_552_892_052.0;

    #[test]
    fn the_vendors_forms() {
        for (text, unix, offset) in [
            ("Sun 17 Mar 2019 23:54:12 PDT", ESAP, Some(-7 * 3600)),
            ("Sun Mar 17 23:54:12 PDT 2019", ESAP, Some(-7 * 3600)),
            ("2019-03-18T06:54:12Z", ESAP, Some(0)),
            ("2019-03-18T08:54:12+02:00", ESAP, Some(7200)),
            ("2019/03/18 06:54:12 UTC", ESAP, Some(0)),
            ("Mon, 18 Mar 2019 07:54:12 +0100", ESAP, Some(3600)),
            ("1552892052", ESAP, Some(0)),
            ("1552892052000", ESAP, Some(0)),
            ("Mar 18 2019 06:54:12 AM GMT", ESAP, Some(0)),
            ("Mar 18 2019 12:54:12 PM gmt", ESAP + 6.0 * 3600.0, Some(0)),
        ] {
            let d = parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!((d.unix, d.offset), (unix, offset), "{text}");
        }
    }

    #[test]
    fn no_zone_or_an_ambiguous_one_is_read_as_utc_and_said_so() {
        for text in ["2019/03/18 06:54:12", "Mon 18 Mar 2019 06:54:12 IST"] {
            let d = parse(text).unwrap();
            assert_eq!((d.unix, d.offset, d.known()), (ESAP, None, None), "{text}");
        }
    }

    #[test]
    fn not_dates() {
        for text in [
            "Never",
            "",
            "17 Mar",
            "Sun 31 Feb 2019 10:00:00 UTC",
            "2019-03-18 25:00:00",
            "-5",
            "2019-03-18 06:54:12 is the time",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }
    }
}

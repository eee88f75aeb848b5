//! `GET /api/v1/system/active-users?number=N&start=S`: the total, and the
//! records of one page for the breakdowns by realm, node and transport.
//!
//! Only the fields the breakdowns need are decoded (borrowed where the JSON
//! allows). User names and session ids are hashed into a record id for
//! de-duplication across pages and never kept as text.

use super::lenient::{lenient_str, object_or_list, one_or_many, opt_bool, opt_f64, opt_object};
use super::{expect_ok, IcsAppliance};
use crate::client::ApiResponse;
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::{Collector, CollectorSpec};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::Ordering;

/// `ivanti_active_sessions`
pub static SESSIONS: Desc = Desc::gauge(
    "ivanti_active_sessions",
    "Active sessions from total-matched-record-number",
    &[],
);
/// `ivanti_active_sessions_by_realm`
pub static BY_REALM: Desc = Desc::gauge(
    "ivanti_active_sessions_by_realm",
    "Active sessions per authentication-realm, over the records read",
    &["realm"],
);
/// `ivanti_active_sessions_by_node`
pub static BY_NODE: Desc = Desc::gauge(
    "ivanti_active_sessions_by_node",
    "Active sessions per login-node, over the records read",
    &["node"],
);
/// `ivanti_active_sessions_by_transport`
pub static BY_TRANSPORT: Desc = Desc::gauge(
    "ivanti_active_sessions_by_transport",
    "Active sessions per network-connect-transport-mode (none for sessions without a tunnel), over the records read",
    &["transport"],
);
/// `ivanti_active_sessions_breakdown_records`
pub static RECORDS: Desc = Desc::gauge(
    "ivanti_active_sessions_breakdown_records",
    "Distinct session records the by_realm, by_node and by_transport breakdowns were computed from",
    &[],
);
/// `ivanti_user_login_permitted`
pub static LOGIN_PERMITTED: Desc = Desc::gauge(
    "ivanti_user_login_permitted",
    "1 when user-login-permission is true, 0 when user logins are disabled",
    &[],
);

/// Every family of this collector.
pub static METRICS: &[&Desc] = &[
    &SESSIONS,
    &BY_REALM,
    &BY_NODE,
    &BY_TRANSPORT,
    &RECORDS,
    &LOGIN_PERMITTED,
];

/// One page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<'a> {
    /// `total-matched-record-number`.
    pub total_matched: u64,
    /// `total-returned-record-number`.
    pub total_returned: Option<u64>,
    /// List-level `is-last-record`.
    pub is_last_record: Option<bool>,
    /// `user-login-permission`.
    pub user_login_permission: Option<bool>,
    /// The records.
    pub records: Vec<Record<'a>>,
}

/// What the breakdowns need of one session, borrowed from the body where
/// the JSON has no escapes (no allocation per record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Hash of the session id (or of the user, sign-in time, node and realm).
    pub id: u64,
    /// `authentication-realm`.
    pub realm: Option<Cow<'a, str>>,
    /// `login-node`.
    pub node: Option<Cow<'a, str>>,
    /// `network-connect-transport-mode`.
    pub transport: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(
        rename = "active-users",
        default,
        borrow,
        deserialize_with = "opt_object"
    )]
    active_users: Option<Inner<'a>>,
}

#[derive(Deserialize)]
struct Inner<'a> {
    /// `{"active-user-record": [...]}`; also `{}`, `""`, or the bare list.
    #[serde(
        rename = "active-user-records",
        default,
        borrow,
        deserialize_with = "object_or_list"
    )]
    records: Option<RecordList<'a>>,
    #[serde(
        rename = "total-matched-record-number",
        default,
        deserialize_with = "opt_f64"
    )]
    total_matched: Option<f64>,
    #[serde(
        rename = "total-returned-record-number",
        default,
        deserialize_with = "opt_f64"
    )]
    total_returned: Option<f64>,
    #[serde(rename = "is-last-record", default, deserialize_with = "opt_bool")]
    is_last: Option<bool>,
    #[serde(
        rename = "user-login-permission",
        default,
        deserialize_with = "opt_bool"
    )]
    permitted: Option<bool>,
}

#[derive(Deserialize)]
struct RecordList<'a> {
    #[serde(
        rename = "active-user-record",
        default,
        borrow,
        deserialize_with = "one_or_many"
    )]
    records: Vec<RawRecord<'a>>,
    #[serde(rename = "is-last-record", default, deserialize_with = "opt_bool")]
    is_last: Option<bool>,
}

impl<'a> From<Vec<RawRecord<'a>>> for RecordList<'a> {
    fn from(records: Vec<RawRecord<'a>>) -> Self {
        RecordList {
            records,
            is_last: None,
        }
    }
}

/// Only the fields the breakdowns and de-duplication need, borrowed from
/// the body where the JSON has no escapes; every other field is skipped.
#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(rename = "session-id", default, borrow)]
    session_id: Text<'a>,
    #[serde(rename = "active-user-name", default, borrow)]
    user: Text<'a>,
    #[serde(rename = "user-sign-in-time", default, borrow)]
    sign_in: Text<'a>,
    #[serde(rename = "authentication-realm", default, borrow)]
    realm: Text<'a>,
    #[serde(rename = "login-node", default, borrow)]
    node: Text<'a>,
    #[serde(rename = "network-connect-transport-mode", default, borrow)]
    transport: Text<'a>,
}

/// A record field: text (borrowed when possible), numbers as text, anything else absent.
#[derive(Default, Hash)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient_str(d).map(Text)
    }
}

impl RawRecord<'_> {
    /// A record with nothing that identifies a session (`{}`) is not one.
    fn is_session(&self) -> bool {
        self.session_id.0.is_some() || self.user.0.is_some() || self.sign_in.0.is_some()
    }
}

fn record_id(r: &RawRecord<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    match r.session_id.0.as_deref().filter(|s| !s.is_empty()) {
        Some(sid) => {
            0u8.hash(&mut h);
            sid.hash(&mut h);
        }
        None => {
            1u8.hash(&mut h);
            r.user.hash(&mut h);
            r.sign_in.hash(&mut h);
            r.node.hash(&mut h);
            r.realm.hash(&mut h);
        }
    }
    h.finish()
}

/// Parse one page. `total-matched-record-number` is required.
pub fn parse(body: &[u8]) -> Result<Page<'_>, ParseError> {
    let b: Body = parse_json(body)?;
    let inner = b.active_users.ok_or(ParseError::Field("active-users"))?;
    let total = inner
        .total_matched
        .filter(|n| *n >= 0.0)
        .ok_or(ParseError::Field("total-matched-record-number"))?;
    let (records, list_last) = match inner.records {
        Some(l) => (l.records, l.is_last),
        None => (Vec::new(), None),
    };
    Ok(Page {
        total_matched: total as u64,
        total_returned: inner.total_returned.map(|n| n.max(0.0) as u64),
        is_last_record: inner.is_last.or(list_last),
        user_login_permission: inner.permitted,
        records: records
            .into_iter()
            .filter(RawRecord::is_session)
            .map(|r| Record {
                id: record_id(&r),
                realm: r.realm.0,
                node: r.node.0,
                transport: r.transport.0,
            })
            .collect(),
    })
}

/// Counts over the distinct records of all pages of one poll.
#[derive(Debug, Default)]
pub struct Breakdown {
    seen: HashSet<u64>,
    by_realm: BTreeMap<String, u64>,
    by_node: BTreeMap<String, u64>,
    by_transport: BTreeMap<String, u64>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: Option<Cow<'_, str>>, default: &str) {
    let key: Cow<'_, str> = match key {
        Some(k) if !k.trim().is_empty() => k,
        _ => Cow::Borrowed(default),
    };
    match map.get_mut(key.as_ref()) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.into_owned(), 1);
        }
    }
}

impl Breakdown {
    /// Count the records not seen before; returns how many were new.
    pub fn add(&mut self, records: Vec<Record<'_>>) -> usize {
        let mut new = 0;
        for r in records {
            if !self.seen.insert(r.id) {
                continue;
            }
            new += 1;
            bump(&mut self.by_realm, r.realm, "unknown");
            bump(&mut self.by_node, r.node, "unknown");
            bump(&mut self.by_transport, r.transport, "none");
        }
        new
    }

    /// Distinct records counted.
    pub fn records(&self) -> usize {
        self.seen.len()
    }
}

/// The series of one poll.
pub fn samples(total: u64, login_permitted: Option<bool>, b: &Breakdown, out: &mut Samples) {
    out.push(&SESSIONS, &[], total as f64);
    if let Some(p) = login_permitted {
        out.push_bool(&LOGIN_PERMITTED, &[], p);
    }
    out.push(&RECORDS, &[], b.records() as f64);
    for (desc, map) in [
        (&BY_REALM, &b.by_realm),
        (&BY_NODE, &b.by_node),
        (&BY_TRANSPORT, &b.by_transport),
    ] {
        for (k, n) in map {
            out.push(desc, &[k], *n as f64);
        }
    }
}

/// The `active_users` collector.
pub(super) const COLLECTOR: Collector<IcsAppliance> = Collector {
    spec: CollectorSpec {
        name: "active_users",
        default_enabled: true,
        default_interval: None,
        endpoints: &["GET /api/v1/system/active-users?number=N&start=S"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

/// Pages of `number` records from `start` until the total is covered
/// (or `max_records`). Firmware that ignores `start` (9.x guides
/// document only `number`) answers the first page again: then one
/// request with `number = min(total, max_records)` covers every
/// session, and later polls go straight to it.
async fn poll(a: &IcsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let t = &a.options;
    let mut breakdown = Breakdown::default();
    let mut start = 0usize;
    let mut first: Option<(u64, Option<bool>)> = None;
    // Enough pages for max_records even if every page is 1 record short.
    let max_pages = t.max_records / t.page_size.max(1) + 3;
    for _ in 0..max_pages {
        let want = t
            .max_records
            .saturating_sub(breakdown.records())
            .clamp(1, t.page_size);
        let path = format!("/api/v1/system/active-users?number={want}&start={start}");
        let resp = get_page(a, &path).await?;
        let page = parse(&resp.body)?;
        let total = *first.get_or_insert((page.total_matched, page.user_login_permission));
        if t.max_records == 0 {
            break;
        }
        let returned = page.records.len();
        let last = page.is_last_record == Some(true);
        let covered = |b: &Breakdown| b.records() as u64 >= total.0 || b.records() >= t.max_records;
        let new = breakdown.add(page.records);
        if start > 0 && returned > 0 && new == 0 {
            // The first page again: `start` is ignored.
            if !a.ignores_start.swap(true, Ordering::Relaxed) {
                tracing::info!(target = %a.target.name, "the appliance ignores start= in active-users: reading the sessions with one request from now on");
            }
        }
        if a.ignores_start.load(Ordering::Relaxed) && !covered(&breakdown) && !last {
            let number = (total.0 as usize).min(t.max_records).max(1);
            let path = format!("/api/v1/system/active-users?number={number}");
            let all = get_page(a, &path).await;
            match all.and_then(|r| {
                let mut b = Breakdown::default();
                b.add(parse(&r.body)?.records);
                Ok(b)
            }) {
                Ok(b) => breakdown = b,
                // The breakdowns keep the first page;
                // ivanti_active_sessions_breakdown_records says so.
                Err(e) => {
                    tracing::warn!(target = %a.target.name, error = %e, "reading every session in one request failed")
                }
            }
            break;
        }
        if returned == 0 || new == 0 || last || covered(&breakdown) {
            break;
        }
        start += returned;
    }
    let (total, permitted) = first.unwrap_or((0, None));
    samples(total, permitted, &breakdown, out);
    Ok(())
}

async fn get_page(a: &IcsAppliance, path: &str) -> Result<ApiResponse, CollectError> {
    expect_ok(a.get_authed(path).await?)
}

#[cfg(test)]
mod tests {
    use super::super::lenient::testing::{arb_json, lines};
    use super::*;
    use proptest::prelude::*;

    const GUIDE: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/active-users.json");
    const BY_NAME: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/active-users__name=user2.json");
    const SINGLE: &[u8] = include_bytes!(
        "../../../tests/fixtures/ics/api/v1/system/active-users__single-object-hostile.json"
    );
    const QUIRKS: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/active-users__page-quirks.json");
    const EMPTY: &[u8] =
        include_bytes!("../../../tests/fixtures/ics/api/v1/system/active-users__empty.json");

    fn render(p: &Page, b: &Breakdown) -> Vec<String> {
        let mut out = Samples::new();
        samples(p.total_matched, p.user_login_permission, b, &mut out);
        lines(&out)
    }

    #[test]
    fn guide_sample() {
        let p = parse(GUIDE).unwrap();
        assert_eq!(p.total_matched, 2);
        assert_eq!(p.total_returned, Some(2));
        assert_eq!(p.user_login_permission, Some(true));
        assert_eq!(p.is_last_record, None);
        let mut b = Breakdown::default();
        assert_eq!(b.add(p.records.clone()), 2);
        assert_eq!(
            b.add(p.records.clone()),
            0,
            "the same page again adds nothing"
        );
        assert_eq!(b.records(), 2);
        let out = render(&p, &b);
        assert_eq!(
            out,
            [
                "ivanti_active_sessions 2",
                "ivanti_user_login_permitted 1",
                "ivanti_active_sessions_breakdown_records 2",
                r#"ivanti_active_sessions_by_realm{realm="localrealm"} 2"#,
                r#"ivanti_active_sessions_by_node{node="localhost2"} 2"#,
                r#"ivanti_active_sessions_by_transport{transport="none"} 2"#,
            ]
        );
        // Nothing personal is kept or published.
        let all = format!("{p:?}{b:?}{out:?}");
        for secret in ["user1", "user2", "sidb03b1", "sid68377", "11:45:40"] {
            assert!(!all.contains(secret), "{secret}");
        }
    }

    #[test]
    fn a_later_page_with_an_already_seen_session_is_not_counted_twice() {
        let all = parse(GUIDE).unwrap();
        let one = parse(BY_NAME).unwrap();
        assert_eq!((one.total_matched, one.records.len()), (1, 1));
        let mut b = Breakdown::default();
        assert_eq!(b.add(one.records), 1);
        assert_eq!(b.add(all.records), 1, "user2's session was already counted");
        assert_eq!(b.records(), 2);
    }

    #[test]
    fn single_object_strings_and_hostile_labels() {
        let p = parse(SINGLE).unwrap();
        assert_eq!(p.total_matched, 1);
        assert_eq!(p.total_returned, Some(1));
        assert_eq!(
            p.is_last_record,
            Some(true),
            "list-level, inside active-users"
        );
        assert_eq!(p.user_login_permission, Some(false));
        let mut b = Breakdown::default();
        b.add(p.records.clone());
        assert_eq!(
            render(&p, &b),
            [
                "ivanti_active_sessions 1",
                "ivanti_user_login_permitted 0",
                "ivanti_active_sessions_breakdown_records 1",
                r#"ivanti_active_sessions_by_realm{realm="Realm \"A\" \\ HQ\nsecond line"} 1"#,
                r#"ivanti_active_sessions_by_node{node="node-ü"} 1"#,
                r#"ivanti_active_sessions_by_transport{transport="ESP"} 1"#,
            ]
        );
    }

    #[test]
    fn page_quirks() {
        // is-last-record inside active-user-records; a null session-id, a
        // missing one, a duplicate, an empty object and a string in the list;
        // a null realm, an empty node, totals as strings, permission as 1.
        let p = parse(QUIRKS).unwrap();
        assert_eq!(p.total_matched, 6);
        assert_eq!(p.total_returned, Some(6));
        assert_eq!(p.is_last_record, Some(false));
        assert_eq!(p.user_login_permission, Some(true));
        assert_eq!(p.records.len(), 4, "{{}} and the string are not records");
        let mut b = Breakdown::default();
        assert_eq!(b.add(p.records.clone()), 3);
        assert_eq!(
            render(&p, &b),
            [
                "ivanti_active_sessions 6",
                "ivanti_user_login_permitted 1",
                "ivanti_active_sessions_breakdown_records 3",
                r#"ivanti_active_sessions_by_realm{realm="Users"} 2"#,
                r#"ivanti_active_sessions_by_realm{realm="unknown"} 1"#,
                r#"ivanti_active_sessions_by_node{node="node-a"} 1"#,
                r#"ivanti_active_sessions_by_node{node="node-b"} 1"#,
                r#"ivanti_active_sessions_by_node{node="unknown"} 1"#,
                r#"ivanti_active_sessions_by_transport{transport="ESP"} 1"#,
                r#"ivanti_active_sessions_by_transport{transport="SSL"} 1"#,
                r#"ivanti_active_sessions_by_transport{transport="none"} 1"#,
            ]
        );
        let all = format!("{p:?}");
        assert!(!all.contains("alice") && !all.contains("sid0001") && !all.contains("bob"));
    }

    #[test]
    fn record_lists_in_every_shape() {
        let body = |records: &str| {
            format!(
                r#"{{"active-users": {{"total-matched-record-number": 2, "active-user-records": {records}}}}}"#
            )
        };
        let rec = r#"{"session-id": "s1", "authentication-realm": "r"}"#;
        for (records, n) in [
            (format!(r#"{{"active-user-record": [{rec}]}}"#), 1),
            (format!(r#"{{"active-user-record": {rec}}}"#), 1),
            (format!("[{rec}]"), 1),
            (r#"{"active-user-record": []}"#.to_owned(), 0),
            (r#"{"active-user-record": ""}"#.to_owned(), 0),
            (r#"{"active-user-record": null}"#.to_owned(), 0),
            ("{}".to_owned(), 0),
            (r#""""#.to_owned(), 0),
            ("null".to_owned(), 0),
            ("[]".to_owned(), 0),
        ] {
            let text = body(&records);
            let p = parse(text.as_bytes()).unwrap();
            assert_eq!(p.records.len(), n, "{records}");
        }
        let p = parse(br#"{"active-users": {"total-matched-record-number": 0}}"#).unwrap();
        assert!(p.records.is_empty());
    }

    #[test]
    fn empty_and_broken() {
        let p = parse(EMPTY).unwrap();
        assert_eq!((p.total_matched, p.records.len()), (0, 0));
        assert_eq!(parse(b"{}"), Err(ParseError::Field("active-users")));
        assert_eq!(
            parse(br#"{"active-users": ""}"#),
            Err(ParseError::Field("active-users"))
        );
        assert_eq!(
            parse(br#"{"active-users": {"total-returned-record-number": 1}}"#),
            Err(ParseError::Field("total-matched-record-number"))
        );
        assert_eq!(
            parse(br#"{"active-users": {"total-matched-record-number": -1}}"#),
            Err(ParseError::Field("total-matched-record-number"))
        );
        assert_eq!(parse(b"<!DOCTYPE html>"), Err(ParseError::Html));
        assert!(matches!(
            parse(&GUIDE[..GUIDE.len() / 2]),
            Err(ParseError::Json(_))
        ));
    }

    #[test]
    fn records_without_session_id_are_still_distinct() {
        let body = br#"{"active-users": {"total-matched-record-number": 2, "active-user-records": {"active-user-record": [
            {"active-user-name": "a", "user-sign-in-time": "t1"}, {"active-user-name": "b", "user-sign-in-time": "t1"}]}}}"#;
        let p = parse(body).unwrap();
        let mut b = Breakdown::default();
        assert_eq!(b.add(p.records), 2);
    }

    #[test]
    fn record_fields_are_borrowed_from_the_body() {
        // The 20,000-record pages are decoded without a string copy per field.
        for records in [
            r#"{"active-user-record": [{"session-id": "s1", "login-node": "n"}]}"#,
            r#"[{"session-id": "s1", "login-node": "n"}]"#,
        ] {
            let body = format!(
                r#"{{"active-users": {{"total-matched-record-number": 1, "active-user-records": {records}}}}}"#
            );
            let b: Body<'_> = serde_json::from_str(&body).unwrap();
            let list = b.active_users.unwrap().records.unwrap();
            let r = &list.records[0];
            assert!(matches!(r.session_id.0, Some(Cow::Borrowed("s1"))));
            assert!(matches!(r.node.0, Some(Cow::Borrowed("n"))));
        }
    }

    #[test]
    fn no_records_still_publishes_the_total() {
        let b = Breakdown::default();
        let mut out = Samples::new();
        samples(5, None, &b, &mut out);
        assert_eq!(
            lines(&out),
            [
                "ivanti_active_sessions 5",
                "ivanti_active_sessions_breakdown_records 0"
            ]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_json_never_panics(v in arb_json(), w in arb_json(), x in arb_json()) {
            let _ = parse(v.to_string().as_bytes());
            for body in [
                serde_json::json!({"active-users": v}),
                serde_json::json!({"active-users": {"total-matched-record-number": w, "active-user-records": v, "is-last-record": x}}),
                serde_json::json!({"active-users": {"total-matched-record-number": 3, "active-user-records": {"active-user-record": [v, w, x], "is-last-record": x}}}),
            ] {
                if let Ok(p) = parse(body.to_string().as_bytes()) {
                    let mut b = Breakdown::default();
                    b.add(p.records);
                    samples(p.total_matched, p.user_login_permission, &b, &mut Samples::new());
                }
            }
        }

        #[test]
        fn arbitrary_records_never_panic(realm in ".{0,12}", total in any::<i64>(), n in 0usize..5) {
            let recs: Vec<_> = (0..n).map(|i| serde_json::json!({"authentication-realm": realm, "session-id": i})).collect();
            let body = serde_json::json!({"active-users": {"total-matched-record-number": total, "active-user-records": {"active-user-record": recs}}});
            if let Ok(p) = parse(body.to_string().as_bytes()) {
                let mut b = Breakdown::default();
                prop_assert_eq!(b.add(p.records), n);
                let mut out = Samples::new();
                samples(p.total_matched, None, &b, &mut out);
            }
        }
    }
}

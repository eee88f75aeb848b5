//! Security Controls console answers: the version, list counts (agents,
//! machines) and operations by status.
//!
//! The guide in the repository names the resources
//! (`/st/console/api/v1.0/configuration/version`, `agents`, `machines`)
//! but shows no response bodies. The Security Controls REST API help's
//! Agents and Machines pages: `count` is a request parameter (default 10,
//! at most 1000); an answer is one page, `{"count": <items in value>,
//! "value": [...], "links": {"next": {"href": ...}}}`, the next page at
//! `links.next.href`, absent on the last page. Only
//! `GET /operations/{id}` is documented, not a list of operations: the
//! `operations` collector reads the list where a console serves it and
//! treats 404/405 as not applicable. The version is read as a string or an
//! object with `version`/`consoleVersion`. Anything else is a `parse`
//! error, never a guess.

use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use serde_json::Value;

/// `ivanti_isec_console_info`
pub static INFO: Desc = Desc::gauge(
    "ivanti_isec_console_info",
    "Security Controls console version (configuration/version), value 1",
    &["version"],
);
/// `ivanti_isec_agents`
pub static AGENTS: Desc = Desc::gauge("ivanti_isec_agents", "Agents the console manages", &[]);
/// `ivanti_isec_machines`
pub static MACHINES: Desc =
    Desc::gauge("ivanti_isec_machines", "Machines known to the console", &[]);
/// `ivanti_isec_operations`
pub static OPERATIONS: Desc = Desc::gauge(
    "ivanti_isec_operations",
    "Operations (patch scans, deployments) the console lists, by status",
    &["status"],
);

/// Families of the `console` collector.
pub static CONSOLE_METRICS: &[&Desc] = &[&INFO];
/// Families of the `inventory` collector.
pub static INVENTORY_METRICS: &[&Desc] = &[&AGENTS, &MACHINES];
/// Families of the `operations` collector.
pub static OPERATION_METRICS: &[&Desc] = &[&OPERATIONS];

/// The console version.
pub fn parse_version(body: &[u8]) -> Result<String, ParseError> {
    let v: Value = parse_json(body)?;
    let s = match &v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(m) => ["version", "consoleVersion", "Version", "productVersion"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_str)),
        _ => None,
    };
    s.map(|s| s.trim().chars().take(64).collect::<String>())
        .filter(|s| !s.is_empty())
        .ok_or(ParseError::Field("version"))
}

fn items(v: &Value) -> Option<&Vec<Value>> {
    match v {
        Value::Array(a) => Some(a),
        Value::Object(m) => m
            .get("value")
            .or_else(|| m.get("Value"))
            .and_then(Value::as_array),
        _ => None,
    }
}

/// One page of a list answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Items on this page (the length of `value`).
    pub items: usize,
    /// Path and query of the next page (`links.next.href`), if any.
    pub next: Option<String>,
}

/// One page: its items and where the next one is. The next page's href is
/// reduced to its path and query, and must stay under `api` (it is always
/// requested from the configured console, never another host).
pub fn parse_page(body: &[u8], api: &str) -> Result<Page, ParseError> {
    let v: Value = parse_json(body)?;
    let items = items(&v).ok_or(ParseError::Field("value"))?.len();
    let href = v
        .get("links")
        .and_then(|l| l.get("next"))
        .and_then(|n| n.get("href"));
    let next = match href {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) => Some(path_and_query(h, api)?),
        Some(_) => return Err(ParseError::Field("links.next.href")),
    };
    Ok(Page { items, next })
}

fn path_and_query(href: &str, api: &str) -> Result<String, ParseError> {
    let rest = match href.split_once("://") {
        Some((_, after)) => after.find('/').map_or("", |i| &after[i..]),
        None => href,
    };
    rest.strip_prefix(api)
        .filter(|r| r.starts_with('/'))
        .map(|_| rest.to_owned())
        .ok_or(ParseError::Field("links.next.href"))
}

/// Operations by status (sorted; missing status = `unknown`).
pub fn parse_operations(body: &[u8]) -> Result<Vec<(String, f64)>, ParseError> {
    let v: Value = parse_json(body)?;
    let list = items(&v).ok_or(ParseError::Field("value"))?;
    let mut by: std::collections::BTreeMap<String, f64> = Default::default();
    for op in list {
        let status = ["status", "Status", "state"]
            .iter()
            .find_map(|k| op.get(*k).and_then(Value::as_str))
            .map(|s| s.trim().chars().take(32).collect::<String>())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        *by.entry(status).or_default() += 1.0;
    }
    Ok(by.into_iter().collect())
}

/// Series of the `console` collector.
pub fn version_samples(version: &str, out: &mut Samples) {
    out.push(&INFO, &[version], 1.0);
}

/// Series of the `operations` collector.
pub fn operation_samples(ops: &[(String, f64)], out: &mut Samples) {
    for (s, n) in ops {
        out.push(&OPERATIONS, &[s], *n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const API: &str = "/st/console/api/v1.0";

    #[test]
    fn shapes() {
        let fx = |f: &str| {
            std::fs::read(format!(
                "{}/tests/fixtures/isec/st/console/api/v1.0/{f}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        assert_eq!(
            parse_version(&fx("configuration/version.json")).unwrap(),
            "2024.1.0.1234"
        );
        assert_eq!(parse_version(b"\"9.4.1\"").unwrap(), "9.4.1");
        assert_eq!(
            parse_version(b"{}").unwrap_err(),
            ParseError::Field("version")
        );
        let last = |items| Page { items, next: None };
        assert_eq!(parse_page(&fx("agents.json"), API).unwrap(), last(3));
        assert_eq!(parse_page(b"[1,2]", API).unwrap(), last(2));
        assert_eq!(parse_page(br#"{"value":[{}]}"#, API).unwrap(), last(1));
        // `count` is this page's length, never a total.
        let page = br#"{"count":2,"value":[{},{}],"links":{"next":{"href":
            "https://console.example:3121/st/console/api/v1.0/machines?count=2&start=2"}}}"#;
        assert_eq!(
            parse_page(page, API).unwrap(),
            Page {
                items: 2,
                next: Some("/st/console/api/v1.0/machines?count=2&start=2".into())
            }
        );
        let elsewhere = br#"{"value":[],"links":{"next":{"href":"https://x/other/api"}}}"#;
        assert_eq!(
            parse_page(elsewhere, API).unwrap_err(),
            ParseError::Field("links.next.href")
        );
        assert_eq!(
            parse_page(b"{}", API).unwrap_err(),
            ParseError::Field("value")
        );
        assert_eq!(
            parse_operations(&fx("operations.json")).unwrap(),
            vec![
                ("Failed".into(), 1.0),
                ("Running".into(), 1.0),
                ("Succeeded".into(), 2.0)
            ]
        );
        assert_eq!(parse_page(b"<html>", API).unwrap_err(), ParseError::Html);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut out = Samples::new();
            if let Ok(v) = parse_version(&b) { version_samples(&v, &mut out); }
            let _ = parse_page(&b, API);
            if let Ok(o) = parse_operations(&b) { operation_samples(&o, &mut out); }
        }
    }
}

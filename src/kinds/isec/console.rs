//! Security Controls console answers: the version, list counts (agents,
//! machines) and operations by status.
//!
//! The guide in the repository names the resources
//! (`/st/console/api/v1.0/configuration/version`, `agents`, `machines`,
//! `operations`) but shows no response bodies. Lists are read as
//! `{"count": N, "value": [...]}` (the console's paged list shape), a bare
//! array, or `{"value": [...]}`; the version as a string or an object with
//! `version`/`consoleVersion`. Anything else is a `parse` error, never a
//! guess.

use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::lenient::value_f64;
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

/// The number of items in a list answer: its `count`, else the items' number.
pub fn parse_count(body: &[u8]) -> Result<f64, ParseError> {
    let v: Value = parse_json(body)?;
    let count = v
        .as_object()
        .and_then(|m| {
            ["count", "Count", "totalCount"]
                .iter()
                .find_map(|k| m.get(*k))
        })
        .and_then(value_f64)
        .filter(|n| *n >= 0.0);
    count
        .or_else(|| items(&v).map(|a| a.len() as f64))
        .ok_or(ParseError::Field("value"))
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

    #[test]
    fn shapes() {
        let fx = |f: &str| {
            std::fs::read(format!(
                "{}/tests/fixtures/isec/{f}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        assert_eq!(parse_version(&fx("version.json")).unwrap(), "2024.1.0.1234");
        assert_eq!(parse_version(b"\"9.4.1\"").unwrap(), "9.4.1");
        assert_eq!(
            parse_version(b"{}").unwrap_err(),
            ParseError::Field("version")
        );
        assert_eq!(parse_count(&fx("agents.json")).unwrap(), 3.0);
        assert_eq!(parse_count(b"[1,2]").unwrap(), 2.0);
        assert_eq!(parse_count(br#"{"value":[{}]}"#).unwrap(), 1.0);
        assert_eq!(parse_count(b"{}").unwrap_err(), ParseError::Field("value"));
        assert_eq!(
            parse_operations(&fx("operations.json")).unwrap(),
            vec![
                ("Failed".into(), 1.0),
                ("Running".into(), 1.0),
                ("Succeeded".into(), 2.0)
            ]
        );
        assert_eq!(parse_count(b"<html>").unwrap_err(), ParseError::Html);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut out = Samples::new();
            if let Ok(v) = parse_version(&b) { version_samples(&v, &mut out); }
            let _ = parse_count(&b);
            if let Ok(o) = parse_operations(&b) { operation_samples(&o, &mut out); }
        }
    }
}

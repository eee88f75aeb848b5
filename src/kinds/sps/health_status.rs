//! `GET /api/health_status`: the node's own health (CPU, memory, disk and
//! swap usage in percent, load averages, firmware integrity, RAID, indexer
//! workers, pipeline queues, recorded sessions by protocol).
//!
//! The SPS 7.x guide shows the object under `health_status`; other REST
//! objects of SPS sit under `body`. Both are accepted, and so is the object
//! at the top level. Every field is optional: a missing one is a missing
//! series, not an error.

use super::SpsAppliance;
use crate::error::CollectError;
use crate::error::{parse_json, ParseError};
use crate::exposition::{Desc, Samples};
use crate::kinds::lenient::value_f64;
use crate::kinds::{expect_ok, Collector, CollectorSpec};
use serde_json::{Map, Value};

macro_rules! gauges {
    ($($id:ident $name:literal [$($l:literal),*] $help:literal;)*) => {
        $(#[doc = concat!("`", $name, "`")] pub static $id: Desc = Desc::gauge($name, $help, &[$($l),*]);)*
        /// Every family of this collector.
        pub static METRICS: &[&Desc] = &[$(&$id),*];
    };
}

gauges! {
    CPU "oneidentity_sps_cpu_usage_ratio" [] "CPU usage from health_status.cpu (percent / 100)";
    MEMORY "oneidentity_sps_memory_usage_ratio" [] "Memory usage from health_status.memory (percent / 100)";
    DISK "oneidentity_sps_disk_usage_ratio" [] "Disk usage from health_status.disk (percent / 100)";
    SWAP "oneidentity_sps_swap_usage_ratio" [] "Swap usage from health_status.swap (percent / 100)";
    LOAD1 "oneidentity_sps_load1" [] "1-minute load average";
    LOAD5 "oneidentity_sps_load5" [] "5-minute load average";
    LOAD15 "oneidentity_sps_load15" [] "15-minute load average";
    FIRMWARE_OK "oneidentity_sps_firmware_integrity_ok" ["firmware"] "1 when the firmware's integrity check says OK, 0 otherwise (e.g. CORRUPTED)";
    TAINTED "oneidentity_sps_firmware_tainted_files" ["firmware"] "Files of the firmware that differ from the shipped image";
    RAID_OK "oneidentity_sps_raid_ok" [] "1 when the RAID status is OK";
    RAID_DISK_OK "oneidentity_sps_raid_disk_ok" ["disk"] "1 when the RAID member disk's status is OK";
    WORKERS "oneidentity_sps_indexer_workers" ["capability"] "Indexer workers by capability (index, screenshot, video)";
    IDLE_WORKERS "oneidentity_sps_indexer_idle_workers" ["capability"] "Idle indexer workers by capability";
    JOBS "oneidentity_sps_indexer_jobs" ["job_type"] "Indexer jobs waiting or running, by type (index, screenshot, video)";
    QUEUE "oneidentity_sps_pipeline_queue_usage_ratio" ["queue"] "Fill level of a processing pipeline queue (percent / 100)";
    SESSIONS "oneidentity_sps_active_sessions" ["protocol"] "Sessions being recorded now, by protocol";
}

/// What one poll found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// cpu, memory, disk, swap (percent).
    pub usage: [Option<f64>; 4],
    /// load1, load5, load15.
    pub load: [Option<f64>; 3],
    /// Firmware partition → (integrity OK, tainted files).
    pub firmware: Vec<(String, Option<bool>, Option<f64>)>,
    /// RAID status OK.
    pub raid_ok: Option<bool>,
    /// RAID member → OK.
    pub raid_disks: Vec<(String, bool)>,
    /// capability → (workers, idle).
    pub workers: Vec<(String, f64, f64)>,
    /// job type → count.
    pub jobs: Vec<(&'static str, f64)>,
    /// queue → percent.
    pub queues: Vec<(String, f64)>,
    /// protocol → sessions.
    pub sessions: Vec<(String, f64)>,
}

fn ok_status(v: &Value) -> Option<bool> {
    v.as_str().map(|s| s.trim().eq_ignore_ascii_case("ok"))
}

fn object<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Map<String, Value>> {
    m.get(k).and_then(Value::as_object)
}

/// Numbers of an object's members, sorted by key.
fn numbers(m: Option<&Map<String, Value>>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = m
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| value_f64(v).map(|f| (k.clone(), f)))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Find the health object: under `health_status`, `body`, or at the top.
pub fn health_object(v: &Value) -> Option<&Map<String, Value>> {
    let top = v.as_object()?;
    ["health_status", "body"]
        .iter()
        .find_map(|k| object(top, k))
        .or(Some(top))
}

/// Parse the response body.
pub fn parse(body: &[u8]) -> Result<Health, ParseError> {
    let v: Value = parse_json(body)?;
    let m = health_object(&v).ok_or(ParseError::Json("expected a JSON object".into()))?;
    Ok(from_object(m))
}

/// Read a health object (also used for cluster members' `health_status`).
pub fn from_object(m: &Map<String, Value>) -> Health {
    let f = |k: &str| m.get(k).and_then(value_f64);
    let mut h = Health {
        usage: [f("cpu"), f("memory"), f("disk"), f("swap")],
        load: [f("load1"), f("load5"), f("load15")],
        ..Health::default()
    };
    if let Some(fw) = object(m, "firmware") {
        h.firmware = firmware(fw);
    }
    if let Some(raid) = object(m, "raid") {
        (h.raid_ok, h.raid_disks) = raid_status(raid);
    }
    if let Some(ix) = object(m, "indexer") {
        (h.workers, h.jobs) = indexer(ix);
    }
    h.queues = numbers(object(m, "pipeline_queues"));
    h.sessions = numbers(object(m, "sessions"));
    h
}

/// Firmware integrity and tainted files, per firmware name.
fn firmware(fw: &Map<String, Value>) -> Vec<(String, Option<bool>, Option<f64>)> {
    let mut firmware = Vec::new();
    let integrity = object(fw, "integrity");
    let tainted = object(fw, "tainted_files");
    let mut names: Vec<&String> = integrity
        .into_iter()
        .flatten()
        .chain(tainted.into_iter().flatten())
        .map(|(k, _)| k)
        .collect();
    names.sort();
    names.dedup();
    for n in names {
        firmware.push((
            n.clone(),
            integrity.and_then(|i| i.get(n)).and_then(ok_status),
            tainted.and_then(|t| t.get(n)).and_then(value_f64),
        ));
    }
    firmware
}

/// The RAID's state and its disks' states.
fn raid_status(raid: &Map<String, Value>) -> (Option<bool>, Vec<(String, bool)>) {
    let ok = match raid.get("status") {
        Some(Value::Object(s)) => s.get("status").and_then(ok_status),
        Some(other) => ok_status(other),
        None => None,
    };
    let mut disks: Vec<(String, bool)> = object(raid, "disks")
        .into_iter()
        .flatten()
        .filter_map(|(k, d)| {
            let st = d.get("status").unwrap_or(d);
            ok_status(st).map(|ok| (k.clone(), ok))
        })
        .collect();
    disks.sort();
    (ok, disks)
}

/// Indexer workers per capability (total, idle) and jobs by type.
fn indexer(ix: &Map<String, Value>) -> IndexerRead {
    let mut by_cap: std::collections::BTreeMap<String, (f64, f64)> = Default::default();
    let mut jobs = [0.0f64; 3];
    let mut any_jobs = false;
    for w in ix
        .get("indexer_status")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        let workers = w.get("workers_count").and_then(value_f64).unwrap_or(0.0);
        let idle = w
            .get("idle_workers_count")
            .and_then(value_f64)
            .unwrap_or(0.0);
        for cap in w
            .get("capabilities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let e = by_cap.entry(cap.to_owned()).or_default();
            e.0 += workers;
            e.1 += idle;
        }
        for (i, k) in ["indexer_jobs", "screenshot_jobs", "video_jobs"]
            .iter()
            .enumerate()
        {
            if let Some(n) = w.get(*k).and_then(value_f64) {
                jobs[i] += n;
                any_jobs = true;
            }
        }
    }
    let workers = by_cap.into_iter().map(|(k, (w, i))| (k, w, i)).collect();
    let jobs = if any_jobs {
        vec![
            ("index", jobs[0]),
            ("screenshot", jobs[1]),
            ("video", jobs[2]),
        ]
    } else {
        Vec::new()
    };
    (workers, jobs)
}

/// Workers per capability (total, idle), and jobs by type.
type IndexerRead = (Vec<(String, f64, f64)>, Vec<(&'static str, f64)>);

/// The series of one poll.
pub fn samples(h: &Health, out: &mut Samples) {
    for (desc, v) in [&CPU, &MEMORY, &DISK, &SWAP].into_iter().zip(h.usage) {
        if let Some(v) = v {
            out.push(desc, &[], v / 100.0);
        }
    }
    for (desc, v) in [&LOAD1, &LOAD5, &LOAD15].into_iter().zip(h.load) {
        if let Some(v) = v {
            out.push(desc, &[], v);
        }
    }
    for (name, ok, _) in &h.firmware {
        if let Some(ok) = ok {
            out.push_bool(&FIRMWARE_OK, &[name], *ok);
        }
    }
    for (name, _, tainted) in &h.firmware {
        if let Some(t) = tainted {
            out.push(&TAINTED, &[name], *t);
        }
    }
    if let Some(ok) = h.raid_ok {
        out.push_bool(&RAID_OK, &[], ok);
    }
    for (disk, ok) in &h.raid_disks {
        out.push_bool(&RAID_DISK_OK, &[disk], *ok);
    }
    for (cap, w, _) in &h.workers {
        out.push(&WORKERS, &[cap], *w);
    }
    for (cap, _, idle) in &h.workers {
        out.push(&IDLE_WORKERS, &[cap], *idle);
    }
    for (t, n) in &h.jobs {
        out.push(&JOBS, &[t], *n);
    }
    for (q, v) in &h.queues {
        out.push(&QUEUE, &[q], v / 100.0);
    }
    for (p, n) in &h.sessions {
        out.push(&SESSIONS, &[p], *n);
    }
}

/// The `health_status` collector.
pub(super) const COLLECTOR: Collector<SpsAppliance> = Collector {
    spec: CollectorSpec {
        name: "health_status",
        default_enabled: true,
        default_interval: None,
        endpoints: &["GET /api/authentication", "GET /api/health_status"],
        metrics: METRICS,
        needs_credentials: true,
    },
    poll: |a, out| Box::pin(poll(a, out)),
};

async fn poll(a: &SpsAppliance, out: &mut Samples) -> Result<(), CollectError> {
    let resp = expect_ok(a.get("/api/health_status").await?)?;
    samples(&parse(&resp.body)?, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GUIDE: &[u8] = include_bytes!("../../../tests/fixtures/sps/api/health_status.json");

    #[test]
    fn the_guides_shape() {
        let h = parse(GUIDE).unwrap();
        assert_eq!(h.usage, [Some(1.0), Some(7.0), Some(2.0), Some(8.0)]);
        assert_eq!(h.load, [Some(3.0), Some(5.0), Some(4.0)]);
        assert_eq!(
            h.firmware,
            vec![
                ("boot".into(), Some(true), Some(1.0)),
                ("core".into(), Some(false), Some(2.0)),
                ("ha_other".into(), None, Some(0.0)),
            ]
        );
        assert_eq!(h.raid_ok, Some(true));
        assert_eq!(h.raid_disks.len(), 4);
        assert_eq!(
            h.workers,
            vec![
                ("index".into(), 1.0, 1.0),
                ("screenshot".into(), 1.0, 1.0),
                ("video".into(), 2.0, 2.0)
            ]
        );
        assert_eq!(h.sessions.iter().map(|s| s.1).sum::<f64>(), 28.0);
        let mut out = Samples::new();
        samples(&h, &mut out);
        assert_eq!(
            out.value_of("oneidentity_sps_memory_usage_ratio", ""),
            Some(0.07)
        );
        assert_eq!(
            out.value_of("oneidentity_sps_firmware_integrity_ok", "firmware=\"core\""),
            Some(0.0)
        );
        assert_eq!(
            out.value_of(
                "oneidentity_sps_pipeline_queue_usage_ratio",
                "queue=\"session_events\""
            ),
            Some(0.643)
        );
    }

    #[test]
    fn body_wrapper_strings_and_missing_fields() {
        let h =
            parse(br#"{"key":"health_status","body":{"cpu":"12.5","raid":{"status":"DEGRADED"}}}"#)
                .unwrap();
        assert_eq!(h.usage[0], Some(12.5));
        assert_eq!(h.raid_ok, Some(false));
        assert!(h.sessions.is_empty());
        assert_eq!(
            parse(b"[]").unwrap_err(),
            ParseError::Json("expected a JSON object".into())
        );
        assert_eq!(parse(b"<html>").unwrap_err(), ParseError::Html);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(h) = parse(&b) {
                samples(&h, &mut Samples::new());
            }
        }
    }
}

//! The documentation is part of the contract: docs/metrics.md must list
//! exactly the metrics the code can publish, with their type and labels;
//! the example configuration must pass check-config.

use ivanti_exporter::exposition::MetricType;
use std::collections::BTreeMap;

/// Rows of the metric tables: `| \`name\` | type | \`l1\`, \`l2\` | ...`.
fn documented() -> BTreeMap<String, (String, Vec<String>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
        .expect("docs/metrics.md");
    let mut rows = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5
            || !(cells[1].starts_with("`ivanti_")
                || cells[1].starts_with("`oneidentity_")
                || cells[1].starts_with("`process_"))
        {
            continue;
        }
        let name = cells[1].trim_matches('`').to_owned();
        let kind = cells[2].to_owned();
        let labels: Vec<String> = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_owned())
            .filter(|l| !l.is_empty() && l != "—" && l != "-")
            .collect();
        assert!(
            rows.insert(name.clone(), (kind, labels)).is_none(),
            "{name} is documented twice"
        );
    }
    rows
}

#[test]
fn metrics_doc_matches_the_code() {
    let doc = documented();
    let code: BTreeMap<String, (String, Vec<String>)> = ivanti_exporter::render::all_metrics()
        .into_iter()
        .map(|d| {
            let kind = match d.metric_type {
                MetricType::Gauge => "gauge",
                MetricType::Counter => "counter",
            };
            (
                d.name.to_owned(),
                (
                    kind.to_owned(),
                    d.labels.iter().map(|l| l.to_string()).collect(),
                ),
            )
        })
        .collect();
    let missing: Vec<_> = code.keys().filter(|k| !doc.contains_key(*k)).collect();
    let extra: Vec<_> = doc.keys().filter(|k| !code.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/metrics.md is out of step with the code.\nin the code, not documented: {missing:?}\ndocumented, not in the code: {extra:?}"
    );
    for (name, (kind, labels)) in &code {
        let (dkind, dlabels) = &doc[name];
        assert_eq!(dkind, kind, "type of {name} in docs/metrics.md");
        assert_eq!(
            dlabels, labels,
            "labels of {name} in docs/metrics.md (without target)"
        );
    }
}

#[test]
fn metric_names_follow_prometheus_conventions() {
    for d in ivanti_exporter::render::all_metrics() {
        // One prefix per product, and the client libraries' process_*.
        assert!(
            d.name.starts_with("ivanti_")
                || d.name.starts_with("oneidentity_sps_")
                || d.name.starts_with("process_"),
            "{}",
            d.name
        );
        assert!(
            d.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            d.name
        );
        match d.metric_type {
            MetricType::Counter => assert!(d.name.ends_with("_total"), "counter {}", d.name),
            MetricType::Gauge => assert!(!d.name.ends_with("_total"), "gauge {}", d.name),
        }
        for forbidden in [
            "instance",
            "job",
            "cluster",
            "region",
            "type",
            "user",
            "session_id",
        ] {
            assert!(
                !d.labels.contains(&forbidden),
                "{} uses label {forbidden}",
                d.name
            );
        }
        assert!(
            !d.help.is_empty() && !d.help.ends_with('.'),
            "help of {}",
            d.name
        );
    }
}

/// README's first screen shows the command that runs every test, and it
/// is the one CI runs (`.ci/run`, which adds `--locked`).
#[test]
fn readme_test_command_is_the_one_ci_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let first_block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("README's first sh block");
    let readme_cmd: Vec<&str> = first_block
        .lines()
        .filter(|l| l.starts_with("cargo test"))
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    let ci = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
    let ci_cmd: Vec<String> = ci
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            l.find("cargo test")
                .map(|i| l[i..].trim().replace(" --locked", ""))
        })
        .collect();
    assert_eq!(readme_cmd, ["cargo test -- --include-ignored"]);
    assert_eq!(ci_cmd, readme_cmd, ".ci/run runs another test command");
}

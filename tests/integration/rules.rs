//! The Prometheus rules: promtool accepts them, their unit tests pass, every
//! metric they use exists, and every runbook link points at a section.

use crate::helpers::tool_available;
use std::collections::BTreeSet;
use std::process::Command;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus");

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(DIR)
        .output()
        .expect("promtool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
#[ignore = "full tier: promtool"]
fn promtool_checks_and_unit_tests_pass() {
    if !tool_available("promtool", Command::new("promtool").arg("--version")) {
        return;
    }
    let (ok, out) = promtool(&["check", "rules", "ivanti-exporter.rules.yml"]);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["test", "rules", "ivanti-exporter.rules.test.yml"]);
    assert!(ok, "{out}");
}

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("ivanti_") {
        let start = i + pos;
        let before_ok = start == 0
            || !(b[start - 1].is_ascii_alphanumeric()
                || b[start - 1] == b':'
                || b[start - 1] == b'_');
        let mut end = start;
        while end < b.len()
            && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'_')
        {
            end += 1;
        }
        if before_ok {
            names.insert(text[start..end].to_owned());
        }
        i = end;
    }
    names
}

#[test]
fn rules_use_only_published_metrics_and_link_the_runbook() {
    let rules = std::fs::read_to_string(format!("{DIR}/ivanti-exporter.rules.yml")).unwrap();
    let known: BTreeSet<String> = ivanti_exporter::render::all_metrics()
        .iter()
        .map(|d| d.name.to_owned())
        .collect();
    let used = metric_names(&rules);
    assert!(used.len() > 10, "{used:?}");
    let unknown: Vec<_> = used.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "rules use metrics the exporter does not publish: {unknown:?}"
    );
    let runbook =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runbook.md")).unwrap();
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut alerts = 0;
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            alerts += 1;
            let anchor = name.to_lowercase();
            assert!(
                anchors.contains(&anchor),
                "docs/runbook.md has no section ## {name}"
            );
            assert!(
                rules.contains(&format!("runbook.md#{anchor}\"")),
                "{name} runbook_url"
            );
        }
    }
    assert!(alerts >= 15, "{alerts} alerts");
}

/// Panel queries with a promtool value test are the dashboards' own:
/// `dashboards/build.py` writes every panel query (variables replaced) to
/// deploy/prometheus/dashboard-queries.json, and every `promql_expr_test`
/// expression that is not a recording rule's name must be one of them.
#[test]
fn value_tested_panel_queries_are_the_dashboards_queries() {
    let queries: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DIR}/dashboard-queries.json")).unwrap(),
    )
    .unwrap();
    let known: BTreeSet<&str> = queries
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|q| q["expr"].as_str())
        .collect();
    assert!(known.len() > 50, "{} panel queries", known.len());
    let tests = std::fs::read_to_string(format!("{DIR}/ivanti-exporter.rules.test.yml")).unwrap();
    let mut panel_tests = 0;
    for expr in tests.lines().filter_map(|l| l.strip_prefix("  - expr: ")) {
        let expr = expr.trim();
        if expr.starts_with("ivanti:") || expr.starts_with("count(ivanti:") {
            continue;
        }
        panel_tests += 1;
        assert!(
            known.contains(expr),
            "value test of a query no dashboard has (rerun python3 dashboards/build.py?): {expr}"
        );
    }
    assert!(panel_tests >= 2, "{panel_tests} panel value tests");
}

/// Dashboards whose every panel query has a promtool value test. Only grows:
/// a dashboard is added here once all its queries are tested.
const VALUE_TESTED_DASHBOARDS: &[&str] = &[
    "ivanti-fleet-overview",
    "ivanti-clusters-licensing",
    "ivanti-appliance-detail",
    "ivanti-sps-overview",
    "ivanti-epmm-overview",
    "ivanti-isec-overview",
    "ivanti-security-posture",
];

/// Coverage ratchet: every panel query of the dashboards in
/// `VALUE_TESTED_DASHBOARDS` is the expression of a `promql_expr_test`
/// (a query used by two panels is tested once).
#[test]
fn completed_dashboards_have_a_value_test_for_every_panel_query() {
    let queries: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DIR}/dashboard-queries.json")).unwrap(),
    )
    .unwrap();
    let tests = std::fs::read_to_string(format!("{DIR}/ivanti-exporter.rules.test.yml")).unwrap();
    let tested: BTreeSet<&str> = tests
        .lines()
        .filter_map(|l| l.strip_prefix("  - expr: "))
        .map(str::trim)
        .collect();
    let queries = queries.as_array().unwrap();
    let dashboards: BTreeSet<&str> = queries
        .iter()
        .filter_map(|q| q["dashboard"].as_str())
        .collect();
    for uid in VALUE_TESTED_DASHBOARDS {
        assert!(dashboards.contains(uid), "no dashboard {uid}");
    }
    let mut covered = 0;
    let mut missing = Vec::new();
    for q in queries {
        let (dashboard, expr) = (
            q["dashboard"].as_str().unwrap(),
            q["expr"].as_str().unwrap(),
        );
        if tested.contains(expr) {
            covered += 1;
        } else if VALUE_TESTED_DASHBOARDS.contains(&dashboard) {
            missing.push(format!("{dashboard} / {}: {expr}", q["panel"]));
        }
    }
    eprintln!("{covered} of {} panel queries value-tested", queries.len());
    assert!(
        missing.is_empty(),
        "panel queries without a promql_expr_test in deploy/prometheus/ivanti-exporter.rules.test.yml:\n{}",
        missing.join("\n")
    );
}

/// Every recording rule has a `promql_expr_test` of its own output (the
/// series it records, with the values computed by hand in the comment).
#[test]
fn every_recording_rule_has_a_value_test() {
    let rules = std::fs::read_to_string(format!("{DIR}/ivanti-exporter.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(format!("{DIR}/ivanti-exporter.rules.test.yml")).unwrap();
    let tested: BTreeSet<&str> = tests
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- expr: "))
        .map(str::trim)
        .collect();
    let records: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- record: "))
        .map(str::trim)
        .collect();
    assert!(records.len() >= 6, "{records:?}");
    let missing: Vec<&&str> = records.iter().filter(|r| !tested.contains(**r)).collect();
    assert!(
        missing.is_empty(),
        "recording rules without a promql_expr_test of their own series: {missing:?}"
    );
}

/// The text of one `## name` section of docs/runbook.md.
fn runbook_section(name: &str) -> String {
    let runbook =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runbook.md")).unwrap();
    let start = runbook
        .find(&format!("\n## {name}\n"))
        .unwrap_or_else(|| panic!("no section {name}"));
    let rest = &runbook[start + 4..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
}

/// Issue 25, item 7: IvantiApplianceDown said "unreachable" for HTML pages,
/// redirects and too-large answers. Its description now names the reason and
/// what it means for every reason the healthcheck can fail with (the promtool
/// cases check the rendered text per reason), and the runbook says what to do
/// for every reason the exporter has (`error::Reason`); the "gateway not
/// accessible" section is a procedure.
#[test]
fn appliance_down_says_why_and_the_runbook_covers_every_reason() {
    use ivanti_exporter::error::Reason;
    let rules = std::fs::read_to_string(format!("{DIR}/ivanti-exporter.rules.yml")).unwrap();
    let start = rules.find("- alert: IvantiApplianceDown").unwrap();
    let alert = &rules[start..start + rules[start..].find("\n\n").unwrap()];
    let section = runbook_section("IvantiApplianceDown");
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    for r in Reason::ALL {
        let label = r.label();
        let row = rows
            .iter()
            .find(|row| {
                row.split(" | ")
                    .next()
                    .unwrap()
                    .contains(&format!("`{label}`"))
            })
            .unwrap_or_else(|| panic!("runbook IvantiApplianceDown: no row for {label}"));
        assert!(row.split(" | ").count() >= 3, "{row}");
        // Kerberos reasons never come from the unauthenticated healthcheck;
        // `credentials` does, for an unreadable TLS file.
        if !r.description().starts_with("Kerberos:") {
            assert!(
                alert.contains(&format!("eq $r \"{label}\"")),
                "IvantiApplianceDown description has no text for {label}"
            );
        }
    }
    assert!(
        !alert.contains("unreachable or not serving HTTPS"),
        "{alert}"
    );
    assert!(alert.contains("ivanti_collector_errors_total{collector="));
    let gateway = runbook_section("IvantiGatewayNotAccessible");
    let steps = (1..=10)
        .take_while(|n| gateway.lines().any(|l| l.starts_with(&format!("{n}. "))))
        .count();
    assert!(steps >= 5, "{steps} numbered steps:\n{gateway}");
    assert!(gateway.contains("**Do, step by step**"));
}

/// Issue 25, items 9 and 8: the package ships the rules generator beside the rules
/// and their tests (Cargo.toml `[package.metadata.deb]` assets), and from
/// there (no source tree around it) it writes rules for other job names,
/// another runbook URL and other cluster identity labels that promtool accepts and whose unit tests pass.
#[test]
fn packaged_generator_writes_rules_for_other_jobs_and_runbook() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let pkg = tempfile::tempdir().unwrap();
    let share = pkg.path().join("usr/share/ivanti-exporter/prometheus");
    std::fs::create_dir_all(&share).unwrap();
    for file in [
        "build.py",
        "ivanti-exporter.rules.yml",
        "ivanti-exporter.rules.test.yml",
    ] {
        let asset =
            format!("[\"deploy/prometheus/{file}\", \"usr/share/ivanti-exporter/prometheus/\", ");
        assert!(
            manifest.contains(&asset),
            "Cargo.toml: no package asset {asset}"
        );
        std::fs::copy(format!("{DIR}/{file}"), share.join(file)).unwrap();
    }
    if !tool_available("python3", Command::new("python3").arg("--version")) {
        return;
    }
    let generate = |args: &[&str]| {
        Command::new("python3")
            .arg(share.join("build.py"))
            .args(args)
            .output()
            .unwrap()
    };
    // Installed, it cannot rewrite itself in place.
    let refused = generate(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--out"));
    let help = String::from_utf8_lossy(&generate(&["--help"]).stdout).to_string();
    for flag in ["--job", "--probe-job", "--runbook-url", "--out"] {
        assert!(help.contains(flag), "--help lacks {flag}: {help}");
    }
    let out = tempfile::tempdir().unwrap();
    let url = "https://wiki.example.org/ivanti/runbook";
    let run = generate(&[
        "--job",
        "vpnmon",
        "--probe-job",
        "vpnmon-probe",
        "--runbook-url",
        url,
        "--cluster-labels",
        "site,region",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{run:?}");
    let rules = std::fs::read_to_string(out.path().join("ivanti-exporter.rules.yml")).unwrap();
    assert!(rules.contains("expr: up{job=\"vpnmon\"} == 0"));
    assert!(rules.contains("absent(up{job=\"vpnmon\"})"));
    assert!(rules.contains("avg by (job) (up{job=\"vpnmon-probe\"}) == 0"));
    assert!(rules.contains("process_open_fds{job=\"vpnmon\"} / process_max_fds{job=\"vpnmon\"}"));
    assert!(
        !rules.contains("job=\"ivanti"),
        "a job selector kept its old name"
    );
    assert!(rules.contains("No ivanti-exporter is scraped (job vpnmon)"));
    // Item 8: the cluster identity labels, in every cluster aggregation.
    assert!(rules.contains("count by (job, site, region, cluster_name, vip) ("));
    assert!(
        rules.contains("max by (job, site, region, cluster_name, target) (ivanti_cluster_info)")
    );
    assert!(rules.contains("max by (job, site, region, target) (ivanti_up)"));
    assert!(rules.contains("and on (job, site, region, cluster_name)"));
    assert!(!rules.contains("(job, cluster_name") && !rules.contains("(job, site, cluster_name"));
    let links: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook_url: "))
        .collect();
    let alerts = rules.matches("- alert: ").count();
    assert_eq!(links.len(), alerts);
    for link in links {
        assert!(link.starts_with(&format!("\"{url}#")), "{link}");
    }
    let operator: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(out.path().join("prometheus-rule.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        operator["spec"],
        serde_yaml::from_str::<serde_yaml::Value>(&rules).unwrap()
    );
    if !tool_available("promtool", Command::new("promtool").arg("--version")) {
        return;
    }
    for args in [
        ["check", "rules", "ivanti-exporter.rules.yml"],
        ["test", "rules", "ivanti-exporter.rules.test.yml"],
    ] {
        let o = Command::new("promtool")
            .args(args)
            .current_dir(out.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

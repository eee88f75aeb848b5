//! Deployment files that cannot run here are still checked: they parse, the
//! Prometheus and Alertmanager parts pass promtool/amtool, the example
//! configurations pass check-config, and the container's health check works.

use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, exts, out);
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| exts.contains(&x))
        {
            out.push(p);
        }
    }
}

#[test]
fn every_yaml_and_json_file_parses() {
    let mut yaml = Vec::new();
    files(&Path::new(ROOT).join("deploy"), &["yml", "yaml"], &mut yaml);
    assert!(yaml.len() >= 10, "{yaml:?}");
    for p in &yaml {
        let text = std::fs::read_to_string(p).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: serde_yaml::Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(!v.is_null(), "{}: empty document", p.display());
        }
    }
    let mut json = Vec::new();
    files(&Path::new(ROOT).join("dashboards"), &["json"], &mut json);
    assert!(json.len() >= 3);
    for p in &json {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            v["uid"].as_str().is_some_and(|u| u.starts_with("ivanti-")),
            "{}: uid",
            p.display()
        );
        let text = v.to_string();
        assert!(
            !text.contains("\"uid\":\"prometheus\""),
            "{}: hard-coded datasource",
            p.display()
        );
    }
}

#[test]
#[ignore = "full tier: promtool and amtool"]
fn prometheus_and_alertmanager_configs_are_valid() {
    if !tool_available("promtool", Command::new("promtool").arg("--version"))
        || !tool_available("amtool", Command::new("amtool").arg("--version"))
    {
        return;
    }
    let prom = Path::new(ROOT).join("deploy/prometheus");
    run_ok("promtool", &["check", "config", "prometheus.yml"], &prom);
    // The compose stack's Prometheus config, with the rules mounted beside it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(ROOT).join("deploy/compose/prometheus-demo.yml"),
        dir.path().join("p.yml"),
    )
    .unwrap();
    std::fs::copy(
        prom.join("ivanti-exporter.rules.yml"),
        dir.path().join("ivanti-exporter.rules.yml"),
    )
    .unwrap();
    run_ok("promtool", &["check", "config", "p.yml"], dir.path());
    run_ok("amtool", &["check-config", "alertmanager.yml"], &prom);
}

fn run_ok(tool: &str, args: &[&str], dir: &Path) {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `check-config` of `yaml` (written to `dir`) with `args`: its exit code
/// and what it printed.
fn check_config(yaml: &str, dir: &Path, args: &[&std::ffi::OsStr]) -> (i32, String) {
    let path = dir.join("c.yml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .args(["check-config", "--config.file"])
        .arg(&path)
        .args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn check_config_ok(yaml: &str, dir: &Path) {
    let (code, out) = check_config(yaml, dir, &[]);
    assert_eq!(code, 0, "{yaml}\n{out}");
}

#[test]
fn example_configs_pass_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let ca = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.path().join("api.key"), "k\n").unwrap();
    // systemd example, checked as its comment says: the service's
    // credentials (/run/credentials/ivanti-exporter.service/api.key) in
    // the directory given by --credentials-directory. Only /etc, where a
    // test cannot write, is moved.
    let systemd =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/systemd/ivanti-exporter.yml"))
            .unwrap()
            .replace("/etc/ivanti-exporter", &d);
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("api.key"), "k\n").unwrap();
    let as_service = [
        std::ffi::OsStr::new("--credentials-directory"),
        creds.as_os_str(),
    ];
    let (code, out) = check_config(&systemd, dir.path(), &as_service);
    assert_eq!(code, 0, "{systemd}\n{out}");
    assert!(out.contains("OK (2 targets"), "{out}");
    // Without it, outside the service, the credential is not there: said
    // so, with what the service would do.
    let (code, out) = check_config(&systemd, dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("  defaults.api_key_file: cannot read /run/credentials/ivanti-exporter.service/api.key: No such file or directory (os error 2) (the exporter starts; the targets using it fail with reason credentials until it can be read)"),
        "{out}"
    );
    // The Kubernetes ConfigMap's embedded config
    let k8s =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/kubernetes/ivanti-exporter.yaml"))
            .unwrap();
    let cm = serde_yaml::Deserializer::from_str(&k8s)
        .map(|doc| <serde_yaml::Value as serde::Deserialize>::deserialize(doc).unwrap())
        .find(|v| v["kind"] == "ConfigMap")
        .unwrap();
    let embedded = cm["data"]["ivanti-exporter.yml"]
        .as_str()
        .unwrap()
        .replace("/etc/ivanti-exporter/secrets", &d);
    check_config_ok(&embedded, dir.path());
}

#[test]
fn systemd_unit_is_hardened() {
    let unit =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/systemd/ivanti-exporter.service"))
            .unwrap();
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "EnvironmentFile=-/etc/default/ivanti-exporter",
        "ExecStart=/usr/bin/ivanti-exporter $ARGS",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
    // The credentials come in a drop-in, so a healthcheck-only set-up starts without one.
    let dropin =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/systemd/credentials.conf")).unwrap();
    assert!(dropin
        .lines()
        .any(|l| l.starts_with("LoadCredentialEncrypted=api.key:")));
}

#[tokio::test(flavor = "multi_thread")]
async fn container_healthcheck_subcommand() {
    let exp = App::spawn("targets: []\n").await;
    let run = |url: String| {
        Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
            .args(["healthcheck", "--url", &url])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run(exp.url("/-/healthy")), Some(0));
    assert_eq!(run(exp.url("/nope")), Some(1));
    assert_eq!(
        run(format!("http://127.0.0.1:{}/-/healthy", free_port())),
        Some(1)
    );
    let dockerfile =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/container/Dockerfile")).unwrap();
    // No --url: the default (http, or https with the web configuration of
    // IVANTI_EXPORTER_WEB_CONFIG_FILE) is the exporter's default port.
    assert!(dockerfile.contains("CMD [\"/usr/local/bin/ivanti-exporter\", \"healthcheck\"]"));
    assert!(dockerfile.contains("IVANTI_EXPORTER_WEB_CONFIG_FILE"));
    assert!(dockerfile.contains("USER nonroot"));
}

/// Every document of every manifest in deploy/kubernetes.
fn kubernetes_docs() -> Vec<(PathBuf, serde_yaml::Value)> {
    let mut paths = Vec::new();
    files(
        &Path::new(ROOT).join("deploy/kubernetes"),
        &["yaml"],
        &mut paths,
    );
    paths.sort();
    let mut docs = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            docs.push((p.clone(), serde::Deserialize::deserialize(doc).unwrap()));
        }
    }
    docs
}

/// A label selector (`matchLabels`, `matchExpressions` with `In`) against labels.
fn selects(selector: &serde_yaml::Value, labels: &serde_yaml::Value) -> bool {
    let by_labels = selector["matchLabels"]
        .as_mapping()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels[k.as_str().unwrap()] == *v);
    let by_expressions = selector["matchExpressions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .all(|e| {
            assert_eq!(e["operator"], "In", "only In is used here");
            let value = &labels[e["key"].as_str().unwrap()];
            e["values"].as_sequence().unwrap().contains(value)
        });
    by_labels && by_expressions
}

#[test]
fn every_exporter_service_is_scraped_as_job_ivanti() {
    let docs = kubernetes_docs();
    let monitors: Vec<_> = docs
        .iter()
        .filter(|(_, d)| d["kind"] == "ServiceMonitor")
        .collect();
    let services: Vec<_> = docs
        .iter()
        .filter(|(_, d)| d["kind"] == "Service")
        .collect();
    // The Deployment's Service and the shards' Service.
    assert_eq!(services.len(), 2, "{services:?}");
    for (path, svc) in services {
        let name = &svc["metadata"]["name"];
        let monitor = monitors
            .iter()
            .find(|(_, m)| selects(&m["spec"]["selector"], &svc["metadata"]["labels"]))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no ServiceMonitor selects Service {name:?}",
                    path.display()
                )
            });
        // The rules and dashboards select job="ivanti" (deploy/prometheus/build.py).
        let endpoint = &monitor.1["spec"]["endpoints"][0];
        assert!(
            endpoint["relabelings"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|r| r["targetLabel"] == "job" && r["replacement"] == "ivanti"),
            "the ServiceMonitor of {name:?} does not name the job ivanti"
        );
        assert_eq!(endpoint["port"], svc["spec"]["ports"][0]["name"]);
    }
}

#[test]
fn prometheus_rule_is_the_rules_file() {
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            Path::new(ROOT).join("deploy/prometheus/ivanti-exporter.rules.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    let docs = kubernetes_docs();
    let rule = docs
        .iter()
        .find(|(_, d)| d["kind"] == "PrometheusRule")
        .expect("deploy/kubernetes/prometheus-rule.yaml");
    assert!(
        rule.1["spec"] == rules,
        "prometheus-rule.yaml differs from the rules file: run python3 deploy/prometheus/build.py"
    );
}

#[test]
fn secrets_live_in_their_own_file() {
    for (path, doc) in kubernetes_docs() {
        if doc["kind"] == "Secret" {
            assert!(
                path.ends_with("secret.example.yaml"),
                "{}: a Secret beside other resources is overwritten when they are re-applied",
                path.display()
            );
        }
    }
}

#[test]
#[ignore = "full tier: kubernetes-validate"]
fn kubernetes_manifests_pass_the_kubernetes_schemas() {
    if !tool_available(
        "kubernetes-validate",
        Command::new("kubernetes-validate").arg("--version"),
    ) {
        return;
    }
    let mut paths = Vec::new();
    files(
        &Path::new(ROOT).join("deploy/kubernetes"),
        &["yaml"],
        &mut paths,
    );
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(&paths)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // The built-in kinds are checked against their schemas (the operator's
    // CRDs have none offline; the tests above check their selectors and rules).
    for kind in [
        "deployment",
        "statefulset",
        "service",
        "configmap",
        "secret",
    ] {
        assert!(
            text.contains(&format!("passed for resource {kind}/")),
            "{kind} not validated: {text}"
        );
    }
}

/// Cargo refuses a manifest whose targets' files are missing, so the
/// container build must copy every directory Cargo.toml points into (the
/// build once failed on `benches/hot_paths.rs`).
#[test]
fn container_build_copies_every_file_cargo_needs() {
    let root = Path::new(ROOT);
    let dockerfile = std::fs::read_to_string(root.join("deploy/container/Dockerfile")).unwrap();
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().skip(1).collect();
            parts[..parts.len() - 1].to_vec()
        })
        .collect();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut needed = vec!["Cargo.toml", "Cargo.lock", "src"];
    if manifest.contains("[[bench]]") || manifest.contains("path = \"benches/") {
        needed.push("benches");
    }
    if root.join("build.rs").exists() {
        needed.push("build.rs");
    }
    for path in needed {
        assert!(
            copied.contains(&path),
            "deploy/container/Dockerfile does not COPY {path} (copies {copied:?})"
        );
    }
}

/// The active scrape jobs of a Prometheus configuration.
fn scrape_jobs(yaml: &str) -> Vec<serde_yaml::Value> {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    v["scrape_configs"].as_sequence().unwrap().clone()
}

/// Issue 25, item 5: a fleet job and a probe job of the same exporter store
/// every appliance twice and page twice. The shipped configuration scrapes
/// one mode (fleet, `/metrics`); the probe job is there commented out, valid
/// once uncommented; every job keeps the exporter's labels (`honor_labels`),
/// the README's http_sd example too (else `site` becomes `exported_site`).
#[test]
fn shipped_prometheus_config_scrapes_each_exporter_in_one_mode() {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/prometheus.yml")).unwrap();
    let jobs = scrape_jobs(&text);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["job_name"], "ivanti");
    assert!(jobs[0]["metrics_path"].is_null(), "fleet mode: /metrics");
    assert_eq!(jobs[0]["honor_labels"], true);
    // The commented probe job, uncommented in place of the fleet job.
    let start = text
        .find("  # - job_name: ivanti-probe")
        .expect("commented probe job");
    let probe: String = text[start..]
        .lines()
        .map_while(|l| l.strip_prefix("  # "))
        .map(|l| format!("  {l}\n"))
        .collect();
    let fleet_start = text.find("  - job_name: ivanti\n").unwrap();
    let switched = format!("{}{probe}", &text[..fleet_start]);
    let jobs = scrape_jobs(&switched);
    assert_eq!(jobs.len(), 1, "{switched}");
    assert_eq!(jobs[0]["job_name"], "ivanti-probe");
    assert_eq!(jobs[0]["metrics_path"], "/probe");
    assert_eq!(jobs[0]["honor_labels"], true);
    assert_eq!(jobs[0]["relabel_configs"].as_sequence().unwrap().len(), 3);
    let before = &text[..start];
    assert!(
        before.contains("never both") && before.contains("pages"),
        "the comment says why one mode"
    );
    // The README's http_sd example.
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let block = readme
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("http_sd_configs"))
        .expect("README http_sd example");
    let jobs = scrape_jobs(block);
    assert_eq!(jobs[0]["honor_labels"], true, "{block}");
    if tool_available("promtool", Command::new("promtool").arg("--version")) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("probe.yml"), &switched).unwrap();
        std::fs::write(dir.path().join("sd.yml"), block).unwrap();
        std::fs::copy(
            Path::new(ROOT).join("deploy/prometheus/ivanti-exporter.rules.yml"),
            dir.path().join("ivanti-exporter.rules.yml"),
        )
        .unwrap();
        run_ok("promtool", &["check", "config", "probe.yml"], dir.path());
        run_ok("promtool", &["check", "config", "sd.yml"], dir.path());
    }
}

fn dashboard(uid: &str) -> serde_json::Value {
    let path = Path::new(ROOT).join(format!("dashboards/{uid}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn panel<'a>(board: &'a serde_json::Value, title: &str) -> &'a serde_json::Value {
    board["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("{}: no panel {title:?}", board["uid"]))
}

/// The properties of a table column's override (`byName`).
fn column<'a>(panel: &'a serde_json::Value, name: &str) -> &'a Vec<serde_json::Value> {
    panel["fieldConfig"]["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["matcher"]["options"] == name)
        .and_then(|o| o["properties"].as_array())
        .unwrap_or_else(|| panic!("{}: no override for column {name}", panel["title"]))
}

fn property<'a>(props: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    &props
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or(&serde_json::Value::Null)["value"]
}

/// Issue 25, item 10: the dashboards as a Grafana user reads them (their
/// values are checked by the promtool value tests of every panel query).
/// Ratios in percent, states as words, days in days, readable VIP tables,
/// and per-appliance time series limited to the top ten.
#[test]
fn dashboards_show_values_as_a_grafana_user_reads_them() {
    let fleet = dashboard("ivanti-fleet-overview");
    let table = panel(&fleet, "Appliances");
    for ratio in ["CPU", "swap"] {
        assert_eq!(
            property(column(table, ratio), "unit"),
            "percentunit",
            "{ratio}"
        );
    }
    let mapped = |name: &str, zero: &str, one: &str| {
        let mappings = property(column(table, name), "mappings");
        assert_eq!(mappings[0]["options"]["0"]["text"], zero, "{name}");
        assert_eq!(mappings[0]["options"]["1"]["text"], one, "{name}");
    };
    mapped("up", "DOWN", "UP");
    mapped("accessible", "NOT ACCESSIBLE", "accessible");

    let days = panel(&fleet, "Days until certificate expiry");
    assert_eq!(days["fieldConfig"]["defaults"]["unit"], "d");
    assert!(days["targets"][0]["expr"]
        .as_str()
        .unwrap()
        .ends_with("- time()) / 86400)"));
    let steps = &days["fieldConfig"]["defaults"]["thresholds"]["steps"];
    assert_eq!(
        (steps[1]["value"].as_f64(), steps[2]["value"].as_f64()),
        (Some(7.0), Some(21.0))
    );

    // Every per-appliance time series of the fleet board: topk.
    let mut per_appliance = 0;
    for p in fleet["panels"].as_array().unwrap() {
        if p["type"] != "timeseries" {
            continue;
        }
        for t in p["targets"].as_array().unwrap() {
            if t["legendFormat"].as_str().unwrap().contains("{{target}}") {
                per_appliance += 1;
                assert!(
                    t["expr"].as_str().unwrap().starts_with("topk(10, "),
                    "{}: {}",
                    p["title"],
                    t["expr"]
                );
                assert!(p["title"].as_str().unwrap().ends_with("(top 10)"));
            }
        }
    }
    assert_eq!(per_appliance, 5);

    // VIP owner tables: named columns, in order, no raw label columns.
    for (uid, title, columns) in [
        (
            "ivanti-appliance-detail",
            "VIP owners",
            &["VIP", "Address", "Owner"][..],
        ),
        (
            "ivanti-clusters-licensing",
            "VIP owners now",
            &["Site", "Cluster", "VIP", "Address", "Owner"][..],
        ),
    ] {
        let board = dashboard(uid);
        let p = panel(&board, title);
        let tr = p["transformations"].as_array().expect("transformations");
        let kept: Vec<&str> = tr[0]["options"]["include"]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(tr[0]["id"], "filterFieldsByName");
        assert_eq!(tr[1]["id"], "organize");
        let renamed: Vec<&str> = kept
            .iter()
            .map(|k| tr[1]["options"]["renameByName"][k].as_str().unwrap())
            .collect();
        assert_eq!(renamed, columns, "{uid} / {title}");
        for (i, k) in kept.iter().enumerate() {
            assert_eq!(tr[1]["options"]["indexByName"][k], i, "{k}");
        }
    }
}

/// Item 5 for the Prometheus Operator: the manifests scrape the exporter in
/// one mode (ServiceMonitor, fleet); the Probe is there commented out, and
/// valid once uncommented.
#[test]
fn kubernetes_manifests_scrape_the_exporter_in_one_mode() {
    let docs = kubernetes_docs();
    let monitors = docs
        .iter()
        .filter(|(_, d)| d["kind"] == "ServiceMonitor")
        .count();
    let probes = docs.iter().filter(|(_, d)| d["kind"] == "Probe").count();
    assert_eq!((monitors, probes), (1, 0));
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/kubernetes/prometheus-operator.yaml"))
            .unwrap();
    let start = text.find("# apiVersion: monitoring.coreos.com/v1").unwrap();
    let probe: String = text[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .map(|l| format!("{l}\n"))
        .collect();
    let probe: serde_yaml::Value = serde_yaml::from_str(&probe).unwrap();
    assert_eq!(probe["kind"], "Probe");
    assert_eq!(probe["spec"]["prober"]["path"], "/probe");
    assert!(text[..start].contains("never beside it"));
}

/// `dashboards/build.py --runbook-url URL --out DIR` (as the rules
/// generator's flag): the seven dashboards with their "Runbook" link at URL
/// and nothing else changed. With the defaults, `--out` writes exactly the
/// committed files (so they are up to date); without `--out`, another URL
/// is refused (the committed files keep the default).
#[test]
fn dashboard_generator_takes_the_runbook_url() {
    if !tool_available("python3", Command::new("python3").arg("--version")) {
        return;
    }
    let script = Path::new(ROOT).join("dashboards/build.py");
    let generate = |args: &[&str]| {
        Command::new("python3")
            .arg(&script)
            .args(args)
            .output()
            .unwrap()
    };
    let url = "https://wiki.example.org/ivanti/runbook";
    let refused = generate(&["--runbook-url", url]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("need --out DIR"));
    let bad = generate(&[
        "--runbook-url",
        "https://x/runbook#top",
        "--out",
        "/nonexistent",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no spaces, quotes or '#'"));

    let mut committed = Vec::new();
    files(
        &Path::new(ROOT).join("dashboards"),
        &["json"],
        &mut committed,
    );
    assert_eq!(committed.len(), 7);
    let same = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    for (dir, args) in [(&same, vec![]), (&out, vec!["--runbook-url", url])] {
        let mut args = args;
        args.extend(["--out", dir.path().to_str().unwrap()]);
        let run = generate(&args);
        assert!(run.status.success(), "{run:?}");
    }
    for path in committed {
        let name = path.file_name().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(same.path().join(name)).unwrap(),
            text,
            "{}: not what dashboards/build.py writes (rerun it)",
            path.display()
        );
        let mut theirs: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join(name)).unwrap()).unwrap();
        let ours: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            theirs["links"],
            serde_json::json!([{"title": "Runbook", "url": url, "type": "link", "targetBlank": true}]),
            "{}",
            path.display()
        );
        theirs["links"] = ours["links"].clone();
        assert_eq!(
            theirs,
            ours,
            "{}: more than the link changed",
            path.display()
        );
    }
}

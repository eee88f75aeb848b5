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

fn check_config_ok(yaml: &str, dir: &Path) {
    let path = dir.join("c.yml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ivanti-exporter"))
        .args(["check-config", "--config.file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{yaml}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn example_configs_pass_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let ca = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.path().join("api.key"), "k\n").unwrap();
    // systemd example
    let systemd =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/systemd/ivanti-exporter.yml"))
            .unwrap();
    let systemd = systemd
        .replace("/etc/ivanti-exporter", &d)
        .replace("/run/credentials/ivanti-exporter.service", &d);
    check_config_ok(&systemd, dir.path());
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
        "LoadCredentialEncrypted=api.key:",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
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
    assert!(dockerfile.contains("\"healthcheck\", \"--url\", \"http://127.0.0.1:9959/-/healthy\""));
    assert!(dockerfile.contains("USER nonroot"));
}

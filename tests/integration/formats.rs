//! Both exposition formats pass their strict parsers (promtool for the text
//! format, the reference Python OpenMetrics parser), with hostile label
//! values: quotes, backslashes, newlines and UTF-8.

use crate::helpers::*;
use std::io::Write;
use std::process::{Command, Stdio};

const HOSTILE: &str = "q\\\"uo\\\\te\\nnew ü→✓";

/// The reference OpenMetrics parser over stdin: prints the number of
/// samples, and fails unless target argv[1]'s `site` label is HOSTILE intact.
const OPENMETRICS_CHECK: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
n = 0
site = None
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        n += 1
        if s.name == "ivanti_up" and s.labels.get("target") == sys.argv[1]:
            site = s.labels.get("site")
assert site == "q\"uo\\te\nnew ü→✓", repr(site)
print(n)
"#;

async fn hostile_exporter() -> (ivanti_exporter::sim::Fleet, App, String) {
    let (fleet, exp) = fleet_and_app(2, &format!("  labels: {{ site: \"{HOSTILE}\" }}\n"), |_| {
        String::new()
    })
    .await;
    let t = fleet.appliance(0).name().to_owned();
    let names: Vec<String> = (0..2)
        .map(|i| fleet.appliance(i).name().to_owned())
        .collect();
    // Every collector of both, not just `up` (which is 1 after the first
    // collector's poll): the checks below count samples.
    exp.wait_for("every collector polled", WAIT, |m| {
        names.iter().all(|n| {
            up(m, n)
                && m.find("ivanti_collector_success", &[("target", n)])
                    .iter()
                    .filter(|s| s.value == 1.0)
                    .count()
                    == 7
        })
    })
    .await;
    (fleet, exp, t)
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: promtool"]
async fn classic_text_passes_promtool() {
    if !tool_available("promtool", Command::new("promtool").arg("--version")) {
        return;
    }
    let (_fleet, exp, t) = hostile_exporter().await;
    let (status, ct, body) = exp.get_accept("/metrics", Some("text/plain")).await;
    assert_eq!(status, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        body.contains("site=\"q\\\"uo\\\\te\\nnew ü→✓\""),
        "escaped label value"
    );
    let m = Metrics::parse(&body);
    assert!(m.has(
        "ivanti_up",
        &[("target", &t), ("site", "q\"uo\\te\nnew ü→✓")]
    ));
    let (ok, out) = run_with_stdin(Command::new("promtool").args(["check", "metrics"]), &body);
    // promtool exits non-zero for lint warnings too; there must be none.
    assert!(ok, "promtool check metrics:\n{out}");
    assert!(out.trim().is_empty(), "promtool findings:\n{out}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: the Python prometheus_client parser"]
async fn openmetrics_passes_the_reference_parser() {
    let probe = "from prometheus_client.openmetrics.parser import text_string_to_metric_families";
    if !tool_available(
        "python3 prometheus_client",
        Command::new("python3").args(["-c", probe]),
    ) {
        return;
    }
    let (_fleet, exp, t) = hostile_exporter().await;
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, ct, body) = exp.get_accept("/metrics", Some(prometheus_accept)).await;
    assert_eq!(status, 200);
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("# EOF\n"));
    let (ok, out) = run_with_stdin(
        Command::new("python3").args(["-c", OPENMETRICS_CHECK, &t]),
        &body,
    );
    assert!(ok, "OpenMetrics parser rejected the output:\n{out}");
    let n: usize = out.trim().parse().unwrap_or(0);
    assert!(n > 50, "parsed only {n} samples");
    // The probe endpoint negotiates too.
    let (_, ct, body) = exp
        .get_accept(&format!("/probe?target={t}"), Some(prometheus_accept))
        .await;
    assert!(ct.starts_with("application/openmetrics-text"));
    let (ok, out) = run_with_stdin(
        Command::new("python3").args(["-c", OPENMETRICS_CHECK, &t]),
        &body,
    );
    assert!(ok, "{out}");
}

/// As an operator checks it: `curl --compressed` shows `Content-Encoding:
/// gzip` on `/metrics` and `/probe`, and the text curl decompresses passes
/// the reference OpenMetrics parser with every hostile label intact.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "full tier: curl and the Python prometheus_client parser"]
async fn gzip_answers_decompress_to_valid_openmetrics() {
    let probe = "from prometheus_client.openmetrics.parser import text_string_to_metric_families";
    if !tool_available("curl", Command::new("curl").arg("--version"))
        || !tool_available(
            "python3 prometheus_client",
            Command::new("python3").args(["-c", probe]),
        )
    {
        return;
    }
    let (_fleet, exp, t) = hostile_exporter().await;
    for path in ["/metrics".to_owned(), format!("/probe?target={t}")] {
        let url = format!("http://{}{path}", exp.addr);
        let out = Command::new("curl")
            .args(["-sS", "--noproxy", "*", "--compressed", "-D", "-", "-H"])
            .arg("Accept: application/openmetrics-text; version=1.0.0")
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("headers");
        assert!(
            head.lines()
                .any(|l| l.eq_ignore_ascii_case("content-encoding: gzip")),
            "{path}: no gzip in\n{head}"
        );
        assert!(body.ends_with("# EOF\n"), "{path}");
        let (ok, out) = run_with_stdin(
            Command::new("python3").args(["-c", OPENMETRICS_CHECK, &t]),
            body,
        );
        assert!(
            ok,
            "{path}: OpenMetrics parser rejected the decompressed text:\n{out}"
        );
        let n: usize = out.trim().parse().unwrap_or(0);
        assert!(n > 30, "{path}: parsed only {n} samples");
    }
}

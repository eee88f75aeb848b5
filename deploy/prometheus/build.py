#!/usr/bin/env python3
"""Writes ivanti-exporter's Prometheus rules for your set-up: the exporter's
job names and the runbook base URL of the alerts.

    build.py [--job NAME] [--probe-job NAME] [--runbook-url URL]
             [--cluster-labels LABEL,...] [--out DIR]

The rules (ivanti-exporter.rules.yml), their promtool unit tests
(ivanti-exporter.rules.test.yml) and this script sit side by side, in the
source tree (deploy/prometheus/) and in the Debian package
(/usr/share/ivanti-exporter/prometheus/). With --out, the script writes to DIR
the rules, the tests and prometheus-rule.yaml (the same rules as a Prometheus
Operator PrometheusRule), rewritten for the given values; check them with

    cd DIR && promtool check rules ivanti-exporter.rules.yml && promtool test rules ivanti-exporter.rules.test.yml

What changes: every self-monitoring job selector (`{job="..."}` of `up` and
`process_*`; the probe job's `up`), the job names in their texts, and every
`runbook_url` prefix (the `#<alert>` anchor is kept: point the URL at a copy of
docs/runbook.md), and the labels that tell clusters apart besides
`cluster_name` (--cluster-labels, default `site`: two clusters of the same
name at two sites stay two; every `by`/`on` list of the cluster rules).
Appliance series are selected by metric name, not by job, so
they work under any job name; in the tests, every input series takes the job.

Without --out (in the source tree only), it regenerates
../kubernetes/prometheus-rule.yaml from the rules file; it then accepts only
the default values, which the source files carry.
"""
import argparse
import os
import re
import sys

JOB = "ivanti"
PROBE_JOB = "ivanti-probe"
RUNBOOK = "https://github.com/ivanti-exporter/ivanti-exporter/blob/main/docs/runbook.md"
# Static target labels that, with cluster_name, identify a cluster (keep
# dashboards/build.py CLUSTER_LABELS in step).
CLUSTER_LABELS = ["site"]
# IvantiHostCheckerPackageOld fires when the active ESAP package was
# activated longer ago than this many days (--esap-max-age-days). Its
# promtool cases (30 and 200 days) hold for any value from 31 to 199.
ESAP_MAX_AGE_DAYS = 90
# IvantiIntegrityScanMissing fires when no completed Integrity Checker scan
# arrived for longer than this many hours (--integrity-scan-max-age-hours);
# its promtool case (a scan 50 h old) holds from 1 to 48.
INTEGRITY_SCAN_MAX_AGE_HOURS = 48
INTEGRITY_AGE = r"((?:time\(\) - ivanti_integrity_scan_last_timestamp_seconds|process_start_time_seconds\{job=\"[^\"]*\"\}\)\n\s*\)) > )\d+( \* 3600)"
ESAP_AGE = r"(time\(\) - ivanti_esap_activated_timestamp_seconds > )\d+( \* 86400)"
RULES = "ivanti-exporter.rules.yml"
TESTS = "ivanti-exporter.rules.test.yml"
PROMETHEUS_RULE = "prometheus-rule.yaml"

HERE = os.path.dirname(os.path.abspath(__file__))
# In the source tree, the PrometheusRule lives with the other manifests.
SOURCE_TREE_RULE = os.path.join(HERE, "..", "kubernetes", PROMETHEUS_RULE)

# Selectors of the fleet job (`up`, `process_*`) and of the probe job (the
# `up` inside `avg by (job) (...)`, IvantiExporterProbeDown).
SELF_METRICS = r"(?<!avg by \(job\) \()(\b(?:up|process_open_fds|process_max_fds|process_start_time_seconds)\{job=)\"ivanti\""
PROBE_UP = r"(avg by \(job\) \(up\{job=)\"ivanti-probe\""
URL = r"(runbook_url: \"?)[^\"#\s]*#"
# Cluster-identity lists: `by|on (job, <labels>, cluster_name`, and the
# stand-alone branch of ivanti:target_cluster:info, `by (job, <labels>, target) (ivanti_up)`.
CLUSTER_BY = r"\b(by|on) \(job, (?:\w+, )*?cluster_name\b"
STANDALONE_BY = r"\bby \(job, (?:\w+, )*?target\) \(ivanti_up\)"


def rewrite_cluster_labels(text, labels):
    slot = "".join(f"{label}, " for label in labels)
    text = re.sub(CLUSTER_BY, lambda m: f"{m.group(1)} (job, {slot}cluster_name", text)
    return re.sub(STANDALONE_BY, f"by (job, {slot}target) (ivanti_up)", text)


def rewrite_rules(text, job, probe_job, runbook):
    text = re.sub(SELF_METRICS, lambda m: f'{m.group(1)}"{job}"', text)
    text = re.sub(PROBE_UP, lambda m: f'{m.group(1)}"{probe_job}"', text)
    text = re.sub(URL, lambda m: f"{m.group(1)}{runbook}#", text)
    # Texts naming the fleet job: "(job ivanti)", "of job ivanti for ...".
    text = re.sub(r"\b(job )ivanti\b(?!-)", lambda m: f"{m.group(1)}{job}", text)
    return text


def rewrite_tests(text, job, probe_job, runbook):
    """The unit tests: every series and expected label takes the new jobs
    (the shipped tests use only the two default job names)."""
    text = rewrite_rules(text, job, probe_job, runbook)
    text = re.sub(r'(\bjob=~?)"ivanti-probe"', lambda m: f'{m.group(1)}"{probe_job}"', text)
    text = re.sub(r'(\bjob=~?)"ivanti"', lambda m: f'{m.group(1)}"{job}"', text)
    text = re.sub(r"^(\s*job: )ivanti-probe$", lambda m: f"{m.group(1)}{probe_job}", text, flags=re.M)
    text = re.sub(r"^(\s*job: )ivanti$", lambda m: f"{m.group(1)}{job}", text, flags=re.M)
    text = re.sub(r"\b(job )ivanti-probe\b", lambda m: f"{m.group(1)}{probe_job}", text)
    return text


def prometheus_rule(rules):
    """The rules file as a Prometheus Operator PrometheusRule: the same groups
    under `spec` (tests/integration/deploy.rs checks that they are equal)."""
    body = rules[rules.index("groups:"):]
    spec = "".join("  " + line if line.strip() else line for line in body.splitlines(True))
    return (
        "# Generated by deploy/prometheus/build.py from\n"
        "# deploy/prometheus/ivanti-exporter.rules.yml: edit that file and rerun.\n"
        "# The Prometheus Operator picks it up when its ruleSelector matches the labels.\n"
        "apiVersion: monitoring.coreos.com/v1\n"
        "kind: PrometheusRule\n"
        "metadata:\n"
        "  name: ivanti-exporter\n"
        "  labels: { app.kubernetes.io/name: ivanti-exporter }\n"
        "spec:\n" + spec
    )


def write_if_changed(path, new):
    old = open(path).read() if os.path.exists(path) else None
    if new != old:
        with open(path, "w") as f:
            f.write(new)
        print("wrote", path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--job", default=JOB, help=f"job name of the exporter's fleet scrape (default {JOB})")
    ap.add_argument("--probe-job", default=PROBE_JOB, help=f"job name of the probe-mode scrape (default {PROBE_JOB})")
    ap.add_argument("--runbook-url", default=RUNBOOK, help="base URL of the runbook; alerts link <URL>#<alert> (default the project's docs/runbook.md)")
    ap.add_argument("--cluster-labels", default=",".join(CLUSTER_LABELS),
                    help="comma-separated target labels that tell clusters of the same cluster_name apart "
                         f"(default {','.join(CLUSTER_LABELS)}; empty: cluster_name alone)")
    ap.add_argument("--esap-max-age-days", type=int, default=ESAP_MAX_AGE_DAYS,
                    help=f"age of the active host checker package that raises IvantiHostCheckerPackageOld (default {ESAP_MAX_AGE_DAYS})")
    ap.add_argument("--integrity-scan-max-age-hours", type=int, default=INTEGRITY_SCAN_MAX_AGE_HOURS,
                    help=f"hours without a completed Integrity Checker scan that raise IvantiIntegrityScanMissing (default {INTEGRITY_SCAN_MAX_AGE_HOURS})")
    ap.add_argument("--out", help="directory to write the rules, tests and PrometheusRule to")
    a = ap.parse_args(argv)
    for name, value in [("--job", a.job), ("--probe-job", a.probe_job)]:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
            ap.error(f"{name} {value!r}: letters, digits and _ . : - only")
    labels = [label for label in a.cluster_labels.split(",") if label]
    for label in labels:
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label) or label in ("job", "instance", "target", "cluster_name"):
            ap.error(f"--cluster-labels: {label!r} is not a static target label")
    if not re.fullmatch(r"[^\s\"#]+", a.runbook_url):
        ap.error(f"--runbook-url {a.runbook_url!r}: no spaces, quotes or '#'")
    with open(os.path.join(HERE, RULES)) as f:
        rules = rewrite_cluster_labels(rewrite_rules(f.read(), a.job, a.probe_job, a.runbook_url), labels)
    if not 31 <= a.esap_max_age_days <= 199:
        ap.error("--esap-max-age-days: the shipped promtool cases (30 and 200 days) hold from 31 to 199")
    rules = re.sub(ESAP_AGE, lambda m: f"{m.group(1)}{a.esap_max_age_days}{m.group(2)}", rules)
    if not 1 <= a.integrity_scan_max_age_hours <= 48:
        ap.error("--integrity-scan-max-age-hours: the shipped promtool case (a scan 50 h old) holds from 1 to 48")
    rules = re.sub(INTEGRITY_AGE, lambda m: f"{m.group(1)}{a.integrity_scan_max_age_hours}{m.group(2)}", rules)
    with open(os.path.join(HERE, TESTS)) as f:
        tests = rewrite_tests(f.read(), a.job, a.probe_job, a.runbook_url)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        write_if_changed(os.path.join(a.out, RULES), rules)
        write_if_changed(os.path.join(a.out, TESTS), tests)
        write_if_changed(os.path.join(a.out, PROMETHEUS_RULE), prometheus_rule(rules))
        return 0
    if (a.job, a.probe_job, a.runbook_url, labels, a.esap_max_age_days, a.integrity_scan_max_age_hours) != (JOB, PROBE_JOB, RUNBOOK, CLUSTER_LABELS, ESAP_MAX_AGE_DAYS, INTEGRITY_SCAN_MAX_AGE_HOURS):
        ap.error("other values than the defaults need --out DIR (the source files keep the defaults)")
    if not os.path.isdir(os.path.dirname(SOURCE_TREE_RULE)):
        ap.error("not in the source tree: give --out DIR")
    write_if_changed(os.path.join(HERE, RULES), rules)
    write_if_changed(os.path.join(HERE, TESTS), tests)
    write_if_changed(SOURCE_TREE_RULE, prometheus_rule(rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The one place to set the exporter's Prometheus job and the runbook base URL
used by the rules (and their promtool tests). Edit the two values below, then

    python3 deploy/prometheus/build.py

rewrites, in place, every self-monitoring job selector (`{job="..."}` of
`up` and `process_*`, and the probe job's `up`) and every `runbook_url` prefix of
ivanti-exporter.rules.yml and ivanti-exporter.rules.test.yml. Running it with
the values unchanged changes nothing. Appliance series are selected by metric
name, not by job, so they keep working under any job name.
"""
import os
import re

JOB = "ivanti"
PROBE_JOB = "ivanti-probe"
RUNBOOK = "https://github.com/ivanti-exporter/ivanti-exporter/blob/main/docs/runbook.md"

HERE = os.path.dirname(os.path.abspath(__file__))
# The fleet job's selectors; the probe job's `up` is the one inside
# `avg by (job) (...)` (IvantiExporterProbeDown) and, in the tests, the input
# series written `up{instance=..., job=...}`.
SELF_METRICS = r"(?<!avg by \(job\) \()(\b(?:up|process_open_fds|process_max_fds)\{job=)\"[^\"]*\""
PROBE_UP = r"(avg by \(job\) \(up\{job=)\"[^\"]*\""
PROBE_SERIES = r"(\bup\{instance=\"[^\"]*\", job=)\"[^\"]*\""
PROBE_TEXT = r"((?:probes of job |scrape of job |^\s*job: ))ivanti-probe\b"
URL = r"(runbook_url: \"?)[^\"#\s]*runbook\.md#"


def rewrite(text):
    text = re.sub(SELF_METRICS, lambda m: f'{m.group(1)}"{JOB}"', text)
    text = re.sub(PROBE_UP, lambda m: f'{m.group(1)}"{PROBE_JOB}"', text)
    text = re.sub(PROBE_SERIES, lambda m: f'{m.group(1)}"{PROBE_JOB}"', text)
    text = re.sub(URL, lambda m: f"{m.group(1)}{RUNBOOK}#", text)
    text = re.sub(r"(of job )\S+( for 10 minutes)", lambda m: f"{m.group(1)}{JOB}{m.group(2)}", text)
    text = re.sub(r"(is scraped \(job )[^)]*\)", lambda m: f"{m.group(1)}{JOB})", text)
    text = re.sub(r"(^\s*job: )ivanti$", lambda m: f"{m.group(1)}{JOB}", text, flags=re.M) if JOB != "ivanti" else text
    if PROBE_JOB != "ivanti-probe":
        text = re.sub(PROBE_TEXT, lambda m: f"{m.group(1)}{PROBE_JOB}", text, flags=re.M)
    return text


def main():
    for name in ("ivanti-exporter.rules.yml", "ivanti-exporter.rules.test.yml"):
        path = os.path.join(HERE, name)
        with open(path) as f:
            old = f.read()
        new = rewrite(old)
        if new != old:
            with open(path, "w") as f:
                f.write(new)
            print("rewrote", name)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The one place to set the exporter's Prometheus job and the runbook base URL
used by the rules (and their promtool tests). Edit the two values below, then

    python3 deploy/prometheus/build.py

rewrites, in place, every self-monitoring job selector (`{job="..."}` of
`up` and `process_*`) and every `runbook_url` prefix of
ivanti-exporter.rules.yml and ivanti-exporter.rules.test.yml. Running it with
the values unchanged changes nothing. Appliance series are selected by metric
name, not by job, so they keep working under any job name.
"""
import os
import re

JOB = "ivanti"
RUNBOOK = "https://github.com/ivanti-exporter/ivanti-exporter/blob/main/docs/runbook.md"

HERE = os.path.dirname(os.path.abspath(__file__))
SELF_METRICS = r"(\b(?:up|process_open_fds|process_max_fds)\{job=)\"[^\"]*\""
URL = r"(runbook_url: \"?)[^\"#\s]*runbook\.md#"


def rewrite(text):
    text = re.sub(SELF_METRICS, lambda m: f'{m.group(1)}"{JOB}"', text)
    text = re.sub(URL, lambda m: f"{m.group(1)}{RUNBOOK}#", text)
    text = re.sub(r"(of job )\S+( for 10 minutes)", lambda m: f"{m.group(1)}{JOB}{m.group(2)}", text)
    text = re.sub(r"(is scraped \(job )[^)]*\)", lambda m: f"{m.group(1)}{JOB})", text)
    text = re.sub(r"(^\s*job: )ivanti$", lambda m: f"{m.group(1)}{JOB}", text, flags=re.M) if JOB != "ivanti" else text
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

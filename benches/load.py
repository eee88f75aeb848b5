#!/usr/bin/env python3
"""Load harness: a simulated fleet in one process, the exporter polling it in
another, a steady state, then one table of figures (docs/performance.md).

  cargo build --release
  python3 benches/load.py --appliances 10000 --interval 60 --duration 180
  python3 benches/load.py --appliances 1000 --interval 30 --duration 600 --faults ratio=0.2   # soak

Everything runs on loopback. Needs only Python 3's standard library.
"""
import argparse, json, os, re, resource, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK  # utime + stime


def mem_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def get(url, timeout=60, gzip=False):
    """The body (compressed as sent when gzip) and the time to its last byte."""
    t = time.perf_counter()
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
        if gzip and r.headers.get("Content-Encoding") != "gzip":
            sys.exit(f"asked for gzip, got Content-Encoding {r.headers.get('Content-Encoding')!r}")
    return body, time.perf_counter() - t


def metric(text, name):
    m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def pct(c):
    on, n = c
    return f"{100 * on / n:.2f} % of {n} checks (last success <= interval + 10 % + timeout)" if n else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--appliances", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=60, help="seconds, all seven default collectors")
    ap.add_argument("--sessions", type=int, default=100, help="mean active sessions per appliance")
    ap.add_argument("--warmup", type=int, default=None, help="seconds before measuring (default: 1.5 intervals)")
    ap.add_argument("--duration", type=int, default=None, help="seconds measured (default: 3 intervals)")
    ap.add_argument("--scrape-every", type=float, default=15, help="seconds between /metrics scrapes")
    ap.add_argument("--binary", default="target/release/ivanti-exporter")
    ap.add_argument("--floor-binary", default="target/release/examples/floor",
                    help="the bare-client floor (cargo build --release --example floor)")
    ap.add_argument("--faults", default="", help="simulator --faults, e.g. ratio=0.2 (soak: a fifth cycling through faults)")
    ap.add_argument("--sim-processes", type=int, default=1, help="split the fleet over at least this many simulator processes")
    ap.add_argument("--no-floor", action="store_true", help="skip the bare-client floor run (on by default without --faults)")
    a = ap.parse_args()
    warmup = a.warmup if a.warmup is not None else int(a.interval * 1.5)
    duration = a.duration if a.duration is not None else a.interval * 3
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} not found: run `cargo build --release` first")
    if not a.faults and not a.no_floor and not os.path.exists(a.floor_binary):
        sys.exit(f"{a.floor_binary} not found: run `cargo build --release --example floor` first")
    # The simulator holds a listener and a connection per appliance: at
    # 10,000 appliances that is over a usual 20,000-descriptor limit, so the
    # fleet is split over as many simulator processes as the limit needs.
    need = 2 * a.appliances + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
        except (ValueError, OSError):
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(need, hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    per_sim = max(1, (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1024) // 2)
    nsim = max(a.sim_processes, -(-a.appliances // per_sim))
    sizes = [a.appliances // nsim + (1 if i < a.appliances % nsim else 0) for i in range(nsim)]
    tmp = tempfile.mkdtemp(prefix="ivanti-load-")
    procs = []
    try:
        stats_ports = [free_port() for _ in sizes]
        stats_port = stats_ports  # summed by fleet_stats()
        parts = []
        for i, size in enumerate(sizes):
            part_yml = os.path.join(tmp, f"fleet-{i}.yml")
            sim = subprocess.Popen([a.binary, "simulate", "--appliances", str(size), "--sessions", str(a.sessions),
                                    "--write-config", part_yml, "--stats-address", f"127.0.0.1:{stats_ports[i]}", "--log.level", "warn"]
                                   + (["--faults", a.faults] if a.faults else [])
                                   + (["--seed", str(i + 1)] if i else []),
                                   stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"sim-{i}.log"), "w"))
            procs.append(sim)
            parts.append(part_yml)
        t = time.time()
        while not all(os.path.exists(p) for p in parts) and time.time() - t < 180:
            time.sleep(0.2)
        time.sleep(0.5)
        # One configuration: the first part's defaults, every part's
        # targets (renamed apart when there are several), one CA bundle.
        names, faulty = [], set()
        ratio = float(a.faults.split("=", 1)[1]) if a.faults.startswith("ratio=") else 0.0
        every = max(1, round(1 / ratio)) if ratio > 0 else 0
        head, bodies, cas = None, [], []
        for i, part in enumerate(parts):
            text = open(part).read()
            h, body = text.split("targets:\n", 1)
            head = head or h
            cas.append(re.search(r'ca_file: "([^"]+)"', h).group(1))
            if nsim > 1:
                body = body.replace("  - name: sim-", f"  - name: p{i}-sim-")
            part_names = re.findall(r"^  - name: (\S+)$", body, re.M)
            names += part_names
            faulty |= {n for k, n in enumerate(part_names) if every and k % every == every - 1}
            bodies.append(body)
        bundle = os.path.join(tmp, "fleet-ca-bundle.pem")
        open(bundle, "w").write("".join(open(c).read() for c in cas))
        head = head.replace(cas[0], bundle)
        fleet_yml = os.path.join(tmp, "fleet.yml")
        cfg = head + "targets:\n" + "".join(bodies)
        cfg = cfg.replace("interval: 15s", f"interval: {a.interval}s")
        cfg = cfg.replace("defaults:\n", f"defaults:\n  collector_intervals: {{ license: {a.interval}s, system_information: {a.interval}s, license_capacity: {a.interval}s, ntp: {a.interval}s }}\n", 1)
        open(fleet_yml, "w").write(cfg)
        log = os.path.join(tmp, "exporter.log")
        exp = subprocess.Popen([a.binary, "--config.file", fleet_yml, "--web.listen-address", "127.0.0.1:0",
                                "--log.level", "info", "--log.format", "json"],
                               stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        procs.append(exp)
        # The exporter picks a free port itself and logs it.
        base = None
        for _ in range(300):
            for line in open(log):
                if '"listening"' in line:
                    base = "http://" + json.loads(line)["address"]
            if base:
                break
            time.sleep(0.1)
        if not base:
            sys.exit("exporter did not start: " + open(log).read())
        print(f"warming up {warmup}s ({a.appliances} appliances, interval {a.interval}s)...", file=sys.stderr)
        time.sleep(warmup)

        def snapshot():
            body, _ = get(base + "/metrics")
            text = body.decode()
            sim_stats = fleet_stats(stats_port)
            return time.perf_counter(), cpu_seconds(exp.pid), metric(text, "ivanti_exporter_polls_total"), \
                metric(text, "ivanti_exporter_polls_skipped_total"), sim_stats

        def fds():
            return len(os.listdir(f"/proc/{exp.pid}/fd"))

        # Which targets the simulators put through faults (index % every == every - 1): `faulty` above.
        late_re = re.compile(r'^ivanti_collector_last_success_timestamp_seconds\{([^}]*)\} ([0-9.e+]+)$', re.M)
        checks = {"healthy": [0, 0], "faulty": [0, 0]}  # [on time, checked]

        def schedule_check(text):
            # A collector is on schedule when its last success is at most
            # interval + 10 % old (plus the poll's own timeout).
            now = time.time()
            for m in late_re.finditer(text):
                target = re.search(r'target="([^"]*)"', m.group(1)).group(1)
                group = checks["faulty" if target in faulty else "healthy"]
                group[1] += 1
                if now - float(m.group(2)) <= a.interval * 1.1 + 10:
                    group[0] += 1

        t0, c0, p0, s0, st0 = snapshot()
        # After the first scrape: its buffers are part of the steady state.
        fd0, rss0 = fds(), mem_kib(exp.pid, "VmRSS")
        renders, size, rss_track = [], 0, []
        gz_renders, gz_size, plain_renders = [], 0, []
        end = t0 + duration
        while time.perf_counter() < end:
            time.sleep(min(a.scrape_every, max(0.0, end - time.perf_counter())))
            body, dt = get(base + "/metrics")
            renders.append(dt); plain_renders.append(dt); size = len(body)
            schedule_check(body.decode())
            # The same scrape as Prometheus sends it (Accept-Encoding: gzip).
            gz_body, gz_dt = get(base + "/metrics", gzip=True)
            gz_renders.append(gz_dt); gz_size = len(gz_body)
            rss_track.append(mem_kib(exp.pid, "VmRSS"))
        t1, c1, p1, s1, st1 = snapshot()
        fd1, rss1 = fds(), mem_kib(exp.pid, "VmRSS")
        alive = exp.poll() is None
        errors = {}
        for m in re.finditer(r'^ivanti_collector_errors_total\{[^}]*reason="([a-z_]+)"\} ([0-9.e+]+)$', get(base + "/metrics")[0].decode(), re.M):
            errors[m.group(1)] = errors.get(m.group(1), 0) + float(m.group(2))
        dt = t1 - t0
        cycles = dt / a.interval
        polls = p1 - p0
        expected = a.appliances * 5 * cycles
        cpu = c1 - c0
        peak = mem_kib(exp.pid, "VmHWM")
        renders.sort()
        p99 = renders[min(len(renders) - 1, int(len(renders) * 0.99))] if renders else 0
        rows = [
            ("appliances", f"{a.appliances}"),
            ("interval, collectors", f"{a.interval} s, 7 (sessions ~{a.sessions}/appliance)"),
            ("measured", f"{dt:.0f} s steady state after {warmup} s warm-up, /metrics scraped every {a.scrape_every:g} s"),
            ("polls/s", f"{polls / dt:.1f} (expected {expected / dt:.1f})"),
            ("polls on schedule", f"{min(100.0, 100 * polls / expected):.2f} % (skipped: {s1 - s0:.0f})"),
            ("healthy appliances' collectors on schedule", pct(checks["healthy"])),
            ("faulty appliances' collectors on schedule", pct(checks["faulty"]) if faulty else "n/a (no faults)"),
            ("exporter CPU", f"{100 * cpu / dt:.2f} % of one core"),
            ("CPU per poll", f"{1e6 * cpu / max(polls, 1):.0f} µs"),
            ("CPU per appliance-cycle (7 collectors + scrapes)", f"{1e6 * cpu / (a.appliances * cycles):.0f} µs"),
            ("peak RSS", f"{peak / 1024:.1f} MiB ({peak / a.appliances:.1f} KiB per appliance)"),
            ("/metrics size", f"{size / 1e6:.1f} MB"),
            ("/metrics time p50 / p99", f"{1e3 * statistics.median(renders):.0f} ms / {1e3 * p99:.0f} ms" if renders else "n/a"),
            ("/metrics gzip size", f"{gz_size / 1e6:.1f} MB ({100 * gz_size / size:.1f} % of plain)" if size else "n/a"),
            ("/metrics gzip time p50 / max", f"{1e3 * statistics.median(gz_renders):.0f} ms / {1e3 * max(gz_renders):.0f} ms" if gz_renders else "n/a"),
            # Each gzip scrape follows its plain one: the ratio of the two is
            # the figure least moved by other load on the machine.
            ("/metrics gzip / plain time, median of each scrape's pair", f"{statistics.median(g / p for g, p in zip(gz_renders, plain_renders)):.2f} x" if gz_renders else "n/a"),
            ("TLS handshakes per steady-state cycle", f"{(st1['tls_handshakes'] - st0['tls_handshakes']) / cycles:.1f} (fleet total, all appliances)"),
            ("requests per steady-state cycle", f"{(st1['requests'] - st0['requests']) / cycles:.0f}"),
            ("exporter still running (crashes)", "yes (0)" if alive else "NO"),
            ("open fds start / end", f"{fd0} / {fd1} ({100 * (fd1 - fd0) / max(fd0, 1):+.1f} %)"),
            ("RSS start / end of the window", f"{rss0 / 1024:.1f} / {rss1 / 1024:.1f} MiB ({100 * (rss1 - rss0) / max(rss0, 1):+.1f} %)"),
            ("RSS at each quarter of the window", " / ".join(f"{rss_track[min(len(rss_track) - 1, len(rss_track) * q // 4)] / 1024:.1f}" for q in (0, 1, 2, 3)) + f" / {rss1 / 1024:.1f} MiB" if rss_track else "n/a"),
            ("collector errors by reason (whole run)", ", ".join(f"{k} {v:.0f}" for k, v in sorted(errors.items())) or "none"),
        ]
        if not a.faults and not a.no_floor:
            rows += floor_rows(a, fleet_yml, tmp, exp, stats_port, duration, 1e6 * cpu / max(polls, 1))
        print("| figure | value |\n|---|---|")
        for k, v in rows:
            print(f"| {k} | {v} |")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def fleet_stats(ports):
    """The simulators' counters, summed."""
    total = {}
    for port in ports:
        for k, v in json.loads(get(f"http://127.0.0.1:{port}/stats")[0]).items():
            total[k] = total.get(k, 0) + v
    return total


def floor_rows(a, fleet_yml, tmp, exp, stats_port, duration, exporter_us_per_poll):
    """The same requests from a bare client loop (`ivanti-exporter floor`):
    same schedule, same kept-alive connections, no parsing, store, render
    or scrapes. Runs after the exporter has stopped, on the same fleet."""
    exp.send_signal(signal.SIGTERM)
    exp.wait(timeout=30)
    out = os.path.join(tmp, "floor.out")
    floor = subprocess.Popen([a.floor_binary, "--config.file", fleet_yml, "--log.level", "warn"],
                             stdout=open(out, "w"), stderr=open(os.path.join(tmp, "floor.log"), "w"))
    try:
        warm = int(a.interval * 1.1) + 5
        print(f"bare-client floor: warming up {warm}s...", file=sys.stderr)
        time.sleep(warm)

        def snap():
            lines = open(out).read().split()
            last = json.loads(lines[-1]) if lines else {"polls": 0, "ok": 0, "failed": 0}
            sim_stats = fleet_stats(stats_port)
            return time.perf_counter(), cpu_seconds(floor.pid), last, sim_stats

        t0, c0, f0, st0 = snap()
        time.sleep(duration)
        t1, c1, f1, st1 = snap()
        dt = t1 - t0
        cycles = dt / a.interval
        polls = f1["polls"] - f0["polls"]
        per_poll = 1e6 * (c1 - c0) / max(polls, 1)
        return [
            ("bare-client floor: polls/s, CPU", f"{polls / dt:.1f} polls/s, {100 * (c1 - c0) / dt:.2f} % of one core"),
            ("bare-client floor: CPU per poll", f"{per_poll:.0f} µs ({(st1['requests'] - st0['requests']) / cycles:.0f} requests per cycle, {f1['failed'] - f0['failed']} failed)"),
            ("exporter CPU per poll / floor", f"{exporter_us_per_poll / max(per_poll, 1e-9):.2f} ×"),
        ]
    finally:
        floor.send_signal(signal.SIGTERM)
        try:
            floor.wait(timeout=15)
        except subprocess.TimeoutExpired:
            floor.kill()


if __name__ == "__main__":
    main()

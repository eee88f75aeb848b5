#!/usr/bin/env python3
"""Load harness: a simulated fleet in one process, the exporter polling it in
another, a steady state, then one table of figures (docs/performance.md).

  cargo build --release
  python3 benches/load.py --appliances 10000 --interval 60 --duration 180
  python3 benches/load.py --appliances 1000 --interval 30 --duration 600 --faults ratio=0.2   # soak
  python3 benches/load.py --appliances 1000 --interval 30 --warmup 60 --duration 300 \
      --syslog-flood 20000 --no-floor   # polling under a syslog flood (issue 24)

With --syslog-flood RATE the exporter's syslog receiver is on (UDP and TCP on
loopback) and, during the measured window, another process sends it RATE
datagrams a second from 32 source ports (garbage, oversized messages, valid
WELF lines for the fleet's targets and for unknown hosts) plus a stream of
short TCP connections (octet-counted frames, broken framing, oversized
lines), each opened and closed; the table adds the receiver's counters.

Everything runs on loopback. Needs only Python 3's standard library.
"""
import argparse, json, multiprocessing, os, random, re, resource, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

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


def series(text, name):
    """Every sample of `name`: [(labels as text, value)]."""
    return [(m.group(1) or "", float(m.group(2)))
            for m in re.finditer(rf"^{name}(?:\{{([^}}]*)\}})? ([0-9.e+-]+)$", text, re.M)]


def by_label(text, name, label):
    """`name`'s samples summed by the value of `label`."""
    out = {}
    for labels, v in series(text, name):
        m = re.search(rf'{label}="([^"]*)"', labels)
        k = m.group(1) if m else ""
        out[k] = out.get(k, 0.0) + v
    return out


def udp_rcvbuf_errors():
    """Datagrams the kernel dropped for a full receive buffer (system-wide)."""
    lines = [l.split() for l in open("/proc/net/snmp") if l.startswith("Udp:")]
    return int(dict(zip(lines[0][1:], lines[1][1:]))["RcvbufErrors"]) if len(lines) >= 2 else 0


def welf(host, id_and_text, realm=""):
    """One WELF event-log line in RFC 5424, as the gateway sends it (src/sim/syslog.rs)."""
    return (f'<134>1 2024-01-10T03:00:00Z {host} PulseSecure - - - id=firewall time="2024-01-10 03:00:00" '
            f'pri=6 fw=127.0.0.1 vpn={host} ivs=Root user=System realm="{realm}" roles="" type=mgmt '
            f'msg="{id_and_text}"').encode()


def flood_pool(names, size_limit=8192):
    """The messages the flood draws from, by kind: garbage bytes, oversized,
    valid lines for the fleet's targets (failed sign-ins in 200 realms, more
    than the 50 kept per target, and status lines), valid lines from hosts
    no target has."""
    rnd = random.Random(24)
    garbage = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 600))) for _ in range(400)]
    oversized = [b"<134>1 " + bytes([rnd.choice(b"abcdefgh ")]) * (size_limit + 800)]
    realms = [f"realm-{i}" for i in range(200)]
    valid = []
    for _ in range(600):
        host = rnd.choice(names)
        if rnd.random() < 0.5:
            valid.append(welf(host, f"AUT24327: Primary authentication failed for user{rnd.randint(0, 9999)}/x from 198.51.100.{rnd.randint(1, 254)}", rnd.choice(realms)))
        else:
            valid.append(welf(host, "SIM00001: status"))
    unknown = [welf(f"ghost-{rnd.randint(0, 99999)}", "SYS32088: A built-in integrity scan has been completed.") for _ in range(200)]
    return {"garbage": garbage, "oversized": oversized, "valid": valid, "unknown": unknown}


# Shares of the UDP flood, per 100 datagrams.
FLOOD_MIX = [("garbage", 40), ("oversized", 5), ("valid", 35), ("unknown", 20)]


def flood_worker(udp_port, tcp_port, rate, names, stop, sent):
    """Send `rate` datagrams a second until `stop` is set; `sent` counts
    [garbage, oversized, valid, unknown, tcp frames, tcp connections]."""
    pool = flood_pool(names)
    socks = []
    for _ in range(32):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        u.setblocking(False)
        socks.append(u)
    kinds = [k for k, n in FLOOD_MIX for _ in range(n)]
    rnd = random.Random(1)
    counts = [0] * 6
    start = time.perf_counter()
    next_tcp = start
    done, i = 0, 0
    while not stop.is_set():
        now = time.perf_counter()
        due = int(rate * (now - start))
        # Catch up in bounded batches (a slow moment is not made up at once).
        for _ in range(min(due - done, max(1, rate // 20))):
            k = kinds[i % 100]
            msg = rnd.choice(pool[k])
            try:
                socks[i % len(socks)].sendto(msg, ("127.0.0.1", udp_port))
                counts[[k2 for k2, _ in FLOOD_MIX].index(k)] += 1
            except (BlockingIOError, OSError):
                pass
            i += 1
            done += 1
        if now >= next_tcp:
            # Ten short TCP connections a second: twenty octet-counted frames
            # each; one in five ends with broken framing, one in five with an
            # oversized newline-framed line.
            next_tcp += 0.1
            n = counts[5]
            try:
                c = socket.create_connection(("127.0.0.1", tcp_port), timeout=2)
                frames = [rnd.choice(pool["valid"] + pool["garbage"]) for _ in range(20)]
                data = b"".join(str(len(f)).encode() + b" " + f for f in frames)
                if n % 5 == 1:
                    data += b"12x"
                elif n % 5 == 3:
                    data += b"<134>" + b"y" * 9000 + b"\n"
                c.sendall(data)
                c.close()
                counts[4] += len(frames)
            except OSError:
                pass
            counts[5] += 1
        for j, v in enumerate(counts):
            sent[j] = v
        if done >= due:
            time.sleep(0.002)
    for j, v in enumerate(counts):
        sent[j] = v


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
    ap.add_argument("--syslog-flood", type=int, default=0, metavar="RATE",
                    help="turn the syslog receiver on (UDP + TCP, loopback) and send RATE datagrams/s of garbage, oversized and valid messages during the window")
    ap.add_argument("--syslog-rate-limit", type=int, default=1000000,
                    help="the receiver's per-sender rate_limit during a flood (default: high enough that every message is parsed, the worst case; the flood comes from one address)")
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
        if a.syslog_flood:
            syslog_udp, syslog_tcp = free_port(), free_port()
            cfg += (f"syslog:\n  udp_listen_address: 127.0.0.1:{syslog_udp}\n"
                    f"  tcp_listen_address: 127.0.0.1:{syslog_tcp}\n  rate_limit: {a.syslog_rate_limit}\n")
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

        # Every (target, collector) the exporter polls, each once an interval.
        polled = len(late_re.findall(get(base + "/metrics")[0].decode()))
        t0, c0, p0, s0, st0 = snapshot()
        # After the first scrape: its buffers are part of the steady state.
        fd0, rss0 = fds(), mem_kib(exp.pid, "VmRSS")
        load0 = os.getloadavg()
        flood = None
        if a.syslog_flood:
            ctx = multiprocessing.get_context("fork")
            stop, sent = ctx.Event(), ctx.Array("q", 6)
            text0 = get(base + "/metrics")[0].decode()
            rcvbuf0 = udp_rcvbuf_errors()
            flood = ctx.Process(target=flood_worker, args=(syslog_udp, syslog_tcp, a.syslog_flood, names, stop, sent), daemon=True)
            flood.start()
            flood_t0 = time.perf_counter()
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
        if flood:
            stop.set()
            flood.join(timeout=30)
            flood_dt = time.perf_counter() - flood_t0
        t1, c1, p1, s1, st1 = snapshot()
        fd1, rss1 = fds(), mem_kib(exp.pid, "VmRSS")
        load1 = os.getloadavg()
        alive = exp.poll() is None
        errors = {}
        for m in re.finditer(r'^ivanti_collector_errors_total\{[^}]*reason="([a-z_]+)"\} ([0-9.e+]+)$', get(base + "/metrics")[0].decode(), re.M):
            errors[m.group(1)] = errors.get(m.group(1), 0) + float(m.group(2))
        dt = t1 - t0
        cycles = dt / a.interval
        polls = p1 - p0
        expected = polled * cycles
        cpu = c1 - c0
        peak = mem_kib(exp.pid, "VmHWM")
        renders.sort()
        p99 = renders[min(len(renders) - 1, int(len(renders) * 0.99))] if renders else 0
        rows = [
            ("appliances", f"{a.appliances}"),
            ("interval, collectors", f"{a.interval} s, {polled / a.appliances:g} per appliance (sessions ~{a.sessions}/appliance)"),
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
            ("load average 1/5/15 min, start / end of the window", f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} / {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} ({os.cpu_count()} cores)"),
        ]
        if flood:
            rows += flood_rows(a, text0, get(base + "/metrics")[0].decode(), list(sent), flood_dt, udp_rcvbuf_errors() - rcvbuf0)
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


def flood_rows(a, before, after, sent, dt, rcvbuf_drops):
    """What the flood sent and what the receiver counted, over the window."""
    def delta(name, label=None):
        if label:
            b, x = by_label(before, name, label), by_label(after, name, label)
            return {k: v - b.get(k, 0.0) for k, v in x.items()}
        return sum(v for _, v in series(after, name)) - sum(v for _, v in series(before, name))
    udp = sum(sent[:4])
    rejected = delta("ivanti_exporter_syslog_messages_rejected_total", "reason")
    refused = delta("ivanti_exporter_syslog_connections_rejected_total", "reason")
    return [
        ("syslog flood: UDP sent", f"{udp} datagrams, {udp / dt:.0f}/s (asked {a.syslog_flood}/s) from 32 source ports: "
                                   f"garbage {sent[0]}, oversized {sent[1]}, valid for fleet targets {sent[2]}, valid from unknown hosts {sent[3]}"),
        ("syslog flood: TCP sent", f"{sent[4]} octet-counted frames over {sent[5]} connections opened and closed "
                                   f"(one in five ends in broken framing, one in five in an oversized line)"),
        ("syslog flood: receiver's rate_limit", f"{a.syslog_rate_limit}/s per sender address"),
        ("receiver: messages received", f"{delta('ivanti_exporter_syslog_messages_received_total'):.0f} "
                                        f"(kernel UDP receive-buffer drops, system-wide: {rcvbuf_drops})"),
        ("receiver: rejected by reason", ", ".join(f"{k} {v:.0f}" for k, v in sorted(rejected.items()))),
        ("receiver: unknown senders / unrecognized", f"{delta('ivanti_exporter_syslog_unknown_sender_messages_total'):.0f} / "
                                                     f"{delta('ivanti_exporter_syslog_unrecognized_messages_total'):.0f}"),
        ("receiver: counted on targets (sum of ivanti_syslog_messages_total)", f"{delta('ivanti_syslog_messages_total'):.0f}"),
        ("receiver: sign-in failure series (realms kept, fleet)", f"{len(series(after, 'ivanti_signin_failures_total'))}"),
        ("receiver: connections refused by reason / at the cap / idle-closed",
         ", ".join(f"{k} {v:.0f}" for k, v in sorted(refused.items())) +
         f" / {delta('ivanti_exporter_syslog_connections_limited_total'):.0f} / {delta('ivanti_exporter_syslog_idle_connections_closed_total'):.0f}"),
    ]


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

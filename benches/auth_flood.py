#!/usr/bin/env python3
"""Wrong passwords under load: a simulated fleet polled by the exporter with
basic auth on (bcrypt, cost 10), N clients sending wrong passwords as fast as
they are answered, and Prometheus' scrape with the right password beside
them. Prints one table (docs/performance.md, "Wrong passwords under load").

  cargo build --release
  python3 benches/auth_flood.py --appliances 1000 --clients 50 --duration 60

Each wrong request carries a new password (the worst case: nothing is
cached), unless --same-password. Everything runs on loopback; Python 3's
standard library only.
"""
import argparse, base64, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import cpu_seconds, metric  # noqa: E402

# bcrypt("correct horse battery", cost 10): a hash as an operator makes one.
HASH = "$2b$10$abcdefghijklmnopqrstuuCj7fyLDJytXL.TfOiOeiv0fQvSOK1/2"
USER, PASSWORD = "prometheus", "correct horse battery"


def get(url, password, timeout=30):
    """(status, body, seconds to the last byte)."""
    auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), time.perf_counter() - t
    except urllib.error.HTTPError as e:
        return e.code, e.read(), time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--appliances", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=15, help="seconds, all five collectors")
    ap.add_argument("--clients", type=int, default=50, help="concurrent wrong-password clients")
    ap.add_argument("--duration", type=int, default=60, help="seconds of the attack")
    ap.add_argument("--scrape-every", type=float, default=2, help="seconds between the right user's scrapes")
    ap.add_argument("--same-password", action="store_true", help="every wrong request sends the same password")
    ap.add_argument("--binary", default="target/release/ivanti-exporter")
    a = ap.parse_args()
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} not found: run `cargo build --release` first")
    tmp = tempfile.mkdtemp(prefix="ivanti-auth-flood-")
    procs = []
    try:
        fleet_yml = os.path.join(tmp, "fleet.yml")
        procs.append(subprocess.Popen(
            [a.binary, "simulate", "--appliances", str(a.appliances), "--write-config", fleet_yml, "--log.level", "warn"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "sim.log"), "w")))
        t = time.time()
        while not os.path.exists(fleet_yml) and time.time() - t < 180:
            time.sleep(0.2)
        time.sleep(0.5)
        cfg = open(fleet_yml).read().replace("interval: 15s", f"interval: {a.interval}s")
        cfg = cfg.replace("defaults:\n", f"defaults:\n  collector_intervals: {{ license: {a.interval}s, system_information: {a.interval}s }}\n", 1)
        open(fleet_yml, "w").write(cfg)
        web_yml = os.path.join(tmp, "web.yml")
        open(web_yml, "w").write(f'basic_auth_users:\n  {USER}: "{HASH}"\n')
        log = os.path.join(tmp, "exporter.log")
        exp = subprocess.Popen([a.binary, "--config.file", fleet_yml, "--web.config.file", web_yml,
                                "--web.listen-address", "127.0.0.1:0", "--log.level", "info", "--log.format", "json"],
                               stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        procs.append(exp)
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
        url = base + "/metrics"
        status, _, _ = get(url, PASSWORD)
        if status != 200:
            sys.exit(f"the right password was answered {status}")
        warm = int(a.interval * 1.5)
        print(f"warming up {warm}s ({a.appliances} appliances, interval {a.interval}s)...", file=sys.stderr)
        time.sleep(warm)

        def snapshot():
            _, body, _ = get(url, PASSWORD)
            text = body.decode()
            return time.perf_counter(), cpu_seconds(exp.pid), metric(text, "ivanti_exporter_polls_total"), text

        late_re = re.compile(r'^ivanti_collector_last_success_timestamp_seconds\{[^}]*\} ([0-9.e+]+)$', re.M)
        on_time = [0, 0]

        def schedule_check(text):
            now = time.time()
            for m in late_re.finditer(text):
                on_time[1] += 1
                if now - float(m.group(1)) <= a.interval * 1.1 + 10:
                    on_time[0] += 1

        stop = threading.Event()
        answered = {}
        wrong_times = []
        lock = threading.Lock()

        def attacker(n):
            i = 0
            while not stop.is_set():
                pw = "wrong" if a.same_password else f"wrong-{n}-{i}"
                i += 1
                try:
                    status, _, dt = get(url, pw)
                except Exception as e:  # noqa: BLE001 (a refused connection is a figure too)
                    status, dt = type(e).__name__, 0.0
                with lock:
                    answered[status] = answered.get(status, 0) + 1
                    wrong_times.append(dt)

        t0, c0, p0, _ = snapshot()
        threads = [threading.Thread(target=attacker, args=(n,), daemon=True) for n in range(a.clients)]
        for th in threads:
            th.start()
        scrapes, failed = [], 0
        end = t0 + a.duration
        while time.perf_counter() < end:
            time.sleep(min(a.scrape_every, max(0.0, end - time.perf_counter())))
            status, body, dt = get(url, PASSWORD)
            if status != 200:
                failed += 1
                continue
            scrapes.append(dt)
            schedule_check(body.decode())
        t1, c1, p1, _ = snapshot()
        stop.set()
        for th in threads:
            th.join(timeout=30)
        dt = t1 - t0
        expected = a.appliances * 5 * dt / a.interval
        scrapes.sort()
        wrong_times.sort()
        rows = [
            ("appliances, interval", f"{a.appliances}, {a.interval} s (5 collectors)"),
            ("wrong-password clients", f"{a.clients} for {dt:.0f} s, {'one password' if a.same_password else 'a new password each request'}"),
            ("wrong requests answered", ", ".join(f"{k}: {v}" for k, v in sorted(answered.items(), key=str)) + f" ({sum(answered.values()) / dt:.1f}/s)"),
            ("wrong request time p50 / max", f"{1e3 * statistics.median(wrong_times):.0f} ms / {1e3 * wrong_times[-1]:.0f} ms" if wrong_times else "n/a"),
            ("right user's /metrics p50 / max", f"{1e3 * statistics.median(scrapes):.0f} ms / {1e3 * scrapes[-1]:.0f} ms ({len(scrapes)} scrapes, {failed} not 200)" if scrapes else "n/a"),
            ("polls on schedule", f"{min(100.0, 100 * (p1 - p0) / expected):.2f} % ({p1 - p0:.0f} of {expected:.0f} expected)"),
            ("collectors on schedule", f"{100 * on_time[0] / on_time[1]:.2f} % of {on_time[1]} checks" if on_time[1] else "n/a"),
            ("exporter CPU", f"{100 * (c1 - c0) / dt:.1f} % of one core"),
            ("exporter still running", "yes" if exp.poll() is None else "NO"),
        ]
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


if __name__ == "__main__":
    main()

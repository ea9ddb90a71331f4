"""Prints bench/run.sh's results as a table: modelgate (wrk) beside its floor (pgbench)."""

import glob
import os
import re
import subprocess
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def millis(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]


def wrk(path):
    text = open(path).read()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = millis(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = millis(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    failed = int(bad.group(1)) if bad else 0
    failed += sum(int(n) for n in errors.groups()) if errors else 0
    return rate, p50, p99, failed


def pgbench(folder):
    summary = open(os.path.join(folder, "summary.txt")).read()
    tps = float(re.search(r"tps = ([\d.]+)", summary).group(1))
    # pgbench's own latency field reads 0 for sub-millisecond statements (it reuses a lazily
    # refreshed clock), so a transaction's latency is taken as the time since the same client's
    # previous completion: each client runs one transaction after the other, without pause.
    latencies = []
    for log in glob.glob(os.path.join(folder, "pgbench_log.*")):
        last = {}
        for line in open(log):
            client, _, _, _, epoch, micros = line.split()[:6]
            done = int(epoch) * 1_000_000 + int(micros)
            if client in last:
                latencies.append((done - last[client]) / 1000.0)
            last[client] = done
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return tps, pick(0.50), pick(0.99)


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    cores = os.cpu_count()
    try:
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pg = "?"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return f"{cores} cores ({cpu}), {pg}, commit {commit or '?'}"


def main(results, seconds, profile):
    rows, floors, rss, ttfbs = {}, {}, {}, {}
    for line in open(results):
        backend, scenario, tool, where = line.rstrip("\n").split("\t")
        if tool == "wrk":
            rows.setdefault(backend, []).append((scenario, wrk(where)))
        elif tool == "pgbench":
            floors[scenario] = pgbench(where)
        elif tool == "ttfb":
            ttfbs[backend] = tuple(float(x) for x in where.split())
        else:
            rss[backend] = int(where) // 1024
    direct = dict(rows.pop("upstream", []))
    litellm = dict(rows.pop("litellm", []))
    bare = dict(rows.pop("bare", []))
    print(f"\nmodelgate HTTP benchmark ({profile} build): {machine()}; {seconds} s per scenario; "
          "wrk -t2, pgbench -M prepared -j2")
    for backend, measured in rows.items():
        print(f"\n{backend} (peak RSS {rss.get(backend, '?')} MiB)")
        head = f"{'scenario':32} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7}"
        if backend == "postgres":
            head += f" | {'floor/s':>8} {'p50 ms':>7} {'p99 ms':>7} | {'× floor':>7} {'p99 ×':>6}"
        print(head)
        for scenario, (rate, p50, p99, failed) in measured:
            line = f"{scenario:32} {rate:8.0f} {p50:7.2f} {p99:7.2f} {failed:7d}"
            if backend == "postgres" and scenario in floors:
                tps, f50, f99 = floors[scenario]
                line += f" | {tps:8.0f} {f50:7.2f} {f99:7.2f} | {rate / tps:7.2f} {p99 / f99:6.1f}"
            print(line)
    gateway = [name for name in direct if name.startswith("chat completion")]
    for scenario in gateway:
        # TTFB is measured once, against the upstream that answers at once.
        timed = scenario == "chat completion"
        print(f"\ngateway, {scenario}: POST /v1/chat/completions through modelgate vs straight to "
              "the same fake upstream (16 connections)"
              + ("; streamed time to first byte, 300 sequential requests" if timed else ""))
        print(f"{'':28} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} | {'× direct':>8} "
              f"{'+p50 ms':>7} {'+p99 ms':>7} |" + (f" {'TTFB p50':>8} {'+TTFB':>6}" if timed else ""))
        d_rate, d50, d99, d_failed = direct[scenario]
        d_ttfb = ttfbs.get("upstream", (float("nan"), float("nan")))[0]
        line = f"{'direct':28} {d_rate:8.0f} {d50:7.2f} {d99:7.2f} {d_failed:7d} | {'':8} {'':7} {'':7} |"
        print(line + (f" {d_ttfb:8.3f}" if timed else ""))
        # What any proxy on modelgate's HTTP stack costs here: the ceiling for "× direct".
        proxies = [("bare actix+awc pass-through", "bare", bare.get(scenario))]
        proxies += [("via modelgate, " + backend, backend, dict(measured).get(scenario))
                    for backend, measured in rows.items()]
        proxies.append(("via LiteLLM proxy", "litellm", litellm.get(scenario)))
        for label, source, found in proxies:
            if not found:
                continue
            rate, p50, p99, failed = found
            line = (f"{label:28} {rate:8.0f} {p50:7.2f} {p99:7.2f} {failed:7d} | "
                    f"{rate / d_rate:8.2f} {p50 - d50:7.2f} {p99 - d99:7.2f} |")
            if timed and source in ttfbs:
                t = ttfbs[source][0]
                line += f" {t:8.3f} {t - d_ttfb:6.3f}"
            print(line)


if __name__ == "__main__":
    main(*sys.argv[1:4])

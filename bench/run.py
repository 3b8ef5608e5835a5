#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs the benchmark rows against every server, alternating servers row
by row in one run on one machine, and writes the raw results as CSV:

  OUT/results.csv   one line per (round, tool, row, server)
  OUT/cdf.csv       latency percentiles of the queue-depth-1 fio rows
  OUT/env.csv       machine, versions, servers skipped and why

Usage: bench/run.py [--out DIR] [--plan full|smoke] [--seconds N] [--ramp N]
                    [--rounds N] [--size BYTES] [--servers a,b] [--only REGEX]
                    [--nbdraw PATH] [--nbdtool PATH]
"""
import argparse
import csv
import os
import platform
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loads    # noqa: E402
import servers  # noqa: E402

K, M = 1024, 1024 * 1024
FIELDS = ["round", "tool", "row", "server", "rw", "bs", "qd", "conns", "seconds",
          "iops", "mibs", "p50_us", "p99_us", "p999_us", "errors", "srv_cpu_us_per_op",
          "gap_us"]
# A sporadic row (one request, then a pause of gap_us) runs at least this
# long, so that its percentiles rest on enough requests.
GAP_SECONDS = {1000: 4, 20000: 6, 200000: 12}


def cpu_seconds(pid):
    """User + system CPU time of a whole process (all threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def row(tool, rw, bs, qd, conns, gap_us=0):
    short = {"randread": "rr", "randwrite": "rw", "read": "sr", "write": "sw"}[rw]
    size = "%dk" % (bs // K) if bs < M else "%dm" % (bs // M)
    rid = "%s-%s-%s-qd%d-c%d" % (tool, short, size, qd, conns)
    return {"tool": tool, "row": rid + ("-i%d" % gap_us if gap_us else ""),
            "rw": rw, "bs": bs, "qd": qd, "conns": conns, "gap_us": gap_us}


def full_plan():
    rows = []
    for rw in ("randread", "randwrite"):
        for qd in (1, 4, 16, 32, 64):       # IOPS against queue depth
            rows.append(row("fio", rw, 4 * K, qd, 1))
        for c in (2, 4):                     # ... and against connections
            rows.append(row("fio", rw, 4 * K, 32, c))
    for rw in ("read", "write"):             # MiB/s against request size
        for bs in (4 * K, 64 * K, M, 4 * M):
            rows.append(row("fio", rw, bs, 8, 1))
    # The standard rows (docs/bench.md), with both load tools.
    for tool in ("nbdtool", "nbdraw"):
        rows += [row(tool, "randread", 4 * K, 1, 1), row(tool, "randwrite", 4 * K, 1, 1),
                 row(tool, "randread", 4 * K, 32, 8), row(tool, "randwrite", 4 * K, 32, 8),
                 row(tool, "read", M, 4, 4), row(tool, "write", M, 4, 4)]
    # Sporadic 4K requests, like page faults far apart (nbdraw's -i).
    for gap in (1000, 20000, 200000):
        rows.append(row("nbdraw", "randread", 4 * K, 1, 1, gap))
    for gap in (20000, 200000):
        rows.append(row("nbdraw", "randwrite", 4 * K, 1, 1, gap))
    return rows


def smoke_plan():
    return [row("fio", "randread", 4 * K, 1, 1), row("fio", "randwrite", 4 * K, 32, 2),
            row("fio", "read", M, 8, 1), row("nbdtool", "randread", 4 * K, 32, 2),
            row("nbdraw", "randread", 4 * K, 32, 2), row("nbdraw", "randread", 4 * K, 1, 1, 1000)]


def sh(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=10).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def environment(args, names, skipped):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    env = [("date_utc", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())),
           ("host_cpus", str(os.cpu_count())), ("cpu", cpu), ("kernel", platform.release()),
           ("loadavg_at_start", open("/proc/loadavg").read().split(" ")[0]),
           ("fio", sh(["fio", "--version"])), ("nbdkit", sh(["nbdkit", "--version"])),
           ("commit", sh(["git", "-C", servers.ROOT, "describe", "--always", "--dirty"])),
           ("export_bytes", str(args.size)), ("seconds_per_row", str(args.seconds)),
           ("ramp_seconds", str(args.ramp)),
           ("rounds", str(args.rounds)), ("plan", args.plan), ("servers", " ".join(names))]
    env += [("skipped_" + n, why) for n, why in skipped]
    return env


def start(name, size):
    s = servers.Server(name, size)
    loads.prefill(s.uri, size)
    used = s.used_bytes(size)
    if used is not None and used < size:
        s.stop()
        sys.exit("bench: %s holds only %d of %d bytes after the prefill" % (name, used, size))
    print("bench: %s ready, prefilled with %d MiB of random data" % (name, size >> 20),
          file=sys.stderr)
    return s


def row_seconds(args, r):
    return max(args.seconds, GAP_SECONDS.get(r["gap_us"], 0)) if args.plan == "full" \
        else args.seconds


def measure(args, r, s):
    if r["tool"] == "fio":
        return loads.run_fio(s.uri, r["rw"], r["bs"], r["qd"], r["conns"], args.seconds, args.ramp)
    if r["tool"] == "nbdraw":
        return loads.run_nbdraw(args.nbdraw, s.sock, r["rw"], r["bs"], r["qd"], r["conns"],
                                row_seconds(args, r), r["gap_us"])
    return loads.run_nbdtool(args.nbdtool, s.sock, r["rw"], r["bs"], r["qd"], r["conns"],
                             args.seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(servers.ROOT, "bench", "results"))
    ap.add_argument("--plan", choices=("full", "smoke"), default="full")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--ramp", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--size", type=int, default=1 << 30)
    ap.add_argument("--servers", default="vs-host,vs-cudafake,nbdkit")
    ap.add_argument("--only", help="run only the rows whose id matches this regex")
    ap.add_argument("--nbdraw", default=os.path.join(servers.ROOT, "build", "nbdraw"))
    ap.add_argument("--nbdtool", default=os.path.join(servers.ROOT, "build", "nbdtool"))
    args = ap.parse_args()

    plan = full_plan() if args.plan == "full" else smoke_plan()
    if args.only:
        plan = [r for r in plan if re.search(args.only, r["row"])]
    skipped = []
    for tool, path in (("nbdraw", args.nbdraw), ("nbdtool", args.nbdtool)):
        if not os.access(path, os.X_OK):
            skipped.append((tool, "no %s at %s" % (tool, path)))
            plan = [r for r in plan if r["tool"] != tool]
    names = []
    for n in args.servers.split(","):
        why = servers.CONFIGS[n]["missing"]()
        (skipped.append((n, why)) if why else names.append(n))
    for n, why in skipped:
        print("bench: skipping %s: %s" % (n, why), file=sys.stderr)
    if servers.BASELINE not in names or len(names) < 2:
        sys.exit("bench: need %s and at least one vram-swapd configuration" % servers.BASELINE)

    # Before any output is opened: the results may be tracked files, and
    # git would call the tree dirty for the truncation alone.
    env = environment(args, names, skipped)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "env.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["key", "value"])
        w.writerows(env)

    running = {}
    try:
        for n in names:
            running[n] = start(n, args.size)
        res_f = open(os.path.join(args.out, "results.csv"), "w", newline="")
        cdf_f = open(os.path.join(args.out, "cdf.csv"), "w", newline="")
        res, cdf = csv.DictWriter(res_f, FIELDS), csv.writer(cdf_f)
        res.writeheader()
        cdf.writerow(["round", "tool", "row", "server", "pct", "lat_us"])
        k = 0
        for rnd in range(args.rounds):
            for r in plan:
                # Alternate: each row runs on every server back to back, and
                # the order rotates so that no server always goes first.
                order = names[k % len(names):] + names[:k % len(names)]
                k += 1
                for n in order:
                    s = running[n]
                    cpu0 = cpu_seconds(s.proc.pid)
                    try:
                        m = measure(args, r, s)
                    except loads.LoadError as e:
                        why = s.trouble()
                        if not why:
                            raise
                        # Say so, start that server afresh and measure again once.
                        print("bench: %s failed on %s: %s; restarting it (%s)"
                              % (r["row"], n, why, e), file=sys.stderr)
                        s.stop()
                        s = running[n] = start(n, args.size)
                        cpu0 = cpu_seconds(s.proc.pid)
                        m = measure(args, r, s)
                    # Server CPU per request: on a shared 2-CPU machine far
                    # steadier than throughput. fio's ramp counts no I/O but
                    # costs CPU: assume it ran at the measured rate.
                    cpu = cpu_seconds(s.proc.pid) - cpu0
                    secs = args.seconds if r["tool"] != "nbdraw" else row_seconds(args, r)
                    ops = m["iops"] * (secs + (args.ramp if r["tool"] == "fio" else 0))
                    out = dict(r, round=rnd, server=n, seconds=secs,
                               srv_cpu_us_per_op="%.3f" % (cpu * 1e6 / ops if ops else 0))
                    out.update({key: m[key] for key in FIELDS if key in m})
                    for key in ("iops", "mibs", "p50_us", "p99_us", "p999_us"):
                        out[key] = "%.3f" % out[key]
                    res.writerow(out)
                    if r["qd"] == 1 and m["cdf"]:
                        cdf.writerows([rnd, r["tool"], r["row"], n, p, "%.3f" % v] for p, v in m["cdf"])
                    res_f.flush()
                    cdf_f.flush()
                    print("bench: %-28s %-12s %10.0f IOPS %9.1f MiB/s p50 %7.1f us p99 %7.1f us"
                          " cpu/op %6.2f us" % (r["row"], n, m["iops"], m["mibs"], m["p50_us"],
                                                m["p99_us"], float(out["srv_cpu_us_per_op"])),
                          file=sys.stderr)
        res_f.close()
        cdf_f.close()
    finally:
        for s in running.values():
            s.stop()


if __name__ == "__main__":
    main()

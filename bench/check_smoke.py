#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Asserts that a smoke run of the benchmark produced what `make bench`
publishes: well-formed CSV with a measurement for every (row, server), a
report whose summary carries a ratio per row, and real PNG plots.
Figures are not judged: a benchmark is not a pass/fail test.

Usage: bench/check_smoke.py DIR   (bench/run.py --out DIR, report in DIR/BENCHMARKS.md)
"""
import csv
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run      # noqa: E402
import servers  # noqa: E402


def fail(msg):
    sys.exit("check-bench-smoke: FAIL: " + msg)


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "env.csv")) as f:
        env = {r["key"]: r["value"] for r in csv.DictReader(f)}
    names = env["servers"].split()
    if servers.BASELINE not in names or len(names) < 2:
        fail("servers measured: %s" % names)
    with open(os.path.join(d, "results.csv")) as f:
        rd = csv.DictReader(f)
        if rd.fieldnames != run.FIELDS:
            fail("results.csv header %s" % rd.fieldnames)
        rows = list(rd)
    want = {(r["row"], n) for r in run.smoke_plan() for n in names
            if "skipped_" + r["tool"] not in env}
    if "skipped_nbdtool" in env:
        fail("the project's load tool did not run: " + env["skipped_nbdtool"])
    got = {(r["row"], r["server"]) for r in rows}
    if want - got:
        fail("missing measurements: %s" % sorted(want - got))
    for r in rows:
        for k in ("iops", "mibs", "p50_us", "p99_us"):
            v = float(r[k])
            if not math.isfinite(v) or v <= 0:
                fail("%s %s: %s = %s" % (r["row"], r["server"], k, r[k]))
        if float(r["p99_us"]) < float(r["p50_us"]):
            fail("%s %s: p99 below p50" % (r["row"], r["server"]))
        if int(r["errors"]):
            fail("%s %s: %s errors" % (r["row"], r["server"], r["errors"]))
    with open(os.path.join(d, "cdf.csv")) as f:
        cdf = list(csv.DictReader(f))
    for n in names:
        lat = [float(r["lat_us"]) for r in cdf if r["server"] == n]
        if len(lat) < 10 or lat != sorted(lat):
            fail("latency CDF of %s: %s" % (n, lat))
    with open(os.path.join(d, "BENCHMARKS.md")) as f:
        md = f.read()
    for r in run.smoke_plan():
        if r["tool"] == "fio" and r["row"] in ("fio-rr-4k-qd1-c1",):
            line = [l for l in md.splitlines() if l.startswith("| 4 KiB random read, QD1 x 1 conn | IOPS")]
            if not line or "x" not in line[0].split("|")[-3]:
                fail("summary row without a ratio: %s" % line)
    if "prefilled with random data" not in md:
        fail("report does not state the prefill")
    for p in ("iops-vs-qd", "iops-vs-conns", "latency-cdf-qd1", "seq-vs-size"):
        path = os.path.join(d, "plots", p + ".png")
        with open(path, "rb") as f:
            head = f.read(8)
        if head != b"\x89PNG\r\n\x1a\n" or os.path.getsize(path) < 2000:
            fail("%s is not a PNG plot" % path)
    print("check-bench-smoke: %d measurements on %s, report and 4 plots: ok" % (len(rows), ", ".join(names)))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turns the raw CSV of bench/run.py into BENCHMARKS.md and PNG plots
(gnuplot). With several rounds, every figure is the median of the rounds.

Usage: bench/report.py RESULTS_DIR REPORT.md [--plots DIR] [--extra FILE]... [--gpu LOG]
The --extra files (hand-written profile and notes) are appended verbatim;
the figures of a GPU run (--gpu, bench/gpulog.py) lead the report.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compresslog  # noqa: E402
import fiolog  # noqa: E402
import gpulog  # noqa: E402
import servers  # noqa: E402

K, M = 1024, 1024 * 1024
NUM = ("iops", "mibs", "p50_us", "p99_us", "p999_us", "srv_cpu_us_per_op")


def load(d):
    with open(os.path.join(d, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    cdf = []
    if os.path.exists(os.path.join(d, "cdf.csv")):
        with open(os.path.join(d, "cdf.csv")) as f:
            cdf = list(csv.DictReader(f))
    with open(os.path.join(d, "env.csv")) as f:
        env = {r["key"]: r["value"] for r in csv.DictReader(f)}
    return rows, cdf, env


def medians(rows):
    """{(row, server): {field: median}} plus the row descriptions in order."""
    groups, desc = {}, {}
    for r in rows:
        groups.setdefault((r["row"], r["server"]), []).append(r)
        desc.setdefault(r["row"], r)
    med = {}
    for key, rs in groups.items():
        med[key] = {f: statistics.median(float(r[f]) for r in rs) for f in NUM}
        med[key]["errors"] = sum(int(r["errors"]) for r in rs)
        med[key]["n"] = len(rs)
    return med, desc


def size_name(bs):
    return "%d KiB" % (bs // K) if bs < M else "%d MiB" % (bs // M)


def describe(d):
    kind = {"randread": "random read", "randwrite": "random write",
            "read": "sequential read", "write": "sequential write"}[d["rw"]]
    gap = int(d.get("gap_us") or 0)
    return "%s %s, QD%s x %s conn%s" % (size_name(int(d["bs"])), kind, d["qd"], d["conns"],
                                          ", one every %g ms" % (gap / 1000.0) if gap else "")


def ratio(a, b):
    return a / b if b else float("nan")


def fmt(v, unit):
    if unit == "IOPS":
        return "%.0f" % v
    return "%.1f" % v


# The summary table: (row id, metric, unit, target ratio, higher is better).
TABLE = [
    ("fio-rr-4k-qd1-c1", "iops", "IOPS", 1.0, True),
    ("fio-rr-4k-qd1-c1", "p50_us", "p50 us", 1.0, False),
    ("fio-rr-4k-qd1-c1", "p99_us", "p99 us", 1.0, False),
    ("fio-rw-4k-qd1-c1", "iops", "IOPS", 1.0, True),
    ("fio-rw-4k-qd1-c1", "p50_us", "p50 us", 1.0, False),
    ("fio-rw-4k-qd1-c1", "p99_us", "p99 us", 1.0, False),
    ("fio-rr-4k-qd32-c1", "iops", "IOPS", 1.0, True),
    ("fio-rr-4k-qd32-c2", "iops", "IOPS", 1.5, True),
    ("fio-rr-4k-qd32-c4", "iops", "IOPS", 1.5, True),
    ("fio-rw-4k-qd32-c1", "iops", "IOPS", 1.0, True),
    ("fio-rw-4k-qd32-c2", "iops", "IOPS", 1.5, True),
    ("fio-rw-4k-qd32-c4", "iops", "IOPS", 1.5, True),
    ("fio-sr-1m-qd8-c1", "mibs", "MiB/s", 1.0, True),
    ("fio-sw-1m-qd8-c1", "mibs", "MiB/s", 1.0, True),
]


def ours(names):
    return [n for n in names if n != servers.BASELINE]


def label(n):
    return servers.CONFIGS[n]["label"] if n in servers.CONFIGS else n


def summary_table(med, desc, names):
    base = servers.BASELINE
    head = ["row", "metric"] + [label(n) for n in names] + \
           ["%s / %s" % (label(n), label(base)) for n in ours(names)] + ["target"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    misses = []
    for rid, f, unit, target, higher in TABLE:
        if rid not in desc:
            continue
        cells = [describe(desc[rid]), unit]
        vals = {n: med.get((rid, n), {}).get(f) for n in names}
        cells += [fmt(vals[n], unit) if vals[n] is not None else "-" for n in names]
        for n in ours(names):
            if vals[n] is None or vals[base] is None:
                cells.append("-")
                continue
            r = ratio(vals[n], vals[base])
            ok = r >= target if higher else r <= target
            cells.append("%.2fx%s" % (r, "" if ok else " **(miss)**"))
            if not ok:
                misses.append("%s %s %s: %.2fx" % (label(n), describe(desc[rid]), unit, r))
        cells.append(("&ge; %.1fx" if higher else "&le; %.1fx (lower is better)") % target)
        out.append("| " + " | ".join(cells) + " |")
    return out, misses


def full_table(med, desc, names, tool):
    base = servers.BASELINE
    head = ["row"]
    for n in names:
        head += ["%s IOPS" % label(n), "MiB/s", "p50 us", "p99 us", "server CPU us/req"]
    head += ["%s / %s IOPS" % (label(n), label(base)) for n in ours(names)]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rid, d in desc.items():
        if d["tool"] != tool:
            continue
        cells = [describe(d)]
        for n in names:
            m = med.get((rid, n))
            cells += ["%.0f" % m["iops"], "%.1f" % m["mibs"], "%.1f" % m["p50_us"],
                      "%.1f" % m["p99_us"], "%.2f" % m["srv_cpu_us_per_op"]] if m else ["-"] * 5
        for n in ours(names):
            a, b = med.get((rid, n)), med.get((rid, base))
            cells.append("%.2fx" % ratio(a["iops"], b["iops"]) if a and b else "-")
        out.append("| " + " | ".join(cells) + " |")
    return out


# ---- plots ----

def gnuplot(script, data_dir):
    p = subprocess.run(["gnuplot"], input=script, text=True, cwd=data_dir,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode:
        sys.exit("report: gnuplot failed:\n" + p.stdout)


def series_plot(med, desc, names, plot_dir, fname, title, xlabel, ylabel, pick, xkey, yfield,
                logx=True):
    """One line per (server, rw) for the rows pick() selects, x = xkey."""
    lines = []
    for rw in ("randread", "randwrite", "read", "write"):
        for n in names:
            pts = sorted((int(d[xkey]), med[(rid, n)][yfield]) for rid, d in desc.items()
                         if d["rw"] == rw and pick(d) and (rid, n) in med)
            if pts:
                dat = "%s-%s-%s.dat" % (fname, n, rw)
                with open(os.path.join(plot_dir, dat), "w") as f:
                    f.writelines("%d %f\n" % p for p in pts)
                lines.append("'%s' using 1:2 with linespoints title '%s, %s'" % (dat, label(n), rw))
    if not lines:
        return None
    png = fname + ".png"
    gnuplot("set terminal pngcairo size 900,560\nset output '%s'\nset title '%s'\n"
            "set xlabel '%s'\nset ylabel '%s'\nset key outside bottom center horizontal maxrows 3\n"
            "set grid\n%sset yrange [0:*]\nplot %s\n"
            % (png, title, xlabel, ylabel, "set logscale x 2\n" if logx else "", ", ".join(lines)),
            plot_dir)
    return png


def cdf_plot(cdf, names, plot_dir):
    lines = []
    for rw, short in (("randread", "rr"), ("randwrite", "rw")):
        for n in names:
            pts = {}
            for r in cdf:
                if r["server"] == n and r["row"] == "fio-%s-4k-qd1-c1" % short:
                    pts.setdefault(float(r["pct"]), []).append(float(r["lat_us"]))
            if pts:
                dat = "cdf-%s-%s.dat" % (n, short)
                with open(os.path.join(plot_dir, dat), "w") as f:
                    f.writelines("%f %f\n" % (statistics.median(v), p) for p, v in sorted(pts.items()))
                lines.append("'%s' using 1:2 with linespoints title '%s, %s'" % (dat, label(n), rw))
    if not lines:
        return None
    gnuplot("set terminal pngcairo size 900,560\nset output 'latency-cdf-qd1.png'\n"
            "set title '4 KiB random I/O at queue depth 1: latency CDF (fio, completion incl. submission)'\n"
            "set xlabel 'latency (us, log scale)'\nset ylabel 'percentile'\nset logscale x\n"
            "set key outside bottom center horizontal maxrows 3\nset grid\nset yrange [0:100]\n"
            "plot %s\n" % ", ".join(lines), plot_dir)
    return "latency-cdf-qd1.png"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("report")
    ap.add_argument("--plots", help="PNG directory (default: RESULTS/plots)")
    ap.add_argument("--extra", action="append", default=[])
    ap.add_argument("--gpu", help="log of bench/cuda-gpu.sh: its figures lead the report")
    ap.add_argument("--compress", help="log of bench/cuda-compress.sh")
    ap.add_argument("--zram", help="the e2e guest's ratio lines, against zram")
    ap.add_argument("--fio", action="append", default=[],
                    help="a GPU e2e run with fio (one per --compress setting)")
    args = ap.parse_args()
    rows, cdf, env = load(args.results)
    med, desc = medians(rows)
    names = [n for n in env["servers"].split() if any(k[1] == n for k in med)]
    plot_dir = args.plots or os.path.join(args.results, "plots")
    os.makedirs(plot_dir, exist_ok=True)
    for f in os.listdir(plot_dir):
        if f.endswith(".dat") or f.endswith(".png"):
            os.unlink(os.path.join(plot_dir, f))

    pngs = [
        series_plot(med, desc, names, plot_dir, "iops-vs-qd",
                    "4 KiB random I/O, one connection: IOPS against queue depth (fio)",
                    "queue depth", "IOPS", lambda d: d["tool"] == "fio" and d["conns"] == "1"
                    and d["bs"] == str(4 * K) and d["rw"].startswith("rand"), "qd", "iops"),
        series_plot(med, desc, names, plot_dir, "iops-vs-conns",
                    "4 KiB random I/O at queue depth 32: IOPS against connections (fio)",
                    "connections", "IOPS", lambda d: d["tool"] == "fio" and d["qd"] == "32"
                    and d["rw"].startswith("rand"), "conns", "iops", logx=False),
        cdf_plot(cdf, names, plot_dir),
        series_plot(med, desc, names, plot_dir, "seq-vs-size",
                    "Sequential I/O, queue depth 8, one connection: MiB/s against request size (fio)",
                    "request size (bytes)", "MiB/s", lambda d: d["tool"] == "fio"
                    and not d["rw"].startswith("rand"), "bs", "mibs"),
    ]
    for f in os.listdir(plot_dir):
        if f.endswith(".dat"):
            os.unlink(os.path.join(plot_dir, f))
    here = os.path.dirname(os.path.abspath(args.report))
    rel = os.path.relpath(plot_dir, here)

    summary, misses = summary_table(med, desc, names)
    skipped = ["%s (%s)" % (k[len("skipped_"):], v) for k, v in env.items() if k.startswith("skipped_")]
    md = ["# vram-swap benchmarks", "",
          "Generated by `make bench` (bench/run.py, then bench/report.py) from the raw",
          "results in `%s/`; do not edit by hand. How to run and read it: docs/bench.md." %
          os.path.relpath(args.results, here), ""]
    if args.gpu:
        md += gpulog.section(gpulog.parse(args.gpu), os.path.relpath(args.gpu, here))
    if args.compress or args.zram:
        ratios = compresslog.parse_ratios(args.zram) if args.zram else []
        png = compresslog.plot(ratios, plot_dir)
        md += compresslog.section(
            compresslog.parse_gpu(args.compress) if args.compress else None,
            os.path.relpath(args.compress, here) if args.compress else None,
            ratios, os.path.relpath(args.zram, here) if args.zram else None,
            os.path.join(rel, png) if png else None,
            compresslog.ratio_run(args.zram) if args.zram else None)
    if args.fio:
        md += fiolog.section([fiolog.parse(p) for p in args.fio],
                             [os.path.relpath(p, here) for p in args.fio])
    md += ["## Conditions (the machine without a GPU)", "",
          "- Machine: %s CPUs (%s), kernel %s, %s, %s; run %s UTC at commit %s."
          % (env.get("host_cpus"), env.get("cpu"), env.get("kernel"), env.get("fio"),
             env.get("nbdkit"), env.get("date_utc"), env.get("commit")),
          "- **Client and server share the same %s CPUs**: every figure includes the load"
          " generator's own cost, and a server that burns more CPU also slows its client."
          " Load average when the run started: %s (other work on the machine adds noise)."
          % (env.get("host_cpus"), env.get("loadavg_at_start")),
          "- Servers: %s, each with a %d MiB export, all started at once and measured"
          " alternately: every row runs on each server back to back, in an order that rotates"
          " from row to row. %d s per measurement (after %s s of ramp for fio), %s round(s);"
          " with several rounds each figure is the median."
          % (", ".join(label(n) for n in names), int(env.get("export_bytes", 0)) >> 20,
             int(env.get("seconds_per_row", 0)), env.get("ramp_seconds", "?"), env.get("rounds")),
          "- **Every export was prefilled with random data** (one sequential pass of 1 MiB"
          " writes of fio's random buffers) before any row ran, and vram-swapd's status file"
          " confirmed every page as held. vram-swapd keeps a page map: a never-written"
          " (or same-filled) page is answered without a copy, which would flatter it on read"
          " rows.",
          "- fio: `--ioengine=nbd` (libnbd), one connection per job (`--numjobs` = connections),"
          " `--iodepth` per connection; latency is fio's total latency (`lat_percentiles`)."
          " nbdtool (tests/tools/nbdtool.c, libnbd) and nbdraw (tests/tools/nbdraw.c,"
          " raw sockets): one thread and connection per `-c`, the project's standard rows"
          " (docs/bench.md). Server CPU is the server process's user+system time"
          " per request during the row (less sensitive to the machine's other load than"
          " throughput).",
          ]
    if skipped:
        md.append("- Not measured: " + "; ".join(skipped) + ".")
    md += ["", "## Summary: vram-swapd against nbdkit memory (the project's targets)", ""]
    md += summary
    md += ["", "Target misses in this run: " + ("; ".join(misses) if misses else "none") + ".", ""]
    slower = ["%s on %s %s (%.2fx)" % (label(n), desc[rid]["tool"], describe(desc[rid]), med[(rid, n)]["iops"] /
                                   med[(rid, servers.BASELINE)]["iops"])
              for rid in desc for n in ours(names)
              if (rid, n) in med and (rid, servers.BASELINE) in med
              and med[(rid, n)]["iops"] < med[(rid, servers.BASELINE)]["iops"]]
    worse = ["%s on %s %s (%.0f against %.0f us)" % (label(n), desc[rid]["tool"], describe(desc[rid]),
                                                  med[(rid, n)]["p99_us"],
                                                  med[(rid, servers.BASELINE)]["p99_us"])
             for rid in desc for n in ours(names)
             if (rid, n) in med and (rid, servers.BASELINE) in med
             and med[(rid, n)]["p99_us"] > med[(rid, servers.BASELINE)]["p99_us"]]
    md += ["Over every row of every tool below: slower than nbdkit: " +
           ("; ".join(slower) if slower else "none") + ". p99 worse than nbdkit's: " +
           ("; ".join(worse) if worse else "none") + ".", ""]
    md += ["## All fio rows", ""] + full_table(med, desc, names, "fio")
    for tool, what in (("nbdtool", "the project's libnbd load tool, tests/tools/nbdtool.c"),
                       ("nbdraw", "the project's raw-socket load tool, tests/tools/nbdraw.c")):
        if any(d["tool"] == tool for d in desc.values()):
            md += ["", "## Standard rows with %s (%s)" % (tool, what), ""]
            md += full_table(med, desc, names, tool)
    md += ["", "## Plots", ""]
    md += ["![%s](%s/%s)" % (p[:-4], rel, p) for p in pngs if p]
    errors = sum(m["errors"] for m in med.values())
    md += ["", "Errors reported by the load generators: %d." % errors]
    for e in args.extra:
        with open(e) as f:
            md += ["", f.read().rstrip()]
    with open(args.report, "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()

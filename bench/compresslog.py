#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Reads the two compression results into the report's section on them:
the log of bench/cuda-compress.sh (the standard rows on a GPU with each
--compress setting, the daemon's CPU per request, what chunk 0 held) and
the e2e guest's ratio lines (tests/e2e/guest/e2e-guest.sh, ratio_round:
the same pages in vram-swapd and in zram with the same compressor). The
logs are the raw results; this only picks figures out of them."""
import os
import re
import subprocess

from fiolog import COMMIT, DATE
from gpulog import RESULT

SETTING = re.compile(r"^######## --compress (\w+)")
CPU = re.compile(r"^cpu_us_per_request=([\d.]+)")
HELD = re.compile(r"^== held: chunk\.0=\d+ (\d+) (\d+) (\d+) (\d+) \d+ (\d+) (\d+)")
RATIO = re.compile(r"ratio\((\w+),(\w+)\): vram-swapd ([\d.]+) \(pages (\d+), same (\d+), "
                   r"compr (\d+), held (\d+)\), zram ([\d.]+) \(orig (\d+), compr (\d+), "
                   r"mem_used (\d+), same (\d+)\)")


def parse_gpu(path):
    """{"env": {...}, "settings": [names], "rows": {row: {setting: figures}},
    "held": {setting: (memory, used, stored pages, same, compr, offered)}}"""
    env, rows, held, settings = {}, {}, {}, []
    setting = name = None
    with open(path) as f:
        for line in f.read().splitlines():
            for key in ("commit", "date", "gpu", "cpus", "data"):
                if line.startswith(key + ": ") and key not in env:
                    env[key] = line[len(key) + 2:]
            m = SETTING.match(line)
            if m:
                setting = m.group(1)
                settings.append(setting)
                continue
            m = HELD.match(line)
            if m and setting:
                held[setting] = tuple(int(x) for x in m.groups())
                continue
            if line.startswith("== ") and setting:
                name = line[3:]
                continue
            m = RESULT.search(line)
            if m and name:
                rows.setdefault(name, {})[setting] = {
                    "iops": int(m.group(7)), "MBps": float(m.group(8)),
                    "p50_us": float(m.group(9)), "p99_us": float(m.group(10)),
                    "errors": int(m.group(12))}
                continue
            m = CPU.match(line)
            if m and name and setting in rows.get(name, {}):
                rows[name][setting]["cpu_us"] = float(m.group(1))
                name = None
    return {"env": env, "settings": settings, "rows": rows, "held": held}


def ratio_run(path):
    """(date, commit) from the ratio log's first line, a comment saying
    where the lines come from as the e2e logs' first lines do; None
    without one."""
    with open(path) as f:
        head = f.readline()
    d, c = DATE.search(head), COMMIT.search(head)
    return (d.group(1), c.group(1)) if d and c else None


def parse_ratios(path):
    """[(workload, alg, ours, zram)], each side a dict of its figures."""
    out = []
    with open(path) as f:
        for line in f:
            m = RATIO.search(line)
            if m:
                g = m.groups()
                ours = {"ratio": float(g[2]), "pages": int(g[3]), "same": int(g[4]),
                        "compr": int(g[5]), "held": int(g[6])}
                zram = {"ratio": float(g[7]), "orig": int(g[8]), "compr": int(g[9]),
                        "held": int(g[10]), "same": int(g[11])}
                out.append((g[0], g[1], ours, zram))
    return out


def plot(ratios, plot_dir):
    """A bar chart of the ratio per workload, vram-swapd beside zram."""
    if not ratios:
        return None
    dat = os.path.join(plot_dir, "ratio-vs-zram.dat")
    with open(dat, "w") as f:
        for w, a, o, z in ratios:
            f.write("%s,%s %.2f %.2f\n" % (w, a, o["ratio"], z["ratio"]))
    png = "ratio-vs-zram.png"
    script = ("set terminal pngcairo size 900,480\nset output '%s'\n"
              "set title 'Bytes stored per byte of memory holding them, same pages'\n"
              "set style data histograms\nset style histogram clustered gap 1\n"
              "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset grid y\n"
              "set yrange [0:*]\nset xtics rotate by -30\nset key top left\n"
              "plot 'ratio-vs-zram.dat' using 2:xtic(1) title 'vram-swapd', "
              "'' using 3 title 'zram'\n" % png)
    p = subprocess.run(["gnuplot"], input=script, text=True, cwd=plot_dir,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.unlink(dat)
    if p.returncode:
        raise SystemExit("report: gnuplot failed:\n" + p.stdout)
    return png


def section(g, gpu_rel, ratios, ratio_rel, png_rel, ratio_at=None):
    """Markdown lines for the compression section."""
    env = g["env"] if g else {}
    md = ["## Compression", ""]
    if ratios:
        md += ["### Ratio against zram, the same pages", "",
               "The pages real programs hold (tests/e2e/workloads.py: a Python process with"
               " dicts and strings, an in-memory SQLite database, cc1 at -O2 halfway through a"
               " large file, Python's library sources as files on a tmpfs), 24 MiB each,"
               " written in the kernel e2e guest (Linux 6.1) to a zram device and to"
               " vram-swapd with the same compressor. The ratio is bytes stored over the"
               " memory holding them: zram's orig_data_size over mem_used_total (its"
               " allocator's pages), vram-swapd's stored pages over its 64-byte blocks in"
               " use (`used_bytes`). Raw lines: `%s`%s; `make e2e` checks each."
               % (ratio_rel, ", run %s at commit %s" % ratio_at if ratio_at else ""), ""]
        if png_rel:
            md += ["![ratio against zram](%s)" % png_rel, ""]
        md += ["| workload | compressor | vram-swapd ratio | zram ratio | pages | same-filled"
               " (both) | compressed bytes, vram-swapd / zram | memory held, vram-swapd / zram |",
               "|---|---|---|---|---|---|---|---|"]
        for w, a, o, z in ratios:
            md.append("| %s | %s | %.2f | %.2f | %d | %d / %d | %d / %d | %d / %d |"
                      % (w, a, o["ratio"], z["ratio"], o["pages"], o["same"], z["same"],
                         o["compr"], z["compr"], o["held"], z["held"]))
        md.append("")
    if g:
        sets = g["settings"]
        md += ["### What it costs on %s" % env.get("gpu", "the GPU").split(",")[0], "",
               "- %s; %s CPUs; run %s at commit %s; raw log `%s` (bench/cuda-compress.sh)."
               % (env.get("gpu", "?"), env.get("cpus", "?"), env.get("date", "?"),
                  env.get("commit", "?"), gpu_rel),
               "- nbdraw on chunk 0 (1 GiB of VRAM) of an 8 GiB tier, its first 1 GiB of"
               " offsets; the pages written are %s, each led by its offset (`nbdraw -F`)."
               " The first row fills the span with them. CPU is the daemon's user+system"
               " time per request during the row." % env.get("data", "?"), ""]
        md += ["| row |" + "".join(" %s IOPS | %s p50 us | %s CPU us/req |" % ((s,) * 3)
                                   for s in sets),
               "|---|" + "---|" * (3 * len(sets))]
        for name, by in g["rows"].items():
            cells = ""
            for s in sets:
                f = by.get(s)
                cells += (" %d | %.1f | %s |" % (f["iops"], f["p50_us"],
                                                 "%.1f" % f["cpu_us"] if "cpu_us" in f else "-")
                          if f else " - | - | - |")
            md.append("| %s |%s" % (name, cells))
        md.append("")
        for s in sets:
            h = g["held"].get(s)
            if h:
                md.append("- `--compress %s`: %d pages stored in %d bytes of VRAM (%d compressed"
                          " bytes), ratio %.2f; the chunk offers %d MiB on %d MiB of VRAM."
                          % (s, h[2], h[1], h[4], h[2] * 4096 / h[1] if h[1] else 0,
                             h[5] >> 20, h[0] >> 20))
        errors = sum(f["errors"] for by in g["rows"].values() for f in by.values())
        md += ["", "Errors reported by the load tool on these rows: %d." % errors, ""]
    return md

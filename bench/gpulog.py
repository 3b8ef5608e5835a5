#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Reads the log of bench/cuda-gpu.sh (one run on a real GPU) into the
report's GPU section: the standard nbdraw rows for --backend cuda and
--backend host on the same machine, the integrity runs and the sporadic
rows, with the run's conditions. The log is the raw result; this only
picks figures out of it."""
import re

RESULT = re.compile(r"conns=(\d+) qd=(\d+) bs=(\d+) write%=(\d+) (rand|seq)( verify)? "
                    r"iops=(\d+) MBps=([\d.]+) p50_us=([\d.]+) p99_us=([\d.]+) "
                    r"p999_us=([\d.]+) errors=(\d+)")
BACKEND = re.compile(r"^######## --backend (\w+)")
SPORADIC = re.compile(r"^== (4K (?:read|write), one every \d+ ms), (\w+)$")
SERVING = re.compile(r"serving (\d+) MiB of .* in (\d+) chunk")
SPAN = re.compile(r"^nbdtool: verified (\d+) MiB")
TOOL = re.compile(r"^IOPS (\d+) .* errors (\d+)\s+mismatches (\d+)")


def parse(path):
    """{"env": {...}, "rows": [(name, {backend: figures})], "integrity": {backend: line}}"""
    env, rows, integrity = {}, {}, {}
    backend, name = None, None
    with open(path) as f:
        lines = f.read().splitlines()
    for line in lines:
        for key in ("commit", "date", "gpu", "cpus"):
            if line.startswith(key + ": ") and key not in env:
                env[key] = line[len(key) + 2:]
        m = SERVING.search(line)
        if m and backend and "export" not in env:
            env["export"] = "a %d GiB tier in %s chunks" % (int(m.group(1)) >> 10, m.group(2))
        m = BACKEND.match(line)
        if m:
            backend, name = m.group(1), None
            continue
        if line.startswith("######## sporadic"):
            backend, name = None, None
            continue
        m = SPORADIC.match(line)
        if m:
            name, be = m.group(1), m.group(2)
        elif line.startswith("== ") and backend:
            name, be = line[3:], backend
        elif line.startswith("== "):
            name = None
            continue
        m = RESULT.search(line)
        if m and name:
            fig = {"iops": int(m.group(7)), "MBps": float(m.group(8)),
                   "p50_us": float(m.group(9)), "p99_us": float(m.group(10)),
                   "p999_us": float(m.group(11)), "errors": int(m.group(12))}
            rows.setdefault(name, {})[be] = fig
            name = None
        m = SPAN.match(line)
        if m and "span" not in env:
            env["span"] = int(m.group(1))
        m = TOOL.match(line)
        if m and backend:
            integrity[backend] = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return {"env": env, "rows": list(rows.items()), "integrity": integrity}


def gpu_words(csv_line):
    """nvidia-smi's name, memory.total, memory.used, driver, PCIe gen, width."""
    f = [x.strip() for x in csv_line.split(",")]
    if len(f) < 6:
        return csv_line
    return "%s (%s, driver %s, PCIe gen %s x%s)" % (f[0], f[1], f[3], f[4], f[5])


def section(g, log_rel):
    """Markdown lines: the GPU figures, which lead the report."""
    env = g["env"]
    bes = [b for b in ("cuda", "host") if any(b in r for _, r in g["rows"])]
    md = ["## On a real GPU: %s (the product)" % env.get("gpu", "GPU").split(",")[0], "",
          "- %s; %s CPUs; run %s at commit %s; raw log `%s` (bench/cuda-gpu.sh)."
          % (gpu_words(env.get("gpu", "?")), env.get("cpus", "?"), env.get("date", "?"),
             env.get("commit", "?"), log_rel),
          "- Load tool: nbdraw (raw sockets, as the kernel's client talks), one thread and"
          " connection per `-c`, against the default export: chunk 0 (%s MiB) of %s, which"
          " a verifying run filled first; `--backend cuda` is VRAM through the CUDA Driver API,"
          " `--backend host` the same daemon on RAM, on the same machine in the same run."
          " Client and server share the machine's CPUs."
          % (env.get("span", "?"), env.get("export", "the tier")), ""]
    head = "| row |" + "".join(" %s IOPS | %s MB/s | %s p50 us | %s p99 us |" % ((b,) * 4)
                               for b in bes)
    md += [head, "|---|" + "---|" * (4 * len(bes))]
    errors = 0
    for name, by in g["rows"]:
        cells = []
        for b in bes:
            f = by.get(b)
            if f:
                errors += f["errors"]
                cells.append(" %d | %.1f | %.1f | %.1f |" % (f["iops"], f["MBps"], f["p50_us"],
                                                            f["p99_us"]))
            else:
                cells.append(" - | - | - | - |")
        md.append("| %s |%s" % (name, "".join(cells)))
    md.append("")
    for b in bes:
        if b in g["integrity"]:
            iops, err, mism = g["integrity"][b]
            md.append("Integrity, %s: the whole export written and read back by nbdtool under"
                      " 10 s of mixed 64 KiB load at 8 x 16, %d IOPS, %d errors, %d mismatches."
                      % (b, iops, err, mism))
    md += ["Errors reported by the load tool on these rows: %d." % errors, ""]
    return md

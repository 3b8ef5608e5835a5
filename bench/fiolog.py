#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Reads the GPU e2e runs with fio (tests/e2e/gpu-e2e.sh with E2E_FIO set,
one log per run, in pairs of an off run and a compressed one) into the
report's section on what a page fault waits for through the real kernel.
The logs are the raw results; this only picks figures out of them."""
import re

SETTING = re.compile(r"--compress (\w+)")
DATE = re.compile(r"\((\d{4}-\d\d-\d\d)")
COMMIT = re.compile(r"commit ([0-9a-f]{7,40})")
SECONDS = re.compile(r"E2E_FIO=(\d+)")
DAEMON = re.compile(r"^e2e: host daemon \d+ serving: backend=(\w+) .*size_bytes=(\d+)")
FILL = re.compile(r"fio\(fill,remote\): (\S+) written")
CPUS = re.compile(r"^gpu-e2e: Linux \S+; (\d+) CPUs")
GPU = re.compile(r"^(NVIDIA [^,]+), ([\d.]+), (\d+) MiB")
GUEST = re.compile(r"mode=remote kernel=(\S+) cpus=(\d+) MemTotal=(\d+)MiB")
ROW = re.compile(r"PASS fio\((rand\w+),QD(\d+),remote\): (\d+) IOPS, p50 (\d+) us, "
                 r"p99 (\d+) us \((\d+) connections\)")
VERIFY = re.compile(r"PASS fio-verify\(remote\): (\S+) written at random")
DONE = re.compile(r"^e2e: (PASS|FAIL) \(remote, (.*)\)")
COUNTERS = re.compile(r"^e2e: host daemon counters: (.*)")


def parse(path):
    """{"setting", "date", "commit", "seconds", "gpu", "driver", "cpus",
    "backend", "export_mib", "region", "guest",
    "rows": {(rw, qd): figures}, "verified", "result", "counters"}"""
    run = {"rows": {}, "verified": None, "result": None, "counters": {}}
    with open(path) as f:
        lines = f.read().splitlines()
    head = lines[0] if lines and lines[0].startswith("#") else ""
    for key, rx in (("setting", SETTING), ("date", DATE), ("commit", COMMIT),
                    ("seconds", SECONDS)):
        m = rx.search(head)
        run[key] = m.group(1) if m else None
    for line in lines:
        m = CPUS.match(line)
        if m:
            run["cpus"] = int(m.group(1))
        m = GPU.match(line)
        if m:
            run["gpu"], run["driver"] = m.group(1), m.group(2)
        m = DAEMON.match(line)
        if m:
            run["backend"], run["export_mib"] = m.group(1), int(m.group(2)) >> 20
        m = FILL.search(line)
        if m:
            run["region"] = m.group(1)
        m = GUEST.search(line)
        if m:
            run["guest"] = (m.group(1), int(m.group(2)), int(m.group(3)))
        m = ROW.search(line)
        if m:
            run["rows"][(m.group(1), int(m.group(2)))] = {
                "iops": int(m.group(3)), "p50_us": int(m.group(4)),
                "p99_us": int(m.group(5)), "conns": int(m.group(6))}
        m = VERIFY.search(line)
        if m:
            run["verified"] = m.group(1)
        m = DONE.match(line)
        if m:
            run["result"] = "%s (%s)" % m.groups()
        m = COUNTERS.match(line)
        if m:
            run["counters"] = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
    return run


def label(k):
    return "4K %s QD%d" % ("read" if k[0] == "randread" else "write", k[1])


def pairs(runs):
    """Each run with a --compress setting other than off, beside the off run
    before it in the order given (the runs of a pair follow each other on
    one machine)."""
    out, base = [], None
    for r in runs:
        if r["setting"] == "off":
            base = r
        elif base is not None:
            out.append((base, r))
            base = None
    return out


def held(c):
    """What the daemon held at the end, from its counters."""
    if not (c.get("stored_pages", "").isdigit() and c.get("used_bytes", "").isdigit()
            and int(c["used_bytes"])):
        return "-"
    return "%s pages in %d MiB, ratio %.2f" % (
        c["stored_pages"], int(c["used_bytes"]) >> 20,
        int(c["stored_pages"]) * 4096 / int(c["used_bytes"]))


def section(runs, rels):
    """Markdown lines for the fio runs: one table row per run, then the
    differences within each pair."""
    if not runs:
        return []
    r0 = runs[0]
    kernel, vcpus, mem = r0.get("guest") or ("?", "?", "?")
    conns = next((f["conns"] for f in r0["rows"].values()), "?")
    md = ["### Through the kernel: fio in the GPU e2e guest", "",
          "- %s (driver %s), %s CPUs; the daemon on the GPU (%s backend, %s MiB export)"
          " with each `--compress` setting (tests/e2e/gpu-e2e.sh with `E2E_FIO=%s`);"
          " raw logs in tests/e2e/results/, named in the table."
          % (r0.get("gpu", "?"), r0.get("driver", "?"), r0.get("cpus", "?"),
             r0.get("backend", "?"), r0.get("export_mib", "?"), r0.get("seconds") or "?"),
          "- fio in the e2e guest (Linux %s, %s vCPUs, %s MiB, **emulated by TCG**) on"
          " /dev/nbd14, which the kernel's nbd driver connects to the daemon with %s"
          " connections over qemu's user network and a TCP-to-Unix-socket bridge:"
          " `--direct=1 --ioengine=io_uring --bs=4k`, %s s per row on a %s region"
          " filled first, data written with `--buffer_compress_percentage=60"
          " --refill_buffers` (lz4 stores it about 2.4:1). Latency is fio's total"
          " latency, submission to completion; each cell is IOPS, p50 / p99 us."
          % (kernel, vcpus, mem, conns, r0.get("seconds") or "?", r0.get("region", "?")),
          "- What these figures measure is mostly the emulated guest and its network:"
          " the daemon's own cost on the same GPU is the tens of microseconds of the"
          " tables above. They show what a page fault in such a guest waits for, and"
          " that compression changes no result (a crc32c check of every block of a"
          " 32 MiB random-write pass follows each run).", ""]
    keys = sorted({k for r in runs for k in r["rows"]}, key=lambda k: (k[1], k[0]))
    md += ["| log | `--compress` | run, commit |" + "".join(" %s |" % label(k) for k in keys)
           + " result | crc32c check | I/O / protocol errors | held at the end |",
           "|---|---|---|" + "---|" * len(keys) + "---|---|---|---|"]
    for r, rel in zip(runs, rels):
        cells = ""
        for k in keys:
            f = r["rows"].get(k)
            cells += " %d, %d / %d |" % (f["iops"], f["p50_us"], f["p99_us"]) if f else " - |"
        c = r["counters"]
        md.append("| `%s` | %s | %s, %s |%s %s | %s | %s / %s | %s |"
                  % (rel.rsplit("/", 1)[-1], r["setting"], r.get("date") or "?",
                     r.get("commit") or "?", cells, r["result"] or "did not finish",
                     "%s passed" % r["verified"] if r["verified"] else "did not pass",
                     c.get("io_errors", "?"), c.get("proto_errors", "?"), held(c)))
    md.append("")
    both = pairs(runs)
    for setting in dict.fromkeys(r["setting"] for _, r in both):
        ps = [(b, r) for b, r in both if r["setting"] == setting]
        d = ["%s %s us" % (label(k), ", ".join(
                 "%+d" % (r["rows"][k]["p50_us"] - b["rows"][k]["p50_us"]) for b, r in ps))
             for k in keys if all(k in b["rows"] and k in r["rows"] for b, r in ps)]
        md += ["- p50 with `--compress %s` against `off`, pair by pair (%d pair%s): %s."
               % (setting, len(ps), "" if len(ps) == 1 else "s", "; ".join(d)), ""]
    return md

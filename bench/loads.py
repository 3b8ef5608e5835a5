# SPDX-License-Identifier: GPL-2.0-or-later
"""The load generators: fio (--ioengine=nbd, i.e. libnbd), nbdtool (the
project's libnbd load tool, tests/tools/nbdtool.c) and nbdraw (its
raw-socket one, tests/tools/nbdraw.c). Each run returns one
dict with the same keys, whatever the tool."""
import json
import os
import re
import subprocess
import tempfile

# Latency CDF points; fio accepts at most 20.
CDF_PCTS = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.99]


class LoadError(RuntimeError):
    pass


def fio_cmd(uri, rw, bs, qd, conns, seconds, ramp, out, extra=()):
    cmd = ["fio", "--name=bench", "--ioengine=nbd", "--uri=" + uri, "--thread",
           "--rw=" + rw, "--bs=%d" % bs, "--iodepth=%d" % qd, "--numjobs=%d" % conns,
           "--group_reporting", "--lat_percentiles=1",
           "--percentile_list=" + ":".join("%g" % p for p in CDF_PCTS),
           "--output-format=json", "--output=" + out]
    if seconds:
        cmd += ["--time_based", "--runtime=%d" % seconds]
        if ramp:
            cmd += ["--ramp_time=%d" % ramp]
    return cmd + list(extra)


def run_fio(uri, rw, bs, qd, conns, seconds, ramp=1, extra=()):
    """One fio job group; one libnbd connection per job (numjobs = conns)."""
    fd, out = tempfile.mkstemp(prefix="vs-fio-", suffix=".json")
    os.close(fd)
    try:
        p = subprocess.run(fio_cmd(uri, rw, bs, qd, conns, seconds, ramp, out, extra),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=seconds + ramp + 120)
        with open(out) as f:
            text = f.read()
    finally:
        os.unlink(out)
    # fio's nbd engine prints to the output file too; the JSON starts at '{'.
    start = text.find("{")
    if p.returncode or start < 0:
        raise LoadError("fio %s failed (%d): %s %s" % (rw, p.returncode, p.stdout[-500:], text[-500:]))
    job = json.loads(text[start:])["jobs"][0]
    d = job["write"] if "write" in rw else job["read"]
    pct = d["lat_ns"].get("percentile", {})

    def at(p):
        v = pct.get("%f" % p)
        return v / 1000.0 if v is not None else float("nan")
    return {
        "iops": d["iops"],
        "mibs": d["bw_bytes"] / 1048576.0,
        "p50_us": at(50), "p99_us": at(99), "p999_us": at(99.9),
        "errors": job.get("error", 0),
        "cdf": [(p, at(p)) for p in CDF_PCTS],
    }


_NBDRAW_RE = re.compile(r"iops=(\S+) MBps=(\S+) p50_us=(\S+) p99_us=(\S+) p999_us=(\S+) errors=(\d+)")


def _run_standard(name, cmd, regex, sock, rw, bs, qd, conns, seconds, gap_us=0):
    """nbdraw and nbdtool take the same load flags (only nbdraw has -i, the
    pause after each reply); returns the figures the tool's regex finds in
    its output."""
    cmd = cmd + ["-s", sock, "-c", str(conns), "-q", str(qd), "-b", str(bs),
                 "-t", str(seconds)]
    if gap_us:
        cmd += ["-i", str(gap_us)]
    if "write" in rw:
        cmd += ["-w", "100"]
    if not rw.startswith("rand"):
        cmd += ["-S"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=seconds + 120)
    m = regex.search(p.stdout)
    if not m:
        raise LoadError("%s failed (%d): %s" % (name, p.returncode, p.stdout[-500:]))
    return m.groups()


def run_nbdraw(tool, sock, rw, bs, qd, conns, seconds, gap_us=0):
    iops, mbps, p50, p99, p999, errors = _run_standard(
        "nbdraw", [tool], _NBDRAW_RE, sock, rw, bs, qd, conns, seconds, gap_us)
    return {"iops": float(iops), "mibs": float(mbps) * 1e6 / 1048576.0,
            "p50_us": float(p50), "p99_us": float(p99), "p999_us": float(p999),
            "errors": int(errors), "cdf": []}


_NBDTOOL_RE = re.compile(r"IOPS (\S+)\s+MiB/s (\S+)\s+MB/s \S+\s+lat p50 (\S+) us p99 (\S+) us "
                         r"p999 (\S+) us.*errors (\d+)\s+mismatches (\d+)")


def run_nbdtool(tool, sock, rw, bs, qd, conns, seconds):
    iops, mibs, p50, p99, p999, errors, mism = _run_standard(
        "nbdtool", [tool, "-Q"], _NBDTOOL_RE, sock, rw, bs, qd, conns, seconds)
    return {"iops": float(iops), "mibs": float(mibs), "p50_us": float(p50),
            "p99_us": float(p99), "p999_us": float(p999),
            "errors": int(errors) + int(mism), "cdf": []}


def prefill(uri, size):
    """Writes the whole export once with fio's random (non-zero) buffers, so
    that read rows measure real copies: vram-swapd answers never-written
    pages from its page map without touching the backend."""
    run_fio(uri, "write", 1 << 20, 8, 1, 0, 0, extra=["--size=%d" % size])

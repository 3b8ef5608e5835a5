#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/report.py on hand-made results: ratios, medians across rounds and
the marking of missed targets are computed as documented."""
import csv
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compresslog  # noqa: E402
import fiolog  # noqa: E402
import gpulog  # noqa: E402
import run  # noqa: E402

GPU_LOG = """commit: 1234abc
date: 2026-12-03 14:00 UTC
gpu: NVIDIA H200, 143771 MiB, 0 MiB, 580.159.04, 5, 16
cpus: 16
== fault: more than the VRAM, back-off by 32G
vram-swapd: serving 110592 MiB of NVIDIA H200 in 1 chunk(s) (exports 'vram-swap.0'...) on /tmp/x
######## --backend cuda --size 8G
== integrity (nbdtool): whole export filled, 10 s mixed load, read back, 8 connections
nbdtool: verified 1024 MiB written and read back
IOPS 289367  MiB/s 18085.4  MB/s 18964.0  lat p50 430.7 us  ops 3033976  errors 0  mismatches 0
== 4K QD1 read
conns=1 qd=1 bs=4096 write%=0 rand iops=44711 MBps=183.1 p50_us=21.9 p99_us=32.5 p999_us=73.1 errors=0
== integrity row
conns=4 qd=8 bs=4096 write%=0 rand verify iops=700000 MBps=2867.2 p50_us=42.0 p99_us=66.0 p999_us=120.0 errors=2
daemon exit 0
vram-swapd: serving 8192 MiB of NVIDIA H200 in 8 chunk(s) (exports 'vram-swap.0'...) on /tmp/s
######## --backend host --size 8G
== 4K QD1 read
conns=1 qd=1 bs=4096 write%=0 rand iops=90000 MBps=368.6 p50_us=10.5 p99_us=20.0 p999_us=30.0 errors=0
######## sporadic 4K rows, --backend cuda and --backend host side by side
== 4K read, one every 20 ms, cuda
conns=1 qd=1 bs=4096 write%=0 rand iops=50 MBps=0.2 p50_us=110.0 p99_us=140.0 p999_us=150.0 errors=0
== 4K read, one every 20 ms, host
conns=1 qd=1 bs=4096 write%=0 rand iops=50 MBps=0.2 p50_us=60.0 p99_us=80.0 p999_us=90.0 errors=0
"""


def write(d, rows):
    with open(os.path.join(d, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, run.FIELDS)
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(d, "env.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerows([["key", "value"], ["servers", "vs-host nbdkit"], ["export_bytes", "1048576"],
                     ["seconds_per_row", "1"], ["rounds", "3"]])


def m(rnd, row, server, iops, p99=10.0):
    r = dict(row, round=rnd, server=server, seconds=1, iops=iops, mibs=iops * 4 / 1024,
             p50_us=p99 / 2, p99_us=p99, p999_us=p99 * 2, errors=0,
             srv_cpu_us_per_op=1.5)
    return r


class ReportTest(unittest.TestCase):
    def test_ratios_medians_and_misses(self):
        qd1 = run.row("fio", "randread", 4096, 1, 1)
        c2 = run.row("fio", "randwrite", 4096, 32, 2)
        rows = []
        # Medians: vs-host 200/210/900 -> 210, nbdkit 100; ratio 2.10x.
        for i, v in enumerate((200, 900, 210)):
            rows.append(m(i, qd1, "vs-host", v, p99=50.0))
            rows.append(m(i, qd1, "nbdkit", 100, p99=40.0))
        # 1.40x on a row whose target is 1.5x: a miss.
        rows += [m(0, c2, "vs-host", 140), m(0, c2, "nbdkit", 100)]
        with tempfile.TemporaryDirectory() as d:
            write(d, rows)
            out = os.path.join(d, "R.md")
            subprocess.run([sys.executable, os.path.join(HERE, "report.py"), d, out], check=True)
            md = open(out).read()
        lines = md.splitlines()

        def line(prefix):
            hits = [l for l in lines if l.startswith(prefix)]
            self.assertTrue(hits, prefix)
            return hits[0]
        self.assertIn("| 210 | 100 | 2.10x |", line("| 4 KiB random read, QD1 x 1 conn | IOPS"))
        self.assertIn("1.25x **(miss)**", line("| 4 KiB random read, QD1 x 1 conn | p99 us"))
        self.assertIn("1.40x **(miss)**", line("| 4 KiB random write, QD32 x 2 conn | IOPS"))
        self.assertIn("&ge; 1.5x", line("| 4 KiB random write, QD32 x 2 conn | IOPS"))
        self.assertRegex(md, r"Target misses in this run: .*QD1 x 1 conn p99 us: 1\.25x")

    def test_gpu_log_is_read_into_the_leading_section(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "gpu.log")
            with open(log, "w") as f:
                f.write(GPU_LOG)
            g = gpulog.parse(log)
            write(d, [m(0, run.row("fio", "randread", 4096, 1, 1), "vs-host", 100),
                      m(0, run.row("fio", "randread", 4096, 1, 1), "nbdkit", 100)])
            out = os.path.join(d, "R.md")
            subprocess.run([sys.executable, os.path.join(HERE, "report.py"), d, out, "--gpu", log],
                           check=True)
            md = open(out).read()
        self.assertEqual(g["env"]["export"], "a 8 GiB tier in 8 chunks")
        self.assertEqual([n for n, _ in g["rows"]],
                         ["4K QD1 read", "integrity row", "4K read, one every 20 ms"])
        self.assertEqual(g["integrity"], {"cuda": (289367, 0, 0)})
        # The GPU leads: before the 2-CPU conditions.
        self.assertLess(md.index("## On a real GPU: NVIDIA H200 (the product)"),
                        md.index("## Conditions"))
        self.assertIn("at commit 1234abc", md)
        self.assertIn("chunk 0 (1024 MiB) of a 8 GiB tier in 8 chunks", md)
        self.assertIn("NVIDIA H200 (143771 MiB, driver 580.159.04, PCIe gen 5 x16); 16 CPUs", md)
        self.assertIn("| 4K QD1 read | 44711 | 183.1 | 21.9 | 32.5 | 90000 | 368.6 | 10.5 | 20.0 |", md)
        self.assertIn("| 4K read, one every 20 ms | 50 | 0.2 | 110.0 | 140.0 | 50 | 0.2 | 60.0 | 80.0 |", md)
        self.assertIn("| integrity row | 700000 | 2867.2 | 42.0 | 66.0 | - | - | - | - |", md)
        self.assertIn("Errors reported by the load tool on these rows: 2.", md)

    def test_compression_logs_are_read_into_their_section(self):
        with tempfile.TemporaryDirectory() as d:
            log, zr = os.path.join(d, "c.log"), os.path.join(d, "z.log")
            with open(log, "w") as f:
                f.write(COMPRESS_LOG)
            with open(zr, "w") as f:
                f.write(ZRAM_LOG)
            write(d, [m(0, run.row("fio", "randread", 4096, 1, 1), "vs-host", 100),
                      m(0, run.row("fio", "randread", 4096, 1, 1), "nbdkit", 100)])
            out = os.path.join(d, "R.md")
            subprocess.run([sys.executable, os.path.join(HERE, "report.py"), d, out,
                            "--compress", log, "--zram", zr], check=True)
            md = open(out).read()
            self.assertTrue(os.path.exists(os.path.join(d, "plots", "ratio-vs-zram.png")))
            g = compresslog.parse_gpu(log)
        self.assertEqual(g["settings"], ["off", "lz4"])
        self.assertEqual(g["rows"]["4K QD1 read"]["lz4"]["cpu_us"], 21.81)
        self.assertEqual(g["held"]["lz4"], (1073741824, 398228672, 262144, 0, 390171893,
                                            2147483648))
        self.assertIn("| 4K QD1 read | 50087 | 19.2 | 19.9 | 45744 | 21.2 | 21.8 |", md)
        self.assertIn("`--compress lz4`: 262144 pages stored in 398228672 bytes of VRAM"
                      " (390171893 compressed bytes), ratio 2.70", md)
        self.assertIn("| python | lz4 | 2.85 | 2.72 | 6144 | 118 / 118 | 8633091 / 8633306 |"
                      " 8819200 / 9248768 |", md)
        self.assertIn("![ratio against zram](plots/ratio-vs-zram.png)", md)
        self.assertIn("z.log`, run 2026-12-05 at commit 31fa9b9; `make e2e` checks each.", md)

    def test_fio_logs_are_read_into_their_section(self):
        with tempfile.TemporaryDirectory() as d:
            logs = []
            for alg, iops, p50 in (("off", 1413, 634), ("lz4", 718, 1073)):
                logs.append(os.path.join(d, alg + ".log"))
                with open(logs[-1], "w") as f:
                    f.write(FIO_LOG % (alg, iops, p50, alg))
            write(d, [m(0, run.row("fio", "randread", 4096, 1, 1), "vs-host", 100),
                      m(0, run.row("fio", "randread", 4096, 1, 1), "nbdkit", 100)])
            out = os.path.join(d, "R.md")
            subprocess.run([sys.executable, os.path.join(HERE, "report.py"), d, out]
                           + [a for p in logs for a in ("--fio", p)], check=True)
            md = open(out).read()
            r = fiolog.parse(logs[1])
        self.assertEqual((r["setting"], r["commit"], r["date"], r["cpus"]),
                         ("lz4", "8e1b0af", "2026-12-04", 16))
        self.assertEqual(r["rows"][("randread", 1)], {"iops": 718, "p50_us": 1073,
                                                       "p99_us": 1220, "conns": 4})
        self.assertIn("| `off.log` | off | 2026-12-04, 8e1b0af | 1413, 634 / 1220 |"
                      " 2480, 12386 / 22937 | PASS (22 steps, 265 s) | 32M passed |"
                      " 0 / 0 | 207179 pages in 759 MiB, ratio 1.07 |", md)
        self.assertIn("| `lz4.log` | lz4 | 2026-12-04, 8e1b0af | 718, 1073 / 1220 |", md)
        self.assertIn("p50 with `--compress lz4` against `off`, pair by pair (1 pair):"
                      " 4K read QD1 +439 us; 4K write QD32 +0 us.", md)
        self.assertIn("Linux 6.1.0-57-cloud-amd64, 4 vCPUs, 343 MiB", md)
        self.assertIn("(cuda backend, 2048 MiB export)", md)
        self.assertIn("`E2E_FIO=5`", md)
        self.assertIn("5 s per row on a 128M region", md)


FIO_LOG = """# make e2e-gpu-bundle; E2E_ARGS='--compress %s' E2E_FIO=5 (2026-12-04, commit 8e1b0af; TCG)
gpu-e2e: Linux 6.18.44; 16 CPUs; KVM: present
NVIDIA H200, 580.159.04, 143771 MiB, 0 MiB
e2e: host daemon 1331 serving: backend=cuda device=NVIDIA H200 size_bytes=2147483648
[5s] E2E: INFO mode=remote kernel=6.1.0-57-cloud-amd64 cpus=4 MemTotal=343MiB
[12s] E2E: INFO fio(fill,remote): 128M written, 32 IOPS, p50 113770 us, p99 267386 us
[17s] E2E: PASS fio(randread,QD1,remote): %d IOPS, p50 %d us, p99 1220 us (4 connections)
[33s] E2E: PASS fio(randwrite,QD32,remote): 2480 IOPS, p50 12386 us, p99 22937 us (4 connections)
[42s] E2E: PASS fio-verify(remote): 32M written at random and read back, every crc32c right
e2e: host daemon counters: used_bytes=796659712 stored_pages=207179 same_pages=12682 compress=%s io_errors=0 proto_errors=0
e2e: PASS (remote, 22 steps, 265 s)
"""

COMPRESS_LOG = """commit: 52233df
gpu: NVIDIA H200, 143771 MiB, 580.159.04
cpus: 16
data: python image
######## --compress off
== 4K QD1 read
conns=1 qd=1 bs=4096 write%=0 rand iops=50087 MBps=205.2 p50_us=19.2 p99_us=31.2 p999_us=84.8 errors=0
cpu_us_per_request=19.92
== held: chunk.0=0 1073741824 1073741824 262144 0 0 1073741824 1073741824 vram-swap.0
######## --compress lz4
== 4K QD1 read
conns=1 qd=1 bs=4096 write%=0 rand iops=45744 MBps=187.4 p50_us=21.2 p99_us=33.5 p999_us=119.2 errors=0
cpu_us_per_request=21.81
== held: chunk.0=0 1073741824 398228672 262144 0 0 390171893 2147483648 vram-swap.0
"""

ZRAM_LOG = ("# make e2e (2026-12-05, commit 31fa9b9; Linux 6.1 guest)\n"
            "E2E: PASS ratio(python,lz4): vram-swapd 2.85 (pages 6144, same 118, compr 8633091,"
            " held 8819200), zram 2.72 (orig 25165824, compr 8633306, mem_used 9248768,"
            " same 118)\n")


if __name__ == "__main__":
    unittest.main()

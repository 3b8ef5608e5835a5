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
import run  # noqa: E402


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


if __name__ == "__main__":
    unittest.main()

# SPDX-License-Identifier: GPL-2.0-or-later
"""The reserve policy and several GPUs on the fake libcuda: chunks spread
over two GPUs, another process's use (FAKECUDA_OTHERS) releasing chunks on
its GPU only, growing back after the delay, never while attached, battery,
and the start-up refusals. tests/unit/test_policy.c covers the arithmetic
(never below zero, the cap) on numbers no fake GPU could show (unknown GPU, a GPU named twice, a reserve
larger than the GPU).

Run: make check-cuda   (needs VS_DAEMON, VS_FAKECUDA_DIR)
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nbd"))
sys.path.insert(0, HERE)
os.environ["VS_TEST_BACKEND"] = "cuda"
import nbd  # noqa: E402
from daemon import Daemon  # noqa: E402
from test_cuda import DAEMON, fake_env, run_daemon  # noqa: E402

MiB = 1 << 20


def ctl(d, cmd):
    return subprocess.run([DAEMON, "--socket", d.sock, "--ctl", cmd],
                          capture_output=True, text=True, timeout=30)


def targets(d):
    """{gpu: (chunks, target)} from `target`."""
    out = ctl(d, "target").stdout.split("\n")
    return {int(r.split()[1]): (int(r.split()[3]), int(r.split()[5]))
            for r in out if r.startswith("gpu ")}


def on_gpu(d, gpu):
    """Chunk numbers on one GPU, from `chunks`."""
    rows = [r.split() for r in ctl(d, "chunks").stdout.splitlines()]
    return [int(r[1]) for r in rows if int(r[3]) == gpu]


def until(cond, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    return cond()


class TwoGpus(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.others = os.path.join(self.tmp.name, "others")
        self.set_others(0, 0)
        self.sysfs = os.path.join(self.tmp.name, "sys")
        self.ac = os.path.join(self.sysfs, "class", "power_supply", "AC")
        os.makedirs(self.ac)
        with open(os.path.join(self.ac, "type"), "w") as f:
            f.write("Mains\n")
        self.set_ac(1)
        env = fake_env(FAKECUDA_DEVICES=2, FAKECUDA_MEM=1 << 30, FAKECUDA_OTHERS=self.others)
        env["VRAM_SWAP_SYSFS"] = self.sysfs
        self.d = Daemon(size="1G", env=env,
                        args=["--device", "0,1", "--chunk", "64M", "--reserve", "128M",
                              "--grow-delay", "2", "--on-battery", "release"])

    def tearDown(self):
        self.d.stop()
        self.tmp.cleanup()

    def set_others(self, g0, g1):
        with open(self.others + ".tmp", "w") as f:
            f.write("%d\n%d\n" % (g0, g1))
        os.rename(self.others + ".tmp", self.others)

    def set_ac(self, online):
        with open(os.path.join(self.ac, "online"), "w") as f:
            f.write("%d\n" % online)

    def test_spread_release_grow_back(self):
        # 1 GiB in all: 16 chunks, 8 per GPU.
        self.assertEqual(targets(self.d), {0: (8, 8), 1: (8, 8)})
        st = self.d.status_dict()
        self.assertEqual(st["chunks"], "16")
        self.assertEqual(st["gpus"], "2")
        self.assertEqual(st["gpu.1"].split()[4:6], ["8", "8"])

        # A process takes 450 MiB on GPU 0: 62 MiB stay free, under the
        # 128 MiB reserve; room for us is 1024 - 450 - 128 = 446 MiB: 6
        # chunks. GPU 1, with room to spare, is asked to make up for them
        # (VRAM_SWAP_SIZE is the total).
        self.set_others(450 * MiB, 0)
        self.assertEqual(until(lambda: targets(self.d)[0] == (8, 6)), True)
        self.assertEqual(targets(self.d)[1], (8, 10))

        # Only the kernel side frees; an attached chunk is refused.
        mine = on_gpu(self.d, 0)
        self.assertEqual(len(mine), 8)
        h = nbd.NBD()
        h.set_export_name("vram-swap.%d" % mine[0])
        h.connect_unix(self.d.sock)
        out = ctl(self.d, "free %d" % mine[0])
        self.assertEqual(out.returncode, 1)
        self.assertIn("attached", out.stderr)
        for idx in mine[-2:]:
            self.assertEqual(ctl(self.d, "free %d" % idx).returncode, 0)
        self.assertEqual(until(lambda: targets(self.d)[0] == (6, 6)), True)

        # The process ends: free is high again, but growing waits for the
        # 2 s delay.
        self.set_others(0, 0)
        time.sleep(1.2)
        self.assertEqual(targets(self.d)[0], (6, 6))
        self.assertEqual(until(lambda: targets(self.d)[0] == (6, 8), 6), True)
        self.assertEqual(targets(self.d)[1], (8, 8))
        h.shutdown()

    def test_battery(self):
        self.set_ac(0)
        self.assertEqual(until(lambda: targets(self.d) == {0: (8, 0), 1: (8, 0)}), True)
        self.assertIn("battery release", ctl(self.d, "target").stdout)
        self.set_ac(1)
        self.assertEqual(until(lambda: targets(self.d) == {0: (8, 8), 1: (8, 8)}, 8), True)

    def test_add_on_a_gpu(self):
        idx = on_gpu(self.d, 1)[-1]
        self.assertEqual(ctl(self.d, "free %d" % idx).returncode, 0)
        out = ctl(self.d, "add 1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"^chunk %d gpu 1 size %d " % (idx, 64 * MiB))
        out = ctl(self.d, "gpus")
        self.assertRegex(out.stdout, r"gpu 1 free \d+ total %d ours %d reserve %d chunks 8 "
                         % (1 << 30, 512 * MiB, 128 * MiB))


class Refusals(unittest.TestCase):
    def test_unknown_gpu_in_list(self):
        rc, out = run_daemon(["--device", "0,5"], FAKECUDA_DEVICES=2)
        self.assertEqual(rc, 1)
        self.assertIn("5", out)
        self.assertNotIn("serving", out)

    def test_same_gpu_twice(self):
        rc, out = run_daemon(["--device", "0,GPU-f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfe00"],
                             FAKECUDA_DEVICES=2)
        self.assertEqual(rc, 2, out)
        self.assertIn("are the same GPU", out)

    def test_reserve_larger_than_gpu(self):
        rc, out = run_daemon(["--reserve", "2G"])
        self.assertEqual(rc, 2, out)
        self.assertIn("invalid VRAM_SWAP_RESERVE: it is more than the 1.00 GiB of VRAM on GPU 0",
                      out)

    def test_all(self):
        env = fake_env(FAKECUDA_DEVICES=3)
        d = Daemon(size="128M", env=env, args=["--device", "all", "--chunk", "64M"])
        try:
            self.assertEqual(d.status_dict()["gpus"], "3")
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()

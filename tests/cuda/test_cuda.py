# SPDX-License-Identifier: GPL-2.0-or-later
"""The cuda backend on the fake libcuda (tests/fakecuda): start-up failure
messages and exit codes, GPU selection, sizing and back-off, and I/O faults
as an NBD client (python3-libnbd) sees them, with the log line each writes.
The fake stands in for a GPU this machine does not have; docs/cuda.md has
the same behaviour measured on a real H100/H200.

Run: make check-cuda   (needs VS_DAEMON, VS_FAKECUDA_DIR, VS_BETEST, VS_NBDTOOL)
"""
import os
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nbd"))
os.environ["VS_TEST_BACKEND"] = "cuda"
import nbd  # noqa: E402  (python3-libnbd)
import rawnbd  # noqa: E402
from daemon import Daemon  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
DAEMON = os.environ.get("VS_DAEMON", os.path.join(ROOT, "build", "vram-swapd"))
FAKE = os.environ.get("VS_FAKECUDA_DIR", os.path.join(ROOT, "build", "fakecuda"))
BETEST = os.environ.get("VS_BETEST", os.path.join(ROOT, "build", "betest"))
NBDTOOL = os.environ.get("VS_NBDTOOL", os.path.join(ROOT, "build", "nbdtool"))
MiB = 1 << 20
EIO = 5
# Copies and synchronisations the daemon makes at start-up (the batched-copy
# probe: one batch of two copies and one synchronisation); fault counters
# in the fake count from process start.
START_COPIES, START_SYNCS = 2, 1


def page_data(b, n):
    """n bytes of the value b, except that each 4 KiB page ends in its
    complement: not one word repeated, so it goes to the GPU (a
    same-filled page is kept as its word and never copied)."""
    return (bytes([b]) * 4095 + bytes([b ^ 0xFF])) * (n // 4096)


def errno_of(exc):
    e = exc.errno
    if isinstance(e, str):
        import errno as errmod
        return getattr(errmod, e)
    return e


def wait_log(d, text, timeout=10):
    """The daemon's logger thread writes behind the I/O: wait for a line."""
    end = time.time() + timeout
    while time.time() < end:
        log = d.logtext()
        if text in log:
            return log
        time.sleep(0.02)
    raise AssertionError("%r not logged:\n%s" % (text, d.logtext()))


def fake_env(**kw):
    env = {"LD_LIBRARY_PATH": FAKE}
    env.update({k: str(v) for k, v in kw.items()})
    return env


def run_daemon(args, **fake):
    """Runs a daemon expected to fail at start; returns (rc, output)."""
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o700)
        env = dict(os.environ)
        env.update(fake_env(**fake))
        p = subprocess.run([DAEMON, "--backend", "cuda", "--socket", d + "/s",
                            "--status-file", ""] + args, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in p.stdout:
                raise AssertionError("sanitizer report from vram-swapd:\n" + p.stdout)
        return p.returncode, p.stdout


class Startup(unittest.TestCase):
    """Every start-up failure: exit 1 and one line naming cause and fix."""

    def fails(self, args, want, **fake):
        rc, out = run_daemon(["--size", "64M", "--min-size", "4M"] + args, **fake)
        self.assertEqual(rc, 1, out)
        for w in want:
            self.assertIn(w, out)
        return out

    def test_library_missing(self):
        have = subprocess.run(["sh", "-c", "ldconfig -p | grep -q 'libcuda.so.1 '"])
        if have.returncode == 0:
            self.skipTest("a real libcuda.so.1 is installed on this machine")
        with tempfile.TemporaryDirectory() as empty:
            rc, out = run_daemon(["--size", "64M"], LD_LIBRARY_PATH=empty)
        self.assertEqual(rc, 1, out)
        self.assertIn("cuda: cannot load libcuda.so.1 (libcuda.so.1: cannot open "
                      "shared object file", out)
        self.assertIn("or run with --backend host", out)

    def test_stub_library(self):
        self.fails([], ["cuda: cuInit failed: CUDA_ERROR_STUB_LIBRARY (34): ",
                        "libcuda.so.1 is the CUDA toolkit's stub library",
                        "take the toolkit's stubs directory out of LD_LIBRARY_PATH"],
                   FAKECUDA_INIT=34)

    def test_no_device(self):
        self.fails([], ["cuda: cuInit failed: CUDA_ERROR_NO_DEVICE (100): no NVIDIA "
                        "GPU is visible"], FAKECUDA_INIT=100)

    def test_driver_mismatch(self):
        self.fails([], ["cuda: cuInit failed: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH (803):",
                        "are from different driver versions: reload the nvidia modules"],
                   FAKECUDA_INIT=803)

    def test_uvm_inaccessible(self):
        self.fails([], ["cuda: cuInit failed: CUDA_ERROR_UNKNOWN (999): "
                        "/dev/nvidia-uvm cannot be opened (No such file or "
                        "directory): load the nvidia-uvm module"],
                   FAKECUDA_INIT=999, FAKECUDA_UVM="missing",
                   LD_PRELOAD=os.path.join(FAKE, "libcuda.so.1"))

    def test_unknown_with_uvm_fine(self):
        self.fails([], ["CUDA_ERROR_UNKNOWN (999): the driver reported an unknown "
                        "error: look for NVRM/Xid lines"],
                   FAKECUDA_INIT=999, FAKECUDA_UVM="ok",
                   LD_PRELOAD=os.path.join(FAKE, "libcuda.so.1"))

    def test_device_unavailable(self):
        self.fails([], ["CUDA_ERROR_DEVICE_UNAVAILABLE (46): the GPU is busy in "
                        "exclusive-process or prohibited compute mode"],
                   FAKECUDA_INIT=46)

    def test_index_out_of_range(self):
        self.fails(["--device", "2"],
                   ["cuda: --device 2: no GPU with that index: 2 visible (0 Fake GPU 0 "
                    "(GPU-f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfe00, 0000:10:00.0); 1 Fake "
                    "GPU 1 (GPU-f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfe01, 0000:20:00.0))"],
                   FAKECUDA_DEVICES=2)

    def test_unknown_uuid(self):
        self.fails(["--device", "GPU-00000000-0000-0000-0000-000000000000"],
                   ["no visible GPU has that UUID"], FAKECUDA_DEVICES=2)

    def test_unknown_bus_id(self):
        self.fails(["--device", "0000:99:00.0"], ["no visible GPU has that PCI bus id"],
                   FAKECUDA_DEVICES=2)

    def test_not_a_device(self):
        """Not even the shape of a device name: the settings gate refuses it
        before the backend starts (exit 2, as for every bad setting)."""
        rc, out = run_daemon(["--size", "64M", "--device", "the-big-one"])
        self.assertEqual(rc, 2, out)
        self.assertIn("invalid --device 'the-big-one': expected all, or a GPU index (0), a UUID", out)

    def test_too_little_vram(self):
        """Back-off down to --min-size, then exit naming what is free and,
        through nvidia-smi, who holds it."""
        with tempfile.TemporaryDirectory() as bindir:
            smi = os.path.join(bindir, "nvidia-smi")
            with open(smi, "w") as f:
                f.write("#!/bin/sh\necho '4242, /usr/bin/python3, 900 MiB'\n")
            os.chmod(smi, stat.S_IRWXU)
            rc, out = run_daemon(["--size", "200M", "--min-size", "64M", "--step", "64M"],
                                 FAKECUDA_ALLOC_CAP=10 * MiB,
                                 PATH=bindir + ":" + os.environ["PATH"])
        self.assertEqual(rc, 1, out)
        self.assertIn("allocating 200 MiB of VRAM failed (CUDA_ERROR_OUT_OF_MEMORY, 2); "
                      "trying 136 MiB", out)
        self.assertIn("trying 72 MiB", out)
        self.assertIn("allocating 72 MiB of VRAM failed (CUDA_ERROR_OUT_OF_MEMORY, 2); "
                      "trying 64 MiB", out)
        self.assertIn("cuda: cannot allocate even --min-size 64 MiB of VRAM on GPU 0 "
                      "(CUDA_ERROR_OUT_OF_MEMORY, 2): 1023 MiB of 1.00 GiB free; held by "
                      "(pid, process, memory): 4242, /usr/bin/python3, 900 MiB", out)

    def test_chunks_at_start_below_minimum(self):
        # --min-size is the tier's: three chunks of 256 MiB are all a 1 GiB
        # GPU gives, less than the 1.5 GiB asked for as the least.
        rc, out = run_daemon(["--size", "2G", "--chunk", "256M", "--min-size", "1536M",
                              "--auto", "off"], FAKECUDA_MEM=1 << 30)
        self.assertEqual(rc, 1, out)
        self.assertIn("cuda: only 768 MiB of VRAM could be allocated at start (3 chunk(s)), "
                      "below --min-size 1.50 GiB: lower --min-size or free VRAM", out)
        self.assertNotIn("serving", out)

    def test_percent_below_minimum(self):
        self.fails(["--size", "1%", "--min-size", "64M"],
                   ["cuda: the size asked for (10 MiB) is below --min-size (64 MiB) "
                    "with 1023 MiB of VRAM free"])


class Selection(unittest.TestCase):
    """--device by index, UUID and PCI bus id (both spellings); sizing."""

    def pick(self, dev):
        d = Daemon(size="8M", args=["--device", dev], env=fake_env(FAKECUDA_DEVICES=3))
        try:
            return d.status_dict(), wait_log(d, "cuda: allocated")
        finally:
            d.stop()

    def test_by_index(self):
        st, log = self.pick("2")
        self.assertEqual(st["device"], "Fake GPU 2")
        self.assertEqual(st["bus_id"], "0000:30:00.0")
        self.assertIn("cuda: GPU 2: Fake GPU 2, GPU-f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfe02, "
                      "bus 0000:30:00.0, 1.00 GiB total, 1.00 GiB free; driver CUDA 13.0", log)

    def test_by_uuid(self):
        st, _ = self.pick("GPU-F0F1F2F3-F4F5-F6F7-F8F9-FAFBFCFDFE01")
        self.assertEqual(st["uuid"], "GPU-f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfe01")

    def test_by_bus_id_nvidia_smi_spelling(self):
        st, _ = self.pick("00000000:20:00.0")
        self.assertEqual(st["device"], "Fake GPU 1")

    def test_by_short_bus_id(self):
        st, _ = self.pick("30:00.0")
        self.assertEqual(st["device"], "Fake GPU 2")

    def test_backoff_serves_what_fits(self):
        d = Daemon(size="200M", args=["--step", "48M"],
                   env=fake_env(FAKECUDA_ALLOC_CAP=120 * MiB))
        try:
            log = wait_log(d, "cuda: allocated")
            self.assertIn("allocating 200 MiB of VRAM failed (CUDA_ERROR_OUT_OF_MEMORY, 2); "
                          "trying 152 MiB", log)
            self.assertIn("allocating 152 MiB of VRAM failed", log)
            self.assertIn("cuda: allocated 104 MiB of VRAM on GPU 0", log)
            h = nbd.NBD()
            h.connect_uri(d.uri)
            self.assertEqual(h.get_size(), 104 * MiB)
            h.shutdown()
        finally:
            d.stop()

    def test_percent_of_free(self):
        d = Daemon(size="50%", env=fake_env(FAKECUDA_MEM=512 * MiB))
        try:
            # 4 KiB of probe scratch is taken first: 50% of 511.99 MiB,
            # rounded down to 2 MiB.
            wait_log(d, "cuda: --size 50% of 511 MiB free VRAM on GPU 0 = 254 MiB")
            self.assertEqual(int(d.status_dict()["size_bytes"]), 254 * MiB)
        finally:
            d.stop()


class Faults(unittest.TestCase):
    """I/O faults: the NBD error a client sees and the line logged."""

    def start(self, **fake):
        self.d = Daemon(size="16M", env=fake_env(**fake))
        self.h = nbd.NBD()
        self.h.set_request_structured_replies(False)   # like the kernel
        self.h.connect_uri(self.d.uri)

    def tearDown(self):
        try:
            self.h.shutdown()
        except nbd.Error:
            pass
        self.d.stop()

    def expect_eio(self, fn, *a):
        with self.assertRaises(nbd.Error) as cm:
            fn(*a)
        self.assertEqual(errno_of(cm.exception), EIO)

    def batch(self, ops):
        """Sends every (kind, buf_or_len, off) at once, so that they reach
        the daemon together; returns the error of each (0 or errno)."""
        cookies = []
        for kind, b, off in ops:
            if kind == "w":
                cookies.append(self.h.aio_pwrite(b, off))
            else:
                cookies.append(self.h.aio_pread(b, off))
        errs = []
        for c in cookies:
            while True:
                try:
                    if self.h.aio_command_completed(c):
                        errs.append(0)
                        break
                except nbd.Error as e:
                    errs.append(errno_of(e))
                    break
                self.h.poll(-1)
        return errs

    def test_failed_write_copy_is_eio_and_only_that_one(self):
        self.start(FAKECUDA_BAD_OFFSET=MiB, FAKECUDA_BAD_DIR="write")
        data = [page_data(i + 1, 4096) for i in range(4)]
        offs = [0, MiB, 2 * MiB, 3 * MiB]
        errs = self.batch([("w", nbd.Buffer.from_bytearray(bytearray(b)), o)
                           for b, o in zip(data, offs)])
        self.assertEqual(errs, [0, EIO, 0, 0])
        for b, o in zip(data, offs):
            if o != MiB:
                self.assertEqual(self.h.pread(4096, o), b)
        wait_log(self.d, "cuda: write of 4096 bytes at offset 1048576 failed: "
                 "CUDA_ERROR_INVALID_VALUE (1); answered EIO")
        wait_log(self.d, "WRITE of 4096 bytes at offset 1048576 failed: answered EIO")
        self.assertIsNone(self.d.proc.poll())

    def test_failed_read_copy_is_eio(self):
        self.start(FAKECUDA_BAD_OFFSET=MiB + 8192, FAKECUDA_BAD_DIR="read",
                   FAKECUDA_FAIL_CODE=214)
        self.h.pwrite(page_data(0x55, 16384), MiB)
        self.expect_eio(self.h.pread, 16384, MiB)
        self.assertEqual(self.h.pread(8192, MiB), page_data(0x55, 8192))
        # the request is one 16 KiB segment: the failure names all of it
        wait_log(self.d, "cuda: read of 16384 bytes at offset 1048576 failed: "
                 "CUDA_ERROR_ECC_UNCORRECTABLE (214); answered EIO")
        log = wait_log(self.d, "READ of 16384 bytes at offset 1048576 failed: answered EIO")
        self.assertNotIn("is lost", log)   # the probe copy still works

    def test_failure_seen_at_synchronisation(self):
        """An asynchronous copy error surfaces at cuStreamSynchronize: the
        write must not be acknowledged."""
        self.start(FAKECUDA_BAD_OFFSET=MiB, FAKECUDA_BAD_AT="sync")
        self.expect_eio(self.h.pwrite, page_data(0x01, 4096), MiB)
        self.h.pwrite(page_data(0x02, 4096), 0)
        self.assertEqual(self.h.pread(4096, 0), page_data(0x02, 4096))
        wait_log(self.d, "cuda: a batch of 1 copies failed with CUDA_ERROR_INVALID_VALUE "
                 "(1); redoing them one at a time")

    def test_transient_sync_failure_is_retried(self):
        self.start(FAKECUDA_FAIL_SYNC=START_SYNCS + 1)
        self.h.pwrite(page_data(0x07, 8192), 0)
        self.assertEqual(self.h.pread(8192, 0), page_data(0x07, 8192))
        log = wait_log(self.d, "redoing them one at a time")
        self.assertNotIn("answered EIO", log)

    def test_lost_device(self):
        """A sticky context error: everything EIO from then on, said once,
        and the daemon keeps running."""
        self.start(FAKECUDA_STICKY=START_COPIES + 2)
        self.h.pwrite(page_data(0x09, 4096), 0)          # copy 3: fine
        self.expect_eio(self.h.pwrite, page_data(0x0a, 4096), 4096)   # copy 4: sticky
        self.expect_eio(self.h.pread, 4096, 0)
        self.expect_eio(self.h.pwrite, page_data(0x0b, 4096), 8192)
        self.expect_eio(self.h.flush)
        wait_log(self.d, "cuda: GPU 0 is lost")
        log = wait_log(self.d, "FLUSH of 0 bytes at offset 0 failed: answered EIO")
        self.assertEqual(log.count("cuda: GPU 0 is lost: CUDA_ERROR_ILLEGAL_ADDRESS (700)"),
                         1, log)
        self.assertIn("Answering every request with EIO from now on", log)
        self.assertIsNone(self.d.proc.poll())
        # never-written (zero-map) pages need no GPU and still read as zeros
        self.assertEqual(self.h.pread(4096, 12 * MiB), bytes(4096))

    def test_nth_copy_fails_once(self):
        self.start(FAKECUDA_FAIL_COPY=START_COPIES + 1)
        self.h.pwrite(page_data(0x0c, 4096), 0)
        self.assertEqual(self.h.pread(4096, 0), page_data(0x0c, 4096))
        wait_log(self.d, "redoing them one at a time")

    def test_a_header_alone_starts_no_keep_warm_copy(self):
        # Until its payload is in, a request has not come: had the worker
        # kept the copy path warm meanwhile, its copy would have taken the
        # one this fault is aimed at (so the test raced under load).
        self.start(FAKECUDA_FAIL_COPY=START_COPIES + 1)
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.d.sock)
            r = rawnbd.Raw(s)
            r.handshake()
            s.sendall(struct.pack(">IHHQQI", rawnbd.REQMAGIC, 0, rawnbd.CMD_WRITE, 7, 0, 4096))
            time.sleep(0.05)
            s.sendall(page_data(0x0d, 4096))
            err, cookie, _ = r.reply()
            self.assertEqual((err, cookie), (0, 7))
            wait_log(self.d, "redoing them one at a time")
        finally:
            s.close()


class Paths(unittest.TestCase):
    """Both copy paths (batched and one call per segment) and many threads."""

    def test_idle_worker_sleeps(self):
        # The worker keeps the copy path warm only for a bounded window
        # after a request; then a connected but silent client costs nothing.
        d = Daemon(size="16M", env=fake_env())
        h = nbd.NBD()
        h.set_request_structured_replies(False)
        try:
            h.connect_uri(d.uri)
            h.pwrite(page_data(0x33, 4096), 0)
            self.assertEqual(h.pread(4096, 0), page_data(0x33, 4096))
            time.sleep(1.5)

            def ticks():
                with open("/proc/%d/stat" % d.proc.pid) as f:
                    v = f.read().rsplit(")", 1)[1].split()
                return int(v[11]) + int(v[12])
            t0 = ticks()
            time.sleep(2)
            used = (ticks() - t0) / os.sysconf("SC_CLK_TCK")
            self.assertLess(used, 0.03, "%.3f s of CPU in 2 s idle" % used)
            self.assertEqual(h.pread(4096, 0), page_data(0x33, 4096))
            h.shutdown()
        finally:
            d.stop()

    def test_batch_refused_falls_back(self):
        d = Daemon(size="32M", env=fake_env(FAKECUDA_BATCH=0))
        try:
            wait_log(d, "cuda: cuMemcpyBatchAsync_v2 refused a test copy "
                     "(CUDA_ERROR_NOT_SUPPORTED, 801); one copy call per segment")
            out = subprocess.run([NBDTOOL, "-s", d.sock, "-c", "4", "-q", "8", "-t", "1",
                                  "-V", "-w", "50"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout)
            self.assertIn("errors 0  mismatches 0", out.stdout)
        finally:
            d.stop()

    def test_integrity_through_daemon(self):
        d = Daemon(size="64M", env=fake_env())
        try:
            wait_log(d, "batched copies with cuMemcpyBatchAsync_v2")
            out = subprocess.run([NBDTOOL, "-s", d.sock, "-c", "4", "-q", "16", "-t", "2",
                                  "-V", "-w", "30"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout)
            self.assertIn("verified 64 MiB written and read back", out.stdout)
            out = subprocess.run([NBDTOOL, "-s", d.sock, "-c", "2", "-q", "4", "-t", "1",
                                  "-V", "-b", "1048576", "-S", "-w", "50"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout)
        finally:
            d.stop()

    def test_backend_directly(self):
        """betest: scattered batches from 4 threads (the fake refuses copies
        from a thread without a current context), both copy paths."""
        for batch in ("1", "0"):
            env = dict(os.environ)
            env.update(fake_env(FAKECUDA_BATCH=batch))
            p = subprocess.run([BETEST, "-s", "64M", "-t", "4", "-T", "0.2"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertIn("wrote and verified 64 MiB from 4 threads", p.stdout)
            self.assertIn(", 0 errors", p.stdout)

    def test_nbdtool_counts_errors(self):
        """The integrity tool fails on an error reply."""
        d = Daemon(size="16M", env=fake_env(FAKECUDA_BAD_OFFSET=4 * MiB,
                                            FAKECUDA_BAD_DIR="read"))
        try:
            out = subprocess.run([NBDTOOL, "-s", d.sock, "-c", "1", "-q", "4", "-t", "1",
                                  "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=60)
            self.assertEqual(out.returncode, 1, out.stdout)
            self.assertIn("read of 4096 bytes at 4194304 failed: Input/output error",
                          out.stdout)
        finally:
            d.stop()

    def test_nbdtool_names_a_corrupt_block(self):
        """The integrity tool fails on silently wrong data and names the
        block: the fake flips a byte of every read of one block."""
        d = Daemon(size="16M", env=fake_env(FAKECUDA_CORRUPT_OFFSET=5 * MiB + 100))
        try:
            out = subprocess.run([NBDTOOL, "-s", d.sock, "-c", "2", "-q", "4", "-t", "1",
                                  "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=60)
            self.assertEqual(out.returncode, 1, out.stdout)
            self.assertIn("MISMATCH block at offset 5242880: expected generation", out.stdout)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()

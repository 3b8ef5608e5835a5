# SPDX-License-Identifier: GPL-2.0-or-later
"""Pages that outlive the daemon: a daemon killed with SIGKILL is started
again with the descriptors it handed over (FDSTORE=1) and serves the same
pages; one that cannot use what it was handed refuses, exit 4, serving
nothing. The keeper is vram-swap-holder, or this test itself playing
systemd's file descriptor store (to hand over wrong things on purpose)."""
import mmap
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbd  # noqa: E402
from daemon import BACKEND, DAEMON, EXTRA  # noqa: E402

# The fake driver's GPU without exportable memory: nothing outlives the daemon.
DURABLE = os.environ.get("FAKECUDA_VMM", "1") != "0" or BACKEND != "cuda"
HOLDER = os.environ.get("VS_HOLDER", os.path.join(os.path.dirname(DAEMON), "vram-swap-holder"))
MiB = 1 << 20
SIZE, CHUNK = 256 * MiB, 64 * MiB


def read_status(path):
    try:
        with open(path) as f:
            return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    except FileNotFoundError:
        return {}


def pattern(seed, n):
    """Pages that differ from each other and from zero."""
    return bytes((seed * 131 + i * 7 + (i >> 12)) & 0xff for i in range(n))


class Tier:
    """A directory with the daemon's socket and status file."""

    def __init__(self, extra=()):
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="vs-ho-")
        os.chmod(self.dir, 0o700)
        self.sock = os.path.join(self.dir, "s")
        self.status = os.path.join(self.dir, "status")
        self.log = os.path.join(self.dir, "log")

    def args(self):
        return [DAEMON, "--backend", BACKEND, "--size", str(SIZE), "--chunk", str(CHUNK),
                "--min-size", "4M", "--socket", self.sock, "--status-file", self.status,
                "--auto", "off"] + EXTRA + self.extra

    def wait_serving(self, other_than=None, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            st = read_status(self.status)
            if st.get("state") == "serving" and st.get("pid") != other_than:
                return st
            time.sleep(0.02)
        raise AssertionError("no daemon serving:\n" + self.logtext())

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def write(self, chunk, off, data):
        h = nbd.NBD()
        h.set_export_name("vram-swap.%d" % chunk)
        h.connect_unix(self.sock)
        h.pwrite(data, off)
        h.flush()
        h.shutdown()

    def read(self, chunk, off, n):
        h = nbd.NBD()
        h.set_export_name("vram-swap.%d" % chunk)
        h.connect_unix(self.sock)
        data = h.pread(n, off)
        h.shutdown()
        return data


class Keeper:
    """systemd's file descriptor store, as far as the daemon can tell."""

    def __init__(self, tier):
        self.tier = tier
        self.fds = {}
        self.name = "\0vs-test-keeper/%d/%f" % (os.getpid(), time.time())
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.name)
        self.s.settimeout(0.05)
        self.lock = threading.Lock()
        self.done = False
        # Read as a manager does, at once: a daemon must never wait on it.
        self.reader = threading.Thread(target=self.read_all, daemon=True)
        self.reader.start()

    def read_all(self):
        while not self.done:
            try:
                msg, fds, _, _ = socket.recv_fds(self.s, 4096, 16)
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.take(msg, fds)

    def start(self, fds=None, env=None):
        """Runs the daemon with fds (name -> fd) as LISTEN_FDS."""
        fds = dict(self.fds if fds is None else fds)
        names = list(fds)
        env = dict(os.environ, NOTIFY_SOCKET="@" + self.name[1:], FDSTORE="256", **(env or {}))
        if names:
            env.update(LISTEN_FDS=str(len(names)), LISTEN_FDNAMES=":".join(names))
        # Moved out of the way, then placed at 3, 4, ... by the shell, which
        # also sets LISTEN_PID to its own pid: the daemon's, once it execs.
        high = [os.dup2(fds[n], 300 + i) for i, n in enumerate(names)]
        moves = " ".join("%d<&%d %d<&-" % (3 + i, fd, fd) for i, fd in enumerate(high))
        cmd = ["/bin/bash", "-c", 'LISTEN_PID=$$ exec "$@" ' + moves, "sh"] + self.tier.args()
        log = open(self.tier.log, "a")
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                             pass_fds=high)
        for fd in high:
            os.close(fd)
        log.close()
        return p

    def take(self, msg, fds):
        """FDSTORE=1 keeps, FDSTOREREMOVE=1 lets go, by FDNAME."""
        fields = dict(line.split("=", 1) for line in msg.decode().split("\n") if "=" in line)
        name = fields.get("FDNAME", "stored")
        if fields.get("FDSTORE") == "1":
            for fd in fds:
                if name in self.fds:
                    os.close(self.fds[name])
                self.fds[name] = fd
        else:
            for fd in fds:
                os.close(fd)
        if fields.get("FDSTOREREMOVE") == "1" and name in self.fds:
            os.close(self.fds.pop(name))

    def names(self, settle=0.3):
        time.sleep(settle)
        with self.lock:
            return sorted(self.fds)

    def memfd(self, size):
        fd = os.memfd_create("wrong", os.MFD_ALLOW_SEALING)
        os.ftruncate(fd, size)
        return fd


class Base(unittest.TestCase):
    def setUp(self):
        self.tier = Tier()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def spawn(self, p):
        self.procs.append(p)
        return p

    def fill(self):
        """Data in every chunk, a zero page and a page of one word repeated
        (kept in the page map, not in memory) among it; returns what was
        written."""
        want = {}
        for c in range(SIZE // CHUNK):
            same = (0x5A00000000000001 + c).to_bytes(8, "little") * 512
            data = pattern(c, 64 * 1024) + bytes(4096) + same + pattern(c + 9, 8192)
            self.tier.write(c, CHUNK - len(data), data)
            want[c] = (CHUNK - len(data), data)
        return want

    def check(self, want):
        for c, (off, data) in want.items():
            self.assertEqual(self.tier.read(c, off, len(data)), data, "chunk %d" % c)


@unittest.skipUnless(DURABLE, "the GPU cannot export its memory")
class Handover(Base):
    def test_sigkill_under_the_holder_keeps_every_page(self):
        with open(self.tier.log, "w") as log:
            holder = self.spawn(subprocess.Popen([HOLDER, "--"] + self.tier.args(), stdout=log,
                                                 stderr=subprocess.STDOUT))
        st = self.tier.wait_serving()
        self.assertEqual(st["crash_safe"], "yes", st)
        want = self.fill()
        written = []
        for i in range(5):
            os.kill(int(st["pid"]), signal.SIGKILL)
            st = self.tier.wait_serving(other_than=st["pid"])
            self.check(want)
            for c, off, data in written:
                self.assertEqual(self.tier.read(c, off, len(data)), data)
            # Each incarnation changes some pages, which the next one must see.
            c, off, data = i % (SIZE // CHUNK), 4096 * i, pattern(100 + i, 4096 * 3)
            self.tier.write(c, off, data)
            written.append((c, off, data))
        self.assertIn("starting it again with 9 descriptors held", self.tier.logtext())
        self.assertIn("the pages an earlier daemon left, handed over", self.tier.logtext())
        # A clean stop lets go of everything: the holder exits with the daemon.
        os.kill(holder.pid, signal.SIGTERM)
        self.assertEqual(holder.wait(timeout=20), 0, self.tier.logtext())

    def ctl(self, cmd):
        return subprocess.run([DAEMON, "--socket", self.tier.sock, "--ctl", cmd],
                              capture_output=True, text=True, timeout=20)

    def test_handover_under_the_holder_starts_the_next_daemon_on_the_same_pages(self):
        # The holder as systemd runs it: its own manager's socket gets the
        # daemon's readiness and status, never its STOPPING=1.
        up = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        up.bind("\0vs-test-manager/%d/%f" % (os.getpid(), time.time()))
        up.settimeout(0.05)
        got, done = [], threading.Event()

        def manager():   # reads as systemd does, at once
            while not done.is_set():
                try:
                    got.extend(up.recv(4096).decode().splitlines())
                except socket.timeout:
                    pass

        reader = threading.Thread(target=manager, daemon=True)
        reader.start()
        env = dict(os.environ, NOTIFY_SOCKET="@" + up.getsockname()[1:].decode())
        with open(self.tier.log, "w") as log:
            holder = self.spawn(subprocess.Popen([HOLDER, "--argv0", "@vram-swapd", "--"] +
                                                 self.tier.args(), stdout=log,
                                                 stderr=subprocess.STDOUT, env=env))
        st = self.tier.wait_serving()
        with open("/proc/%s/cmdline" % st["pid"], "rb") as f:
            self.assertEqual(f.read().split(b"\0")[0], b"@vram-swapd")
        want = self.fill()
        # A client attached throughout, as the kernel is: the handover does
        # not wait for it to leave.
        h = nbd.NBD()
        h.set_export_name("vram-swap.1")
        h.connect_unix(self.tier.sock)
        r = self.ctl("handover")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        st2 = self.tier.wait_serving(other_than=st["pid"])
        self.assertEqual(holder.poll(), None, "the holder must stay")
        self.check(want)
        self.assertIn("handing over: exiting with 1 client(s) attached",
                      self.tier.logtext())
        self.assertIn("handed its pages over: starting %s with the 9 descriptors held" % DAEMON,
                      self.tier.logtext())
        self.assertIn("the pages an earlier daemon left, handed over", self.tier.logtext())
        with self.assertRaises(nbd.Error):
            h.pread(4096, 0)
        # The next one hands over too, and a clean stop still lets go of all.
        self.assertEqual(self.ctl("handover").returncode, 0)
        self.tier.wait_serving(other_than=st2["pid"])
        self.check(want)
        self.assertEqual(self.ctl("handover now").stderr,
                         "vram-swapd: handover takes no argument, not 'now'\n")
        os.kill(holder.pid, signal.SIGTERM)
        self.assertEqual(holder.wait(timeout=20), 0, self.tier.logtext())
        time.sleep(0.2)
        done.set()
        reader.join()
        self.assertEqual(got.count("READY=1"), 3, got)
        self.assertTrue(any(m.startswith("STATUS=") for m in got), got)
        self.assertNotIn("STOPPING=1", got)
        self.assertFalse([m for m in got if m.startswith("FD")], got)
        up.close()

    def handed_over(self):
        """A daemon run by the keeper, its data, and the daemon killed."""
        k = Keeper(self.tier)
        p = self.spawn(k.start())
        st = self.tier.wait_serving()
        want = self.fill()
        self.assertEqual(k.names(), ["chunk.0", "chunk.1", "chunk.2", "chunk.3",
                                     "map.0", "map.1", "map.2", "map.3", "tier"])
        p.kill()
        p.wait()
        # What a killed daemon leaves behind, which the next one replaces.
        os.unlink(self.tier.sock)
        os.unlink(self.tier.status)
        return k, st, want

    def refused(self, k, fds, text, env=None):
        p = self.spawn(k.start(fds, env))
        self.assertEqual(p.wait(timeout=20), 4, self.tier.logtext())
        self.assertIn("refusing to serve the pages handed over by the previous daemon: " + text,
                      self.tier.logtext())
        self.assertFalse(os.path.exists(self.tier.sock), "a refusing daemon must not listen")

    def test_restart_serves_the_same_pages_and_frees_give_them_up(self):
        k, st, want = self.handed_over()
        self.spawn(k.start())
        self.tier.wait_serving(other_than=st["pid"])
        self.check(want)
        r = subprocess.run([DAEMON, "--socket", self.tier.sock, "--ctl", "free 2"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        names = k.names()
        self.assertNotIn("chunk.2", names)
        self.assertNotIn("map.2", names)
        self.assertIn("chunk.3", names)

    def test_compressed_pages_are_served_again_and_only_as_they_were_stored(self):
        self.tier.extra = ["--compress", "lz4"]
        k, st, want = self.handed_over()
        # Another compressor, another ratio or none would read the maps
        # wrongly: each map says how it was made.
        for extra in (["--compress", "zstd"], ["--compress", "lz4", "--ratio", "3"], []):
            self.tier.extra = extra
            self.refused(k, None, "chunk 0's page map is not of its size, or was stored "
                         "with other VRAM_SWAP_COMPRESS or VRAM_SWAP_RATIO settings")
        self.tier.extra = ["--compress", "lz4"]
        self.spawn(k.start())
        now = self.tier.wait_serving(other_than=st["pid"])
        self.check(want)
        # The blocks in use were counted again from the maps.
        stored = read_status(self.tier.status)
        self.assertGreater(int(stored["compr_bytes"]), 0)
        self.assertLess(int(stored["used_bytes"]),
                        (int(stored["stored_pages"]) - int(stored["same_pages"])) * 4096 // 2,
                        stored)
        self.assertEqual(int(now["export_bytes"]), 2 * SIZE)

    def test_wrong_size_memory_is_refused(self):
        k, _, want = self.handed_over()
        fds = dict(k.fds, **{"chunk.1": k.memfd(CHUNK // 2)})
        self.refused(k, fds, "chunk 1's memory cannot be used")
        # What was handed over is untouched: the right descriptors still serve.
        self.spawn(k.start())
        self.tier.wait_serving()
        self.check(want)

    def test_missing_zero_page_map_is_refused(self):
        k, _, _ = self.handed_over()
        fds = {n: fd for n, fd in k.fds.items() if n != "map.3"}
        self.refused(k, fds, "chunk 3's memory or page map was not handed over")

    def test_record_of_another_format_is_refused(self):
        k, _, _ = self.handed_over()
        m = mmap.mmap(k.fds["tier"], 4096)
        m[8:12] = (99).to_bytes(4, "little")
        self.refused(k, None, "the record is of another format")
        m[8:12] = (1).to_bytes(4, "little")

    def test_damaged_record_is_refused(self):
        k, _, _ = self.handed_over()
        size = os.fstat(k.fds["tier"]).st_size
        m = mmap.mmap(k.fds["tier"], size)
        table = (size - 144) // 2
        for t in (0, 1):
            m[144 + t * table + 8 + 16] ^= 0x5a   # a chunk's GPU, in both copies
        self.refused(k, None, "the record's checksum is wrong")

    @unittest.skipUnless(BACKEND == "cuda", "the host backend has no GPU")
    def test_pages_of_a_gpu_that_is_not_there_are_refused(self):
        # Restarted where the record's GPU is gone (another card in its slot):
        # nothing is served, and the GPU that holds the pages still can.
        k, _, want = self.handed_over()
        self.refused(k, None, "the GPU GPU-f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfe00 holding "
                     "chunk 0 is not among this daemon's", env={"FAKECUDA_UUID_BASE": "0xe0"})
        self.spawn(k.start())
        self.tier.wait_serving()
        self.check(want)

    def test_two_daemons_racing_for_the_same_pages(self):
        k, _, want = self.handed_over()
        a, b = self.spawn(k.start()), self.spawn(k.start())
        st = self.tier.wait_serving()
        loser = b if st["pid"] == str(a.pid) else a
        self.assertEqual(loser.wait(timeout=20), 4, self.tier.logtext())
        self.assertRegex(self.tier.logtext(), r"another vram-swapd \(pid \d+\) (is serving|took)")
        self.check(want)

    def test_descriptors_without_a_record_are_let_go(self):
        k, _, _ = self.handed_over()
        fds = {n: fd for n, fd in k.fds.items() if n != "tier"}
        p = self.spawn(k.start(fds))
        st = self.tier.wait_serving()
        self.assertIn("dropping 'chunk.0', handed over without the tier's record",
                      self.tier.logtext())
        # A new tier: every page reads as zero.
        self.assertEqual(self.tier.read(0, CHUNK - 4096, 4096), bytes(4096))
        self.assertEqual(st["crash_safe"], "yes")
        p.kill()


class Status(Base):
    def test_without_a_keeper_status_says_why(self):
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "FDSTORE")}
        with open(self.tier.log, "w") as log:
            self.spawn(subprocess.Popen(self.tier.args(), stdout=log, stderr=subprocess.STDOUT,
                                        env=env))
        st = self.tier.wait_serving()
        self.assertEqual(st["crash_safe"], "no")
        self.assertIn("nothing keeps the pages while no daemon runs" if DURABLE else
                      "GPU 0 cannot export its memory as a file descriptor",
                      st["crash_safe_why"])

    def test_without_a_keeper_no_handover(self):
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "FDSTORE")}
        with open(self.tier.log, "w") as log:
            p = self.spawn(subprocess.Popen(self.tier.args(), stdout=log,
                                            stderr=subprocess.STDOUT, env=env))
        st = self.tier.wait_serving()
        r = subprocess.run([DAEMON, "--socket", self.tier.sock, "--ctl", "handover"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "vram-swapd: the pages cannot outlive this daemon (%s): "
                         "it is replaced only by vram-swap-teardown and vram-swap-setup\n"
                         % st["crash_safe_why"])
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "the daemon must keep serving")

    @unittest.skipIf(DURABLE, "the GPU can export its memory")
    def test_not_crash_safe_and_never_started_again_empty(self):
        with open(self.tier.log, "w") as log:
            holder = self.spawn(subprocess.Popen([HOLDER, "--"] + self.tier.args(), stdout=log,
                                                 stderr=subprocess.STDOUT))
        st = self.tier.wait_serving()
        self.assertEqual(st["crash_safe"], "no")
        self.assertIn("GPU 0 cannot export its memory", st["crash_safe_why"])
        self.assertIn("swapped pages die with this process", self.tier.logtext())
        os.kill(int(st["pid"]), signal.SIGKILL)
        self.assertEqual(holder.wait(timeout=20), 1)
        self.assertIn("it had handed over no pages (not crash-safe", self.tier.logtext())


if __name__ == "__main__":
    unittest.main()

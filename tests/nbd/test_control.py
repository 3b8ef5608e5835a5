# SPDX-License-Identifier: GPL-2.0-or-later
"""The control socket's edges (host backend): numbers read exactly, silent
connections that hold nobody up, `add` within the cap and never while
draining, and `vram-swapd --ctl`'s exit status and message when the daemon
turns it away or hangs up.
Run: /usr/bin/python3 -m unittest -v tests/nbd/test_control.py"""
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
from daemon import DAEMON, Daemon  # noqa: E402

MiB = 1 << 20
# Generous: an answer comes at once; the fault these catch made clients
# wait 2 s for every silent connection ahead of them.
ANSWER_S = 5


def ctl(sock, cmd, timeout=30):
    return subprocess.run([DAEMON, "--socket", sock, "--ctl", cmd],
                          capture_output=True, text=True, timeout=timeout)


def chunk_table(sock):
    out = ctl(sock, "chunks")
    assert out.returncode == 0, out.stderr
    return [line.split()[1] for line in out.stdout.splitlines()]


def silent(path, n):
    """n control connections that never send a byte."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        socks.append(s)
    return socks


class Numbers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(size="256M", args=["--chunk", "64M"])

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_free_takes_exactly_a_chunk_index(self):
        """Numbers that truncate or wrap to an index (2^32 is chunk 0 to a
        32-bit cast), signs, spaces, suffixes, quotes, leading zeros and
        out-of-range values are refused, quoted, and free nothing."""
        before = chunk_table(self.d.sock)
        self.assertEqual(before, ["0", "1", "2", "3"])
        for arg in ["4294967296", "4294967298", "18446744073709551616", "+1", " 1", "1x",
                    "-0", '""', "01", "1 ", "64", "0x1", ""]:
            out = ctl(self.d.sock, "free " + arg)
            self.assertEqual(out.returncode, 1, repr(arg))
            self.assertIn("free: '%s' is not a chunk number (0 to 63)" % arg, out.stderr,
                          repr(arg))
        self.assertEqual(chunk_table(self.d.sock), before)
        out = ctl(self.d.sock, "free")
        self.assertEqual(out.returncode, 1)
        self.assertIn("free takes a chunk number (0 to 63)", out.stderr)

    def test_attach_takes_three_numbers_and_says_what_the_kernel_refused(self):
        """attach CHUNK N CONNS: anything but three numbers in range is
        refused, quoted, and connects nothing (the chunk keeps no client);
        a good request reaches the kernel, whose refusal is passed on (here
        without the nbd module: the missing netlink family)."""
        for arg in ["", "0", "0 1", "0 1 2 3", "0  1 2", "x 1 2", "0 1 0", "0 1 65",
                    "64 1 2", "0 -1 2", "0 01 2", "0 1048577 2"]:
            out = ctl(self.d.sock, ("attach " + arg).rstrip(" ") if arg else "attach")
            self.assertEqual(out.returncode, 1, repr(arg))
            self.assertIn("attach takes a chunk, an nbd device number and a connection "
                          "count", out.stderr, repr(arg))
        out = ctl(self.d.sock, "attach 9 3 2")
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot attach chunk 9 to /dev/nbd3: there is no chunk 9", out.stderr)
        if not os.path.isdir("/sys/module/nbd"):
            out = ctl(self.d.sock, "attach 1 3 2")
            self.assertEqual(out.returncode, 1)
            self.assertIn("cannot attach chunk 1 to /dev/nbd3: the kernel has no nbd netlink "
                          "family (is the nbd module loaded? modprobe nbd)", out.stderr)
        # The connections made for the refused attach were hung up.
        deadline = time.time() + 5
        while time.time() < deadline and self.d.status_dict().get("clients") != "0":
            time.sleep(0.1)
        self.assertEqual(self.d.status_dict().get("clients"), "0")

    def test_every_numeric_argument_is_read_the_same_way(self):
        for cmd, want in [("add +0", "add: '+0' is not a GPU number"),
                          ("add 4294967296", "add: '4294967296' is not a GPU number"),
                          ("add 00", "add: '00' is not a GPU number"),
                          ("add 1", "no GPU 1 here (the daemon serves 1"),
                          ("wait 1x", "wait takes a generation as `target` prints it, "
                                      "not '1x'"),
                          ("wait -1", "not '-1'"),
                          ("wait 18446744073709551616", "not '18446744073709551616'"),
                          ("wait", "not ''"),
                          ("target 1", "target takes no argument, not '1'"),
                          ("chunks  ", "chunks takes no argument, not ' '"),
                          ("cap +1G", "invalid size '+1G'"),
                          ("cap  1G", "invalid size ' 1G'")]:
            out = ctl(self.d.sock, cmd)
            self.assertEqual(out.returncode, 1, cmd)
            self.assertIn(want, out.stderr, cmd)
        self.assertEqual(chunk_table(self.d.sock), ["0", "1", "2", "3"])

    def test_a_command_that_cannot_be_sent(self):
        out = ctl(self.d.sock, "free " + "1" * 300)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--ctl takes one command line of at most 254 bytes", out.stderr)
        out = ctl(self.d.sock, "chunks\nfree 1")
        self.assertEqual(out.returncode, 2)
        self.assertEqual(chunk_table(self.d.sock), ["0", "1", "2", "3"])


class Connections(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(size="256M", args=["--chunk", "64M"])
        self.path = self.d.sock + ".ctl"

    def tearDown(self):
        self.d.stop()

    def timed(self, cmd):
        t = time.monotonic()
        out = ctl(self.d.sock, cmd)
        return out, time.monotonic() - t

    def test_silent_connections_hold_nobody_up(self):
        """Ten connections that say nothing: a command is answered at once
        (each used to hold the socket for its 2 s limit)."""
        socks = silent(self.path, 10)
        try:
            time.sleep(0.2)
            out, took = self.timed("chunks")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(len(out.stdout.splitlines()), 4)
            self.assertLess(took, ANSWER_S)
        finally:
            for s in socks:
                s.close()

    def test_more_silent_connections_than_the_table(self):
        """Forty silent connections, more than the daemon keeps (32): the
        oldest silent one gives way, and commands are still answered."""
        socks = silent(self.path, 40)
        try:
            for _ in range(3):
                out, took = self.timed("target")
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertLess(took, ANSWER_S)
        finally:
            for s in socks:
                s.close()

    def test_long_poll_answers_while_others_are_silent(self):
        gen = ctl(self.d.sock, "target").stdout.split()[1]
        w = subprocess.Popen([DAEMON, "--socket", self.d.sock, "--ctl", "wait " + gen],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        socks = silent(self.path, 10)
        try:
            with self.assertRaises(subprocess.TimeoutExpired):
                w.wait(1)
            out, took = self.timed("cap 128M")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertLess(took, ANSWER_S)
            o, e = w.communicate(timeout=ANSWER_S)
            self.assertEqual(w.returncode, 0, e)
            self.assertIn("total 2 ", o)
        finally:
            w.kill()
            w.wait()
            for s in socks:
                s.close()

    def test_watchers_are_bounded(self):
        gen = ctl(self.d.sock, "target").stdout.split()[1]
        ws = [subprocess.Popen([DAEMON, "--socket", self.d.sock, "--ctl", "wait " + gen],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(16)]
        try:
            time.sleep(1.5)
            self.assertTrue(all(w.poll() is None for w in ws))
            out = ctl(self.d.sock, "wait " + gen)
            self.assertEqual(out.returncode, 1)
            self.assertIn("too many watchers (16)", out.stderr)
            self.assertEqual(ctl(self.d.sock, "cap 64M").returncode, 0)
            for w in ws:
                w.communicate(timeout=10)
                self.assertEqual(w.returncode, 0)
        finally:
            for w in ws:
                w.kill()
                w.wait()


class Add(unittest.TestCase):
    def test_add_stays_within_the_cap(self):
        """A 256M cap with four 64M chunks held: add is refused until the cap
        is raised, then allowed once, then refused again."""
        d = Daemon(size="256M", args=["--chunk", "64M"])
        try:
            for _ in range(3):
                out = ctl(d.sock, "add")
                self.assertEqual(out.returncode, 1)
                self.assertIn("the cap is 256 MiB and the tier holds 256 MiB in 4 chunk(s)",
                              out.stderr)
            self.assertEqual(chunk_table(d.sock), ["0", "1", "2", "3"])
            self.assertEqual(ctl(d.sock, "cap 320M").returncode, 0)
            out = ctl(d.sock, "add 0")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertRegex(out.stdout, r"^chunk 4 gpu 0 size %d" % (64 * MiB))
            out = ctl(d.sock, "add")
            self.assertEqual(out.returncode, 1)
            self.assertIn("the cap is 320 MiB", out.stderr)
            self.assertEqual(chunk_table(d.sock), ["0", "1", "2", "3", "4"])
            self.assertEqual(ctl(d.sock, "cap 0").returncode, 0)
            self.assertEqual(ctl(d.sock, "add").returncode, 1)
            self.assertEqual(len(chunk_table(d.sock)), 5)
        finally:
            d.stop()

    def test_add_refused_while_draining(self):
        """After SIGTERM with a client attached the daemon only drains: add
        is refused (even with room under the cap), free still works."""
        d = Daemon(size="256M", args=["--chunk", "64M"])
        try:
            h = nbd.NBD()
            h.set_export_name("vram-swap.0")
            h.connect_unix(d.sock)
            self.assertEqual(ctl(d.sock, "free 3").returncode, 0)
            d.proc.send_signal(signal.SIGTERM)
            d.wait_log("draining, 1 client(s) attached")
            out = ctl(d.sock, "add")
            self.assertEqual(out.returncode, 1)
            self.assertIn("the daemon is stopping", out.stderr)
            self.assertEqual(chunk_table(d.sock), ["0", "1", "2"])
            self.assertEqual(ctl(d.sock, "free 2").returncode, 0)
            self.assertEqual(chunk_table(d.sock), ["0", "1"])
            h.shutdown()
            self.assertEqual(d.proc.wait(10), 0)
        finally:
            d.stop()


class Client(unittest.TestCase):
    def test_refused_peer_exits_1_saying_why(self):
        """A user the daemon does not serve is told so: exit 1 and the
        reason, every time (it used to die of SIGPIPE, or say nothing)."""
        d = Daemon(size="8M")
        try:
            os.chmod(d.dir, 0o711)
            os.chmod(d.sock + ".ctl", 0o666)
            for _ in range(10):
                out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                      "--clear-groups", DAEMON, "--socket", d.sock,
                                      "--ctl", "chunks"],
                                     capture_output=True, text=True, timeout=20)
                self.assertEqual(out.returncode, 1, out.stderr)
                self.assertIn("vram-swapd: only root and the daemon's own user may use the "
                              "control socket", out.stderr)
                self.assertEqual(out.stdout, "")
        finally:
            d.stop()

    def test_daemon_that_hangs_up_is_no_answer(self):
        """A peer that closes without an answer: exit 3, saying so."""
        with tempfile.TemporaryDirectory() as t:
            path = os.path.join(t, "s.ctl")
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(path)
            srv.listen(4)

            def hang_up():
                for _ in range(2):
                    c, _ = srv.accept()
                    c.close()

            th = threading.Thread(target=hang_up, daemon=True)
            th.start()
            for _ in range(2):
                out = ctl(os.path.join(t, "s.sock"), "chunks")
                self.assertEqual(out.returncode, 3, out.stderr)
                self.assertRegex(out.stderr, r"vram-swapd: the daemon (gave no answer|closed "
                                 r"the control connection before answering) to 'chunks'|"
                                 r"before answering 'chunks'")
            th.join(5)
            srv.close()


if __name__ == "__main__":
    unittest.main()

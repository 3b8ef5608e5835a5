# SPDX-License-Identifier: GPL-2.0-or-later
"""The swap tier in chunks (host backend): one export per chunk, the
control socket (list, add, free, cap), free refused while a client is
attached, other chunks serving while one is added or freed, and the
control socket's access rules."""
import time
import os
import stat
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbd  # noqa: E402
from daemon import DAEMON, Daemon  # noqa: E402

MiB = 1 << 20


def ctl(d, cmd):
    return subprocess.run([DAEMON, "--socket", d.sock, "--ctl", cmd],
                          capture_output=True, text=True, timeout=30)


def chunks(d):
    out = ctl(d, "chunks")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    return {int(r[1]): dict(zip(r[2::2], r[3::2])) for r in rows}


def connect(d, name):
    h = nbd.NBD()
    h.set_export_name(name)
    h.connect_unix(d.sock)
    return h


class Chunks(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(size="256M", args=["--chunk", "64M"])

    def tearDown(self):
        self.d.stop()

    def test_four_exports_each_its_own_memory(self):
        h = nbd.NBD()
        h.set_opt_mode(True)
        h.connect_unix(self.d.sock)
        names = []
        h.opt_list(lambda name, desc: names.append(name))
        h.opt_abort()
        self.assertEqual(names, ["vram-swap.%d" % i for i in range(4)])
        hs = [connect(self.d, n) for n in names]
        # Pages that are not one word repeated, so that they are in memory.
        def data(i):
            return (bytes([i + 1]) * 4095 + b"\0") * 2
        for i, h in enumerate(hs):
            self.assertEqual(h.get_size(), 64 * MiB)
            h.pwrite(data(i), 4096)
        for i, h in enumerate(hs):
            self.assertEqual(h.pread(8192, 4096), data(i))
        # The bare name reaches the first chunk.
        self.assertEqual(connect(self.d, "vram-swap").pread(4096, 4096), data(0)[:4096])
        # The status file is rewritten about once a second. Size, bytes in
        # memory, pages stored, same-filled, clients.
        want = [str(64 * MiB), "8192", "2", "0", "1"]
        for _ in range(50):
            st = self.d.status_dict()
            if st.get("chunk.2", "").split()[1:6] == want:
                break
            time.sleep(0.1)
        self.assertEqual(st["chunks"], "4")
        self.assertEqual(st["size_bytes"], str(256 * MiB))
        self.assertEqual(st["chunk.2"].split()[1:6], want)

    def test_free_refused_while_attached_then_done(self):
        h = connect(self.d, "vram-swap.1")
        out = ctl(self.d, "free 1")
        self.assertEqual(out.returncode, 1)
        self.assertIn("chunk 1 has 1 client(s) attached", out.stderr)
        self.assertIn(1, chunks(self.d))
        h.shutdown()
        del h
        for _ in range(100):
            out = ctl(self.d, "free 1")
            if out.returncode == 0:
                break
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(1, chunks(self.d))
        with self.assertRaises(nbd.Error):
            connect(self.d, "vram-swap.1")
        self.assertEqual(ctl(self.d, "free 1").returncode, 1)

    def test_add_and_free_while_others_serve(self):
        h = connect(self.d, "vram-swap.0")
        data = os.urandom(1 * MiB)
        h.pwrite(data, 0)
        errors, stop = [], threading.Event()

        def load():
            while not stop.is_set():
                try:
                    if h.pread(len(data), 0) != data:
                        errors.append("mismatch")
                except nbd.Error as e:
                    errors.append(str(e))

        t = threading.Thread(target=load)
        t.start()
        try:
            # Room for a fifth chunk: add stays within the cap.
            self.assertEqual(ctl(self.d, "cap 320M").returncode, 0)
            for _ in range(3):
                out = ctl(self.d, "add")
                self.assertEqual(out.returncode, 0, out.stderr)
                idx = int(out.stdout.split()[1])
                self.assertEqual(ctl(self.d, "free %d" % idx).returncode, 0)
            out = ctl(self.d, "add")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertRegex(out.stdout, r"^chunk 4 gpu 0 size %d name vram-swap.4" % (64 * MiB))
        finally:
            stop.set()
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(connect(self.d, "vram-swap.4").get_size(), 64 * MiB)

    def test_cap_and_target(self):
        out = ctl(self.d, "cap 128M")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"cap %d chunk %d total 2 " % (128 * MiB, 64 * MiB))
        out = ctl(self.d, "cap 1M")
        self.assertEqual(out.returncode, 1)
        self.assertIn("less than one chunk (64 MiB)", out.stderr)
        self.assertEqual(ctl(self.d, "cap 0").returncode, 0)
        self.assertIn("total 0 ", ctl(self.d, "target").stdout)
        self.assertIn("total 4 ", ctl(self.d, "cap max").stdout)

    def test_wait_returns_when_the_target_changes(self):
        gen = ctl(self.d, "target").stdout.split()[1]
        p = subprocess.Popen([DAEMON, "--socket", self.d.sock, "--ctl", "wait " + gen],
                             stdout=subprocess.PIPE, text=True)
        with self.assertRaises(subprocess.TimeoutExpired):
            p.wait(1.5)
        ctl(self.d, "cap 64M")
        out, _ = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("total 1 ", out)

    def test_bad_commands(self):
        for cmd, why in [("bogus", "unknown command 'bogus'"), ("free x", "chunk number"),
                         ("free 40", "no chunk 40"), ("add 3", "no GPU 3 here"),
                         ("cap 8GB", "invalid size '8GB'")]:
            out = ctl(self.d, cmd)
            self.assertEqual(out.returncode, 1, cmd)
            self.assertIn(why, out.stderr, cmd)


class ControlSocket(unittest.TestCase):
    def test_mode_and_peer_credentials(self):
        d = Daemon(size="8M")
        try:
            path = d.sock + ".ctl"
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            os.chmod(d.dir, 0o711)
            os.chmod(path, 0o666)
            out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  DAEMON, "--socket", d.sock, "--ctl", "chunks"],
                                 capture_output=True, text=True, timeout=20)
            self.assertNotEqual(out.returncode, 0)
            self.assertNotIn("chunk 0", out.stdout)
            d.wait_log("refused a control client with uid 65534")
        finally:
            d.stop()
        self.assertFalse(os.path.exists(d.sock + ".ctl"))

    def test_no_daemon(self):
        out = subprocess.run([DAEMON, "--socket", "/nonexistent/s", "--ctl", "chunks"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 3)
        self.assertIn("cannot reach the daemon's control socket /nonexistent/s.ctl", out.stderr)


if __name__ == "__main__":
    unittest.main()
